"""The SQLite store's story tables: the persistence behind `retrieval.stories`.

`Store` inherits these methods (part of `storage.ArticleStore`); they live apart so that
`store.py` is about articles, sentences and tags. They read the article rows through the
store's per-thread connection (`_db`) and write in its transactions (`_connections`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .sqlite import ThreadConnections
from .storage import StoryRow

# When an article happened, for stories: its publication date, else (undated: `dated`
# is '') when it was ingested, as digests count it.
_STORY_DATE = "CASE WHEN a.dated = '' THEN a.added ELSE a.dated END"


class SQLiteStoryTables:
    """Stories and the article→story map in the store's SQLite file."""

    # Provided by Store: its transactions and this thread's connection.
    _connections: ThreadConnections
    _db: sqlite3.Connection

    def unassigned_articles(self, limit: int) -> list[tuple[int, str]]:
        return self._db.execute(
            f"SELECT a.id, {_STORY_DATE} FROM articles a LEFT JOIN article_stories s"
            " ON s.article_id = a.id WHERE s.article_id IS NULL ORDER BY 2, a.id LIMIT ?",
            (limit,),
        ).fetchall()

    def stories_between(self, start: str, end: str) -> list[StoryRow]:
        rows = self._db.execute(
            "SELECT id, first_dated, last_dated, size, centroid, terms FROM stories"
            " WHERE last_dated >= ? AND first_dated <= ?",
            (start, end),
        ).fetchall()
        return [StoryRow(*r) for r in rows]

    def save_stories(self, stories: Sequence[tuple[StoryRow, Sequence[int]]]) -> None:
        with self._connections.transaction() as db:
            for row, members in stories:
                values = (row.first_dated, row.last_dated, row.size, row.centroid, row.terms)
                if row.id is None:
                    sid = db.execute(
                        "INSERT INTO stories (first_dated, last_dated, size, centroid, terms)"
                        " VALUES (?,?,?,?,?)",
                        values,
                    ).lastrowid
                else:
                    sid = row.id
                    db.execute(
                        "UPDATE stories SET first_dated=?, last_dated=?, size=?, centroid=?,"
                        " terms=? WHERE id=?",
                        (*values, sid),
                    )
                db.executemany(
                    "INSERT OR REPLACE INTO article_stories VALUES (?,?)",
                    [(int(a), sid) for a in members],
                )

    def story_of(self, article_ids: Sequence[int]) -> dict[int, int]:
        keys = [int(a) for a in article_ids]
        out: dict[int, int] = {}
        for start in range(0, len(keys), 30000):  # SQLite's bound-parameter limit
            part = keys[start : start + 30000]
            marks = ",".join("?" * len(part))
            out.update(
                self._db.execute(
                    "SELECT article_id, story_id FROM article_stories"
                    f" WHERE article_id IN ({marks})",
                    part,
                ).fetchall()
            )
        return out

    def story_articles(self, story_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        keys = [int(s) for s in story_ids]
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        out: dict[int, list[tuple[int, str]]] = {}
        for sid, aid, dated in self._db.execute(
            f"SELECT s.story_id, a.id, {_STORY_DATE} FROM article_stories s JOIN articles a"
            f" ON a.id = s.article_id WHERE s.story_id IN ({marks}) ORDER BY 3, a.id",
            keys,
        ):
            out.setdefault(sid, []).append((aid, dated))
        return out
