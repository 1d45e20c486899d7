"""SQLite store: the source of truth for articles, their sentences and vectors, and tags.

Sentence vectors are kept here as float32 blobs so the FAISS index can always
be rebuilt without the model. Lexical search uses SQLite's FTS5 (BM25), which
commits in the same transaction as the articles, so it can never drift.
Every ingest batch is one transaction: a crash loses at most that batch.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .dates import isoformat
from .errors import StoreError
from .identity import ext_key
from .sqlite import ThreadConnections

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LEAD_SENTENCES = 2
# BM25 column weights (title, lead, body): measured on Reuters known-item search.
BM25_WEIGHTS = (2.0, 1.0, 1.0)
# In a corpus of COMMON_TERMS_FROM articles or more, a question's words found in more
# than COMMON_TERM_SHARE of them are left out of BM25 (see Store._informative). Below
# that size BM25 is fast anyway (4 ms at 15k articles) and every word is kept.
COMMON_TERM_SHARE = 0.10
COMMON_TERMS_FROM = 25_000
# A word's verdict (common or not) is remembered until the corpus grows by this share.
COMMON_TERMS_STALE = 0.01
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

# FTS5 query syntax is strict; questions become OR-ed plain terms.
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "said",
        "says",
        "say",
        "new",
        "also",
        "mr",
        "mrs",
        "ms",
    ]
)


@dataclass
class SentenceRow:
    position: int
    start: int | None
    end: int | None
    text: str


@dataclass
class PreparedArticle:
    """An article ready to commit: cleaned fields, its embeddable units and their vectors."""

    title: str
    body: str
    content_key: str
    title_derived: bool = False
    url: str | None = None
    published: datetime | None = None
    source: str | None = None
    origin: str | None = None
    external_id: str | None = None
    dateline: str | None = None
    sentences: list[SentenceRow] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    topics: dict[str, float] = field(default_factory=dict)

    @property
    def lead(self) -> str:
        """The first two body sentences: news puts the story there, so BM25 weights them up."""
        return " ".join(s.text for s in self.sentences if 0 <= s.position < LEAD_SENTENCES)

    @property
    def ext_key(self) -> str | None:
        return ext_key(self.source, self.external_id)


@dataclass
class Article:
    id: int
    title: str
    body: str
    external_id: str | None
    url: str | None
    source: str | None
    published: str | None
    countries: list[str]
    topics: list[str]
    title_derived: bool = False


@dataclass(frozen=True)
class Filters:
    """Which articles a query may see. Empty tuples mean no restriction.

    `since` compares with the publication date, or the ingestion time for undated items.
    """

    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    after_id: int | None = None  # only articles ingested after this one (digest periods)

    @property
    def active(self) -> bool:
        return bool(
            self.countries or self.topics or self.since or self.until or self.after_id is not None
        )


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._connections = ThreadConnections(path)
        self._common: dict[str, bool] = {}  # see _informative
        self._common_at = 0
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(f"{path} was written by another briefbot version ({version})")
            self._db.executescript(SCHEMA)
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

    def sentence_vectors(
        self, article_ids: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
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

    def iter_for_tagging(
        self, chunk: int = 500
    ) -> Iterator[list[tuple[int, str, str, str | None, bool, np.ndarray]]]:
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

    def _where(self, filters: Filters) -> tuple[str, list[object]]:
        clauses, args = [], []
        if filters.countries:
            marks = ",".join("?" * len(filters.countries))
            clauses.append(
                f"a.id IN (SELECT article_id FROM article_countries WHERE code IN ({marks}))"
            )
            args.extend(filters.countries)
        if filters.topics:
            marks = ",".join("?" * len(filters.topics))
            clauses.append(
                f"a.id IN (SELECT article_id FROM article_topics WHERE topic IN ({marks}))"
            )
            args.extend(filters.topics)
        if filters.since:
            clauses.append("a.dated >= ?")
            args.append(isoformat(filters.since))
        if filters.until:
            clauses.append("a.dated < ?")
            args.append(isoformat(filters.until))
        if filters.after_id is not None:
            clauses.append("a.id > ?")
            args.append(filters.after_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def article_ids(
        self, filters: Filters, newest_first: bool = True, limit: int | None = None
    ) -> list[int]:
        where, args = self._where(filters)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT a.id FROM articles a{where} ORDER BY a.dated {order}, a.id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [r[0] for r in self._db.execute(sql, args)]

    def admitted(self, filters: Filters) -> np.ndarray:
        """Sorted ids of the articles `filters` admits (the index makes them a FAISS selector).

        One covering-index query per condition, intersected in numpy: a single query
        driven from the articles table read every admitted row's page (64 ms for 60k
        articles at 100k, against 20 ms this way).
        """
        parts = [self._column(sql, args) for sql, args in _id_sets(filters)]
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
        terms = query_terms(question)
        if not filters.active:
            # Under a filter, corpus-wide counts are the wrong measure of a word (it may be
            # what tells the admitted articles apart), and filtered searches are cheaper.
            terms = self._informative(terms)
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        where, args = self._fts_filters(filters)
        weights = ", ".join(map(str, BM25_WEIGHTS))
        try:
            rows = self._db.execute(
                f"SELECT rowid, -bm25(articles_fts, {weights}) AS score FROM articles_fts"
                f" WHERE articles_fts MATCH ?{where} ORDER BY score DESC LIMIT ?",
                [match, *args, limit],
            ).fetchall()
        except sqlite3.OperationalError as exc:
            log.warning("lexical search failed for %r: %s", question, exc)
            return []
        return [(int(a), float(s)) for a, s in rows]

    def _informative(self, terms: list[str]) -> list[str]:
        """`terms` without those in over COMMON_TERM_SHARE of articles, if 2+ others remain.

        FTS5 computes bm25() for every article matching any term, so one common word
        ("market", "said") makes a question score a third of the corpus while its low idf
        barely moves the ranking (Elasticsearch's common-terms cutoff, taken further).
        Measured: BM25 at 100k articles 22 -> 10 ms a question, top-10 overlap with all
        words 0.94; known-item MRR@10 on 3000 Reuters stories 0.793 -> 0.786, hence only
        in large corpora. Each count stops at the cutoff (~1.5 ms a question at 100k
        articles), and a word's verdict is remembered until the corpus grows by 1%.
        """
        if len(terms) < 3:
            return terms
        articles = self._db.execute("SELECT max(rowid) FROM articles_fts").fetchone()[0] or 0
        if articles < COMMON_TERMS_FROM:
            return terms
        if articles - self._common_at > COMMON_TERMS_STALE * articles or len(self._common) > 50_000:
            self._common, self._common_at = {}, articles  # a new dict: asks run on threads
        cutoff = int(articles * COMMON_TERM_SHARE)
        common = self._common
        for t in terms:
            if t not in common:
                common[t] = self._in_more_than(t, cutoff)
        rare = [t for t in terms if not common[t]]
        return rare if len(rare) >= 2 else terms

    def _in_more_than(self, term: str, cutoff: int) -> bool:
        """Whether over `cutoff` articles contain `term` (counting stops there)."""
        count = self._db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM articles_fts WHERE articles_fts MATCH ? LIMIT ?)",
            (f'"{term}"', cutoff + 1),
        ).fetchone()[0]
        return count > cutoff

    def _fts_filters(self, filters: Filters) -> tuple[str, list[object]]:
        """`filters` as conditions on the FTS rowid (the article id), without a join.

        `+rowid IN (subquery)`: the unary plus keeps SQLite from driving the search
        from the subquery's ids (one FTS lookup each); the set is built once and each
        match is checked against it. Measured at 100k articles: JP 36 -> 7 ms, US
        58 -> 28 ms a question, same results as joining the articles table.
        """
        sets = _id_sets(filters)
        where = "".join(f" AND +rowid IN ({sql})" for sql, _ in sets)
        args = [a for _, set_args in sets for a in set_args]
        if filters.after_id is not None:
            where += " AND rowid > ?"
            args.append(filters.after_id)
        return where, args

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


def _id_sets(filters: Filters) -> list[tuple[str, list[object]]]:
    """(SQL, args) selecting the article ids each condition of `filters` admits, through
    covering indexes; `after_id` is left to the caller (a plain id comparison)."""
    sets: list[tuple[str, list[object]]] = []
    for table, column, values in (
        ("article_countries", "code", filters.countries),
        ("article_topics", "topic", filters.topics),
    ):
        if values:
            marks = ",".join("?" * len(values))
            sets.append(
                (f"SELECT article_id FROM {table} WHERE {column} IN ({marks})", list(values))
            )
    if filters.since or filters.until:
        sql, args = "SELECT id FROM articles WHERE dated >= ?", [isoformat(filters.since) or ""]
        if filters.until:
            sql += " AND dated < ?"
            args.append(isoformat(filters.until))
        sets.append((sql, args))
    return sets


def query_terms(question: str) -> list[str]:
    """Distinct lower-case content words of a question, for FTS5."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(question.lower()):
        if term not in STOPWORDS and (len(term) > 1 or term.isdigit()):
            seen.setdefault(term, None)
    return list(seen)
