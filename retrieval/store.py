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
from .sqlite import ThreadConnections
from .storage import Article, PreparedArticle, SentenceRows, TaggingRow

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY,
    ext_key TEXT UNIQUE,
    external_id TEXT,
    url TEXT UNIQUE,
    content_key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    title_derived INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    source TEXT,
    origin TEXT,
    dateline TEXT,
    published TEXT,
    added TEXT NOT NULL,
    -- published, or when we first saw it: what --since windows and newest-first use
    dated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_dated ON articles(dated);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER,
    end INTEGER,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, position);
CREATE TABLE IF NOT EXISTS article_countries (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    rank INTEGER NOT NULL,
    PRIMARY KEY (article_id, code)
);
-- (code, article_id) covers filter look-ups; the older (code) index did not
DROP INDEX IF EXISTS article_countries_code;
CREATE INDEX IF NOT EXISTS article_countries_by_code ON article_countries(code, article_id);
CREATE TABLE IF NOT EXISTS article_topics (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (article_id, topic)
);
DROP INDEX IF EXISTS article_topics_topic;
CREATE INDEX IF NOT EXISTS article_topics_by_topic ON article_topics(topic, article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    title, lead, body, tokenize='porter unicode61'
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class Store:
    """Articles, sentences with vectors, and tags in SQLite; see `storage.ArticleStore`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self.lexical = BM25Search(self._connections.get)
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(f"{path} was written by another briefbot version ({version})")
            self._db.executescript(SCHEMA)
            if version != SCHEMA_VERSION:  # a read-only store is already at this version
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None

    @property
    def _db(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()

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

    def add_batch(
        self, articles: Sequence[PreparedArticle], vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Insert articles, their sentences with vectors, tags and FTS rows in one transaction.

        `vectors` holds one row per sentence, in article then sentence order.
        Returns the new sentence ids (the FAISS ids) and each one's article id, in that order.
        """
        now = datetime.now(UTC).isoformat()
        sentence_ids: list[int] = []
        owners: list[int] = []
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        row = 0
        with self._connections.transaction() as db:
            for art in articles:
                cur = db.execute(
                    "INSERT INTO articles (ext_key, external_id, url, content_key, title,"
                    " title_derived, body, source, origin, dateline, published, added, dated)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
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
                        isoformat(art.published),
                        now,
                        isoformat(art.published) or now,
                    ),
                )
                aid = cur.lastrowid
                db.execute(
                    "INSERT INTO articles_fts(rowid, title, lead, body) VALUES (?,?,?,?)",
                    (aid, "" if art.title_derived else art.title, art.lead, art.body),
                )
                for sent in art.sentences:
                    cur = db.execute(
                        "INSERT INTO sentences (article_id, position, start, end, text, vector)"
                        " VALUES (?,?,?,?,?,?)",
                        (aid, sent.position, sent.start, sent.end, sent.text, vecs[row].tobytes()),
                    )
                    sentence_ids.append(cur.lastrowid)
                    owners.append(aid)
                    row += 1
                self.write_tags(aid, art.countries, art.topics)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_ingest', ?)", (now,))
        return np.asarray(sentence_ids, dtype=np.int64), np.asarray(owners, dtype=np.int64)

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

    def sentence_vectors(self, article_ids: Sequence[int]) -> SentenceRows:
        """(article ids, positions, vectors, texts) of every sentence of these articles."""
        keys = [int(a) for a in article_ids]
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(
            "SELECT article_id, position, vector, text FROM sentences"
            f" WHERE article_id IN ({marks}) ORDER BY article_id, position",
            keys,
        ).fetchall()
        owners = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        positions = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
        return owners, positions, vectors.reshape(len(rows), -1), [r[3] for r in rows]

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
            "SELECT id, title, body, external_id, url, source, published, title_derived"
            f" FROM articles WHERE id IN ({marks})",
            keys,
        ):
            aid = row[0]
            out[aid] = Article(
                id=aid,
                title=row[1],
                body=row[2],
                external_id=row[3],
                url=row[4],
                source=row[5],
                published=row[6],
                countries=countries.get(aid, []),
                topics=topics.get(aid, []),
                title_derived=bool(row[7]),
            )
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
        slower when a filter admits much of a large corpus.
        """
        parts = [self._column(sql, args) for sql, args in FilterSQL.of(filters).id_sets()]
        if not parts:
            parts.append(self._column("SELECT id FROM articles", []))
        ids = functools.reduce(np.intersect1d, (np.unique(p) for p in parts))
        if filters.after_id is not None:
            ids = ids[ids > filters.after_id]
        return ids

    def _column(self, sql: str, args: list[object]) -> np.ndarray:
        rows = self._db.execute(sql, args).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def lexical_search(
        self, question: str, limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        """(article id, BM25 score, higher is better) for the question's content words."""
        return self.lexical.search(question, limit, filters)

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
