"""SQLite store: the source of truth for articles, their sentences and vectors, and tags.

`Store` implements `storage.ArticleStore` on one SQLite file. Sentence vectors are
kept here as float32 blobs so the FAISS index can always be rebuilt without the model.
Lexical search uses SQLite's FTS5 (BM25, see `lexical`), whose rows commit in the same
transaction as the articles, so it can never drift. Every ingest batch is one
transaction: a crash loses at most that batch. Filters become SQL in `filters`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .dates import isoformat
from .errors import StoreError
from .filters import Filters, FilterSQL
from .lexical import BM25Search
from .schema import SCHEMA, SCHEMA_VERSION, migrate
from .sqlite import ThreadConnections
from .storage import (
    ARTICLE_COLUMNS,
    Article,
    PreparedArticle,
    Selection,
    SentenceRows,
    TaggingRow,
    article_from_row,
    match_verdict,
)
from .story_tables import SQLiteStoryTables

ADMITTED_KEPT = 32  # filters whose admitted ids are kept (see Store.admitted)


class Store(SQLiteStoryTables):
    """Articles, sentences with vectors, and tags in SQLite; see `storage.ArticleStore`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self.lexical = BM25Search(self._connections.get)
        self._admitted: dict[tuple[Filters, int], tuple[tuple[int, int], np.ndarray]] = {}
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{path} was written by another briefbot version ({version})")
            if version != SCHEMA_VERSION:
                self._db.executescript(SCHEMA)
                migrate(self._connections)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None

    @property
    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()
        self._admitted = {}

    # --- metadata -------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- writing --------------------------------------------------------------------------
    def is_duplicate(self, article: PreparedArticle) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM articles WHERE content_key=? OR url=? OR ext_key=? LIMIT 1",
            (article.content_key, article.url, article.ext_key),
        ).fetchone()
        return row is not None

    def match(self, article: PreparedArticle) -> tuple[str, int] | None:
        """Which stored article this one duplicates or updates (`storage.match_verdict`)."""
        db = self._db
        row = db.execute(
            "SELECT id FROM articles WHERE content_key=? LIMIT 1", (article.content_key,)
        ).fetchone()
        if row:
            return match_verdict(row[0], ())
        same_place = db.execute(
            "SELECT id FROM articles WHERE url=? UNION SELECT id FROM articles WHERE ext_key=?"
            " UNION SELECT id FROM articles WHERE location=?",
            (article.url, article.ext_key, article.file_key),
        )
        return match_verdict(None, (r[0] for r in same_place))

    def add_batch(
        self, articles: Sequence[PreparedArticle], vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Insert articles, their sentences with vectors, tags and FTS rows in one transaction.

        `vectors` holds one row per sentence, in article then sentence order. An article
        with `replaces` rewrites that row in place: same id and first-ingested time, its
        old sentences and full-text row deleted first.
        Returns the new sentence ids (the FAISS ids) and each one's article id, in that order.
        """
        now = datetime.now(UTC).isoformat()
        sentence_ids: list[int] = []
        owners: list[int] = []
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        row = 0
        with self._connections.transaction() as db:
            next_article = _next_id(db, "articles")
            next_sentence = _next_id(db, "sentences")
            for art in articles:
                if art.replaces is None:
                    aid, next_article = next_article, next_article + 1
                else:
                    aid = art.replaces
                    _keep_high_marks(db)  # its old sentence ids go: never hand them out again
                self._write_article(db, art, now, aid)
                db.execute(
                    "INSERT INTO articles_fts(rowid, title, lead, body) VALUES (?,?,?,?)",
                    (aid, "" if art.title_derived else art.title, art.lead, art.body),
                )
                for sent in art.sentences:
                    sid, next_sentence = next_sentence, next_sentence + 1
                    db.execute(
                        "INSERT INTO sentences (id, article_id, position, start, end, text, vector)"
                        " VALUES (?,?,?,?,?,?,?)",
                        (
                            sid,
                            aid,
                            sent.position,
                            sent.start,
                            sent.end,
                            sent.text,
                            vecs[row].tobytes(),
                        ),
                    )
                    sentence_ids.append(sid)
                    owners.append(aid)
                    row += 1
                self.write_tags(aid, art.countries, art.topics)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_ingest', ?)", (now,))
        replaced = [art.replaces for art in articles if art.replaces is not None]
        if replaced:  # same ids, new text: the in-memory postings read them again
            self.lexical.refresh(replaced)
        return np.asarray(sentence_ids, dtype=np.int64), np.asarray(owners, dtype=np.int64)

    def _write_article(
        self, db: sqlite3.Connection, art: PreparedArticle, now: str, aid: int
    ) -> None:
        """The article's row: inserted as `aid`, or (with `replaces`, which is `aid`)
        rewritten in place with its old sentences and full-text row deleted."""
        published = isoformat(art.published)
        fields = (
            art.ext_key,
            art.external_id,
            art.url,
            art.content_key,
            art.title,
            int(art.title_derived),
            art.body,
            art.source,
            art.origin,
            art.dateline,
            published,
            published or "",
            art.date_source if published else None,
            art.location,
        )
        names = (
            "ext_key, external_id, url, content_key, title, title_derived, body, source, origin,"
            " dateline, published, dated, date_source, location"
        )
        if art.replaces is None:
            db.execute(
                f"INSERT INTO articles (id, {names}, added) VALUES ({','.join('?' * 16)})",
                (aid, *fields, now),
            )
            return
        db.execute("DELETE FROM sentences WHERE article_id=?", (aid,))
        db.execute("DELETE FROM articles_fts WHERE rowid=?", (aid,))
        assignments = ", ".join(f"{name.strip()}=?" for name in names.split(","))
        db.execute(f"UPDATE articles SET {assignments}, updated=? WHERE id=?", (*fields, now, aid))

    def sentence_ids(self, article_ids: Sequence[int]) -> np.ndarray:
        keys = [int(a) for a in article_ids]
        if not keys:
            return np.zeros(0, np.int64)
        marks = ",".join("?" * len(keys))
        return self._column(f"SELECT id FROM sentences WHERE article_id IN ({marks})", keys)

    def remove_articles(self, article_ids: Sequence[int]) -> np.ndarray:
        """Delete articles; sentences and tags go with them (ON DELETE CASCADE), the
        full-text rows explicitly (FTS5 has no foreign keys). One transaction."""
        keys = [int(a) for a in article_ids]
        removed = self.sentence_ids(keys)
        try:
            with self._connections.transaction() as db:
                _keep_high_marks(db)
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"DELETE FROM articles_fts WHERE rowid IN ({marks})", chunk)
                    db.execute(f"DELETE FROM articles WHERE id IN ({marks})", chunk)
        except sqlite3.Error as exc:  # a read-only disk, a locked store: nothing was removed
            raise StoreError(f"cannot remove from the store at {self.path}: {exc}") from None
        self.lexical.refresh(keys)
        return removed

    def select_ids(self, selection: Selection) -> list[int]:
        """`path` is a URL (the article's link, or the feed or page it was read from), an
        absolute file path (its articles, `#n` records included) or a folder (everything
        read from under it); articles stored before locations were recorded match by the
        origin they were shown as."""
        clauses: list[str] = []
        args: list[object] = []
        if selection.ids:
            clauses.append(f"id IN ({','.join('?' * len(selection.ids))})")
            args.extend(int(i) for i in selection.ids)
        if selection.source:
            clauses.append("source = ? COLLATE NOCASE")
            args.append(selection.source)
        if selection.path:
            p = selection.path
            clauses.append(
                "(url = ? OR location = ? OR origin = ? OR substr(location, 1, ?) IN (?, ?)"
                " OR substr(origin, 1, ?) = ?)"
            )
            args += [p, p, p, len(p) + 1, p + "#", p + "/", len(p) + 1, p + "#"]
        if selection.before:
            clauses.append("published IS NOT NULL AND published < ?")
            args.append(isoformat(selection.before))
        where = " AND ".join(clauses) or "1"
        sql = f"SELECT id FROM articles WHERE {where} ORDER BY id"  # the interface: id order
        return [r[0] for r in self._db.execute(sql, args)]

    def write_tags(self, aid: int, countries: Iterable[str], topics: dict[str, float]) -> None:
        """Replace an article's tags (call inside a transaction for many articles)."""
        self._db.execute("DELETE FROM article_countries WHERE article_id=?", (aid,))
        self._db.execute("DELETE FROM article_topics WHERE article_id=?", (aid,))
        self._db.executemany(
            "INSERT OR IGNORE INTO article_countries VALUES (?,?,?)",
            [(aid, code, rank) for rank, code in enumerate(countries)],
        )
        self._db.executemany(
            "INSERT INTO article_topics VALUES (?,?,?)",
            [(aid, topic, score) for topic, score in topics.items()],
        )

    # --- reading --------------------------------------------------------------------------
    def count_articles(self) -> int:
        return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def vector_summary(self) -> tuple[int, int]:
        """(count, sum of ids) of stored sentence vectors, to check the index against."""
        count, total = self._db.execute(
            "SELECT count(*), coalesce(sum(id), 0) FROM sentences"
        ).fetchone()
        return int(count), int(total)

    def iter_vectors(
        self, after_id: int = 0, chunk: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(ids, article ids, vectors) in id order, in chunks, for rebuilding the index."""
        last = after_id
        while True:
            rows = self._db.execute(
                "SELECT id, article_id, vector FROM sentences WHERE id>? ORDER BY id LIMIT ?",
                (last, chunk),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            owners = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
            yield ids, owners, vecs.reshape(len(rows), -1)
            last = int(ids[-1])

    def sentence_vectors(
        self, article_ids: Sequence[int], texts: bool = True, through: int | None = None
    ) -> SentenceRows:
        """(article ids, positions, vectors, texts) of every sentence of these articles."""
        keys = [int(a) for a in article_ids]
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
        marks = ",".join("?" * len(keys))
        upto = "" if through is None else f" AND position <= {int(through)}"
        rows = self._db.execute(
            f"SELECT article_id, position, vector{', text' if texts else ''} FROM sentences"
            f" WHERE article_id IN ({marks}){upto} ORDER BY article_id, position",
            keys,
        ).fetchall()
        owners = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        positions = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
        return (
            owners,
            positions,
            vectors.reshape(len(rows), -1),
            [r[3] for r in rows] if texts else [],
        )

    def sentence_texts(self, article_ids: Sequence[int]) -> list[tuple[int, int, str]]:
        keys = [int(a) for a in article_ids]
        if not keys:
            return []
        return self._db.execute(
            "SELECT article_id, position, text FROM sentences"
            f" WHERE article_id IN ({','.join('?' * len(keys))}) ORDER BY article_id, position",
            keys,
        ).fetchall()

    def iter_for_tagging(self, chunk: int = 500) -> Iterator[list[TaggingRow]]:
        """(id, title, body, dateline, title_derived, sentence vectors) of every article."""
        last = 0
        while True:
            rows = self._db.execute(
                "SELECT id, title, body, dateline, title_derived FROM articles WHERE id>?"
                " ORDER BY id LIMIT ?",
                (last, chunk),
            ).fetchall()
            if not rows:
                return
            owners, _, vectors, _ = self.sentence_vectors([r[0] for r in rows])
            out = []
            for aid, title, body, dateline, derived in rows:
                out.append((aid, title, body, dateline, bool(derived), vectors[owners == aid]))
            yield out
            last = rows[-1][0]

    def replace_tags(self, tags: list[tuple[int, list[str], dict[str, float]]]) -> None:
        """Rewrite the tags of many articles in one transaction."""
        with self._connections.transaction():
            for aid, countries, topics in tags:
                self.write_tags(aid, countries, topics)

    def topic_counts(self) -> list[tuple[str, int]]:
        return self._db.execute(
            "SELECT topic, count(*) FROM article_topics GROUP BY topic ORDER BY 2 DESC"
        ).fetchall()

    def articles(self, ids: Sequence[int]) -> dict[int, Article]:
        if len(ids) == 0:
            return {}
        keys = [int(i) for i in ids]
        marks = ",".join("?" * len(keys))
        countries = self._tags("article_countries", "code", "rank", keys)
        topics = self._tags("article_topics", "topic", "score DESC", keys)
        out = {}
        for row in self._db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", keys
        ):
            out[row[0]] = article_from_row(row, countries.get(row[0], []), topics.get(row[0], []))
        return out

    def _tags(self, table: str, column: str, order: str, ids: list[int]) -> dict[int, list[str]]:
        marks = ",".join("?" * len(ids))
        out: dict[int, list[str]] = {}
        for aid, value in self._db.execute(
            f"SELECT article_id, {column} FROM {table} WHERE article_id IN ({marks})"
            f" ORDER BY article_id, {order}",
            ids,
        ):
            out.setdefault(aid, []).append(value)
        return out

    def article_ids(
        self, filters: Filters, newest_first: bool = True, limit: int | None = None
    ) -> list[int]:
        where, args = FilterSQL.of(filters).on_articles()
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT id FROM articles{where} ORDER BY dated {order}, id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [r[0] for r in self._db.execute(sql, args)]

    def admitted(self, filters: Filters) -> np.ndarray:
        """Sorted ids of the articles `filters` admits (the index makes them a FAISS selector).

        One covering-index query per condition, intersected in numpy: a single query
        driven from the articles table reads every admitted row's page, several times
        slower when a filter admits much of a large corpus. An ask needs the set twice
        (FAISS and BM25) and a bot's questions repeat their filters, so the last sets are
        kept (read-only), per thread's connection, until anything is committed to the
        store: by another connection (SQLite's data_version) or by this one (its
        total_changes).
        """
        db = self._db
        key, version = (
            (filters, id(db)),
            (db.execute("PRAGMA data_version").fetchone()[0], db.total_changes),
        )
        kept = self._admitted.get(key)
        if kept is not None and kept[0] == version:
            return kept[1]
        parts = [self._column(sql, args) for sql, args in FilterSQL.of(filters).id_sets()]
        if not parts:
            parts.append(self._column("SELECT id FROM articles", []))
        ids = functools.reduce(np.intersect1d, (np.unique(p) for p in parts))
        if filters.after_id is not None:
            ids = ids[ids > filters.after_id]
        ids.flags.writeable = False
        if len(self._admitted) >= ADMITTED_KEPT:
            self._admitted = {}  # a new dict: asks run on threads
        self._admitted[key] = (version, ids)
        return ids

    def _column(self, sql: str, args: list[object]) -> np.ndarray:
        """The one column `sql` selects, as int64: one string from SQLite, parsed by numpy
        (several times faster than a Python row per id for a filter admitting 60k)."""
        text = self._db.execute(
            f"WITH s(v) AS ({sql}) SELECT group_concat(v) FROM s", args
        ).fetchone()[0]
        return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)

    def lexical_search(
        self, question: str, limit: int, filters: Filters, admitted: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(article id, BM25 score, higher is better) for the question's content words;
        `admitted`: what `admitted(filters)` returned, when the caller has it."""
        ids = (lambda: admitted) if admitted is not None else lambda: self.admitted(filters)
        return self.lexical.search(question, limit, filters, ids)

    def max_article_id(self) -> int:
        return self._db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]

    def date_range(self) -> tuple[str | None, str | None]:
        """(oldest, newest) publication date. Every reply's footer asks, so it must not scan:
        one min() or max() per query lets SQLite answer from the index."""
        first = self._db.execute("SELECT min(published) FROM articles").fetchone()[0]
        last = self._db.execute("SELECT max(published) FROM articles").fetchone()[0]
        return first, last

    def sources(self) -> list[tuple[str, int]]:
        return self._db.execute(
            "SELECT coalesce(source, '(unnamed)'), count(*) FROM articles"
            " GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()

    def country_counts(self) -> list[tuple[str, int]]:
        return self._db.execute(
            "SELECT code, count(*) FROM article_countries GROUP BY code ORDER BY 2 DESC"
        ).fetchall()


# Ids are never reused: SQLite gives a new row the highest id + 1, so deleting the newest
# article would hand its id to the next one (which the digest period `after_id` would
# then miss) and its sentence ids to new vectors (which an index saved before the
# deletion would still match by count and id sum, serving stale vectors). The highest
# ids ever held are kept in meta before anything is deleted, and new rows number on
# from there.
_HIGH_MARK = {"articles": "high_article_id", "sentences": "high_sentence_id"}


def _keep_high_marks(db: sqlite3.Connection) -> None:
    for table, key in _HIGH_MARK.items():
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _next_id(db, table) - 1))


def _next_id(db: sqlite3.Connection, table: str) -> int:
    """The id the next row of `table` gets: past every id it ever held."""
    top = db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
    mark = db.execute("SELECT value FROM meta WHERE key=?", (_HIGH_MARK[table],)).fetchone()
    return max(int(top), int(mark[0]) if mark else 0) + 1
