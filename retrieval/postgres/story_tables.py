"""The PostgreSQL store's story tables: the persistence behind `retrieval.stories`.

`PgStore` inherits these methods (part of `storage.ArticleStore`), kept apart so that
`store.py` is about articles, sentences and tags; they use the store's `db` connection
and `transaction()`. Story ids come from the `story_ids` sequence, never reused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import psycopg

from ..storage import StoryRow

# When an article happened, for stories: its publication date, else when it was ingested.
_STORY_DATE = "CASE WHEN a.dated = '' THEN a.added ELSE a.dated END"


class PgStoryTables:
    """Stories and the article→story map in the corpus database."""

    # Provided by PgStore: this thread's connection and its write transactions.
    db: psycopg.Connection
    transaction: Callable[..., contextlib.AbstractContextManager]

    def unassigned_articles(self, limit: int) -> list[tuple[int, str]]:
        return [
            tuple(r)
            for r in self.db.execute(
                f"SELECT a.id, {_STORY_DATE} FROM articles a LEFT JOIN article_stories s"
                " ON s.article_id = a.id WHERE s.article_id IS NULL ORDER BY 2, a.id LIMIT %s",
                (limit,),
            )
        ]

    def stories_between(self, start: str, end: str) -> list[StoryRow]:
        rows = self.db.execute(
            "SELECT id, first_dated, last_dated, size, centroid, terms FROM stories"
            " WHERE last_dated >= %s AND first_dated <= %s ORDER BY id",
            (start, end),
        ).fetchall()
        return [StoryRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def save_stories(self, stories: Sequence[tuple[StoryRow, Sequence[int]]]) -> None:
        with self.transaction() as db:
            for row, members in stories:
                values = (row.first_dated, row.last_dated, row.size, row.centroid, row.terms)
                if row.id is None:
                    sid = db.execute(
                        "INSERT INTO stories (id, first_dated, last_dated, size, centroid, terms)"
                        " VALUES (nextval('story_ids'), %s, %s, %s, %s, %s) RETURNING id",
                        values,
                    ).fetchone()[0]
                else:
                    sid = row.id
                    db.execute(
                        "UPDATE stories SET first_dated=%s, last_dated=%s, size=%s, centroid=%s,"
                        " terms=%s WHERE id=%s",
                        (*values, sid),
                    )
                if members:
                    db.execute(
                        "INSERT INTO article_stories SELECT a, %s FROM unnest(%s::bigint[]) a"
                        " ON CONFLICT (article_id) DO UPDATE SET story_id = excluded.story_id",
                        (sid, [int(a) for a in members]),
                    )

    def story_of(self, article_ids: Sequence[int]) -> dict[int, int]:
        keys = [int(a) for a in article_ids]
        if not keys:
            return {}
        rows = self.db.execute(
            "SELECT article_id, story_id FROM article_stories WHERE article_id = ANY(%s)",
            (keys,),
        ).fetchall()
        return {int(a): int(s) for a, s in rows}

    def story_articles(self, story_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        keys = [int(s) for s in story_ids]
        if not keys:
            return {}
        out: dict[int, list[tuple[int, str]]] = {}
        for sid, aid, dated in self.db.execute(
            f"SELECT s.story_id, a.id, {_STORY_DATE} FROM article_stories s JOIN articles a"
            " ON a.id = s.article_id WHERE s.story_id = ANY(%s) ORDER BY 3, a.id",
            (keys,),
        ):
            out.setdefault(sid, []).append((aid, dated))
        return out
