"""`PgStore`: the `storage.ArticleStore` interface on PostgreSQL with pgvector.

Rows are the SQLite store's (`retrieval.store`), with the same meaning: `dated` is ''
for an undated article, an update keeps the article's id and first-ingested time, ids
are never handed out twice (sequences). Sentence vectors live in the sentences table
(pgvector, searched by `vectors.PgVectorIndex`); lexical search ranks BM25 from the
postings each article's transaction writes (`bm25`, read by `lexical.PgLexical`), and
the row keeps a tsvector too (the former ranking, which `bench/postgres.py` compares
with). Every write is one transaction
holding the writer lock (`connections`), so a crash loses at most the batch in flight
and concurrent writers from several processes commit one batch after another. Filters
become SQL once, in `filters`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg

from ..dates import isoformat
from ..errors import StoreError
from ..filters import Filters
from ..storage import (
    ARTICLE_COLUMNS,
    Article,
    PreparedArticle,
    Selection,
    SentenceRows,
    TaggingRow,
    article_from_row,
    match_verdict,
)
from . import bm25
from . import filters as pgfilters
from .admitted import Admitted
from .connections import PgConnections, redacted
from .lexical import PgLexical
from .schema import SEARCH_VECTOR, ensure_vector_index, vector_dim
from .story_tables import PgStoryTables
from .vectors import PgVectorIndex, to_matrix, vector_rows

_WRITTEN = (
    "ext_key, external_id, url, content_key, title, title_derived, body, source, origin,"
    " dateline, published, dated, date_source, location"
)


class PgStore(PgStoryTables):
    """Articles, sentences with vectors, tags and stories in PostgreSQL."""

    engine = "postgresql"

    def __init__(self, url: str, path: Path | None = None) -> None:
        """`path`: the SQLite file the bot keeps its own tables in (feeds, subscriptions)
        until they move to PostgreSQL too; the corpus itself is all at `url`."""
        self.url = url
        self.path = path
        self._connections = PgConnections(url)
        self.lexical = PgLexical(self)
        self.index = PgVectorIndex(self)
        self._admitted: dict[Filters, Admitted] = {}
        self._counted: dict[str, tuple[int, int]] = {}  # see cached_count

    @property
    def db(self) -> psycopg.Connection:
        """This thread's connection (see `connections`)."""
        return self._connections.get()

    def __repr__(self) -> str:
        return f"PgStore({redacted(self.url)})"

    def close(self) -> None:
        self._connections.close()

    def transaction(self, *, write: bool = True) -> contextlib.AbstractContextManager:
        return self._connections.transaction(write=write)

    def generation(self) -> int:
        """A number every write transaction moves on: what readers' caches key on."""
        row = self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def vector_index(self) -> PgVectorIndex:
        """The index of this store's vectors (the `SentenceIndex` seam `Corpus` uses)."""
        return self.index

    # --- metadata -------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=%s", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- writing --------------------------------------------------------------------------
    def is_duplicate(self, article: PreparedArticle) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM articles WHERE content_key=%s OR url=%s OR ext_key=%s LIMIT 1",
            (article.content_key, article.url, article.ext_key),
        ).fetchone()
        return row is not None

    def match(self, article: PreparedArticle) -> tuple[str, int] | None:
        """As `Store.match`: same content is a duplicate; one stored article with its URL,
        ext key or file key is the one it updates; several count as a duplicate."""
        db = self.db
        row = db.execute(
            "SELECT id FROM articles WHERE content_key=%s LIMIT 1", (article.content_key,)
        ).fetchone()
        if row:
            return match_verdict(row[0], ())
        same_place = db.execute(
            "SELECT id FROM articles WHERE url=%s UNION SELECT id FROM articles"
            " WHERE ext_key=%s UNION SELECT id FROM articles WHERE location=%s",
            (article.url, article.ext_key, article.file_key),
        )
        return match_verdict(None, (r[0] for r in same_place))

    def add_batch(
        self, articles: Sequence[PreparedArticle], vectors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Insert (or, with `replaces`, rewrite in place) articles with their sentences,
        vectors, tags and full-text document, in one transaction.

        An article another process stored meanwhile (its content key, URL or ext key
        taken since `match`) is skipped as the duplicate it now is, with its sentences.
        Returns the new sentence ids and each one's article id, in that order.
        """
        now = datetime.now(UTC).isoformat()
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        sentence_ids: list[int] = []
        owners: list[int] = []
        rows: list[tuple] = []
        docs: dict[bool, list[bm25.Document]] = {False: [], True: []}  # by "updated"
        with self.transaction() as db:
            if len(vecs) and vector_dim(db) is None:
                ensure_vector_index(db, vecs.shape[1])
            new = sum(a.replaces is None for a in articles)
            next_ids = iter(self._take_ids(db, "article_ids", new))
            next_sentences = iter(self._take_ids(db, "sentence_ids", len(vecs)))
            row = 0
            for art in articles:
                aid = next(next_ids) if art.replaces is None else art.replaces
                stored = self._write_article(db, art, now, aid)
                codes = list(dict.fromkeys(art.countries))
                for sent in art.sentences:
                    if stored:
                        sid = next(next_sentences)
                        place = (sent.position, sent.start, sent.end)
                        rows.append((sid, aid, *place, sent.text, vecs[row], codes))
                        sentence_ids.append(sid)
                        owners.append(aid)
                    row += 1
                if stored:
                    self._write_tags(db, aid, art.countries, art.topics)
                    title = "" if art.title_derived else art.title
                    docs[art.replaces is not None].append((aid, title, art.lead, art.body))
            self._copy_sentences(db, rows)
            for updated, written in docs.items():
                bm25.write(db, written, replace=updated)
            db.execute(
                "INSERT INTO meta VALUES ('last_ingest', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (now,),
            )
        return np.asarray(sentence_ids, dtype=np.int64), np.asarray(owners, dtype=np.int64)

    @staticmethod
    def _take_ids(db: psycopg.Connection, sequence: str, n: int) -> list[int]:
        if n == 0:
            return []
        rows = db.execute(
            "SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, n)
        ).fetchall()
        return [r[0] for r in rows]

    def _write_article(
        self, db: psycopg.Connection, art: PreparedArticle, now: str, aid: int
    ) -> bool:
        """The article's row, inserted as `aid` or rewritten in place (`replaces`), with
        its full-text document; False when another writer stored it meanwhile."""
        published = isoformat(art.published)
        fields = (
            art.ext_key,
            art.external_id,
            art.url,
            art.content_key,
            art.title,
            art.title_derived,
            art.body,
            art.source,
            art.origin,
            art.dateline,
            published,
            published or "",
            art.date_source if published else None,
            art.location,
        )
        document = ("" if art.title_derived else art.title, art.lead, art.body)
        if art.replaces is None:
            marks = ", ".join(["%s"] * (len(fields) + 2))
            row = db.execute(
                f"INSERT INTO articles (id, {_WRITTEN}, added, search)"
                f" VALUES ({marks}, {SEARCH_VECTOR}) ON CONFLICT DO NOTHING RETURNING id",
                (aid, *fields, now, *document),
            ).fetchone()
            return row is not None
        db.execute("DELETE FROM sentences WHERE article_id=%s", (aid,))
        assignments = ", ".join(f"{name.strip()}=%s" for name in _WRITTEN.split(","))
        db.execute(
            f"UPDATE articles SET {assignments}, updated=%s, search={SEARCH_VECTOR} WHERE id=%s",
            (*fields, now, *document, aid),
        )
        return True

    @staticmethod
    def _copy_sentences(db: psycopg.Connection, rows: list[tuple]) -> None:
        """Sentence rows with their vectors, by binary COPY (the bulk path PostgreSQL has)."""
        if not rows:
            return
        with db.cursor().copy(
            'COPY sentences (id, article_id, position, start, "end", text, vector, countries)'
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "int4", "int4", "int4", "text", "vector", "text[]"])
            for row in rows:
                copy.write_row(row)

    def sentence_ids(self, article_ids: Sequence[int]) -> np.ndarray:
        keys = [int(a) for a in article_ids]
        if not keys:
            return np.zeros(0, np.int64)
        rows = self.db.execute(
            "SELECT id FROM sentences WHERE article_id = ANY(%s)", (keys,)
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def remove_articles(self, article_ids: Sequence[int]) -> np.ndarray:
        """Delete articles; sentences, tags and story links go with them (ON DELETE
        CASCADE), the full-text document is their row. One transaction."""
        keys = [int(a) for a in article_ids]
        try:
            with self.transaction() as db:
                rows = db.execute(
                    "SELECT id FROM sentences WHERE article_id = ANY(%s)", (keys,)
                ).fetchall()
                db.execute("DELETE FROM articles WHERE id = ANY(%s)", (keys,))
        except psycopg.Error as exc:
            raise StoreError(f"cannot remove from the store at {self}: {exc}") from None
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def select_ids(self, selection: Selection) -> list[int]:
        """As `Store.select_ids`: a URL, a file (its `#n` records too) or a folder."""
        clauses: list[str] = []
        args: list[object] = []
        if selection.ids:
            clauses.append("id = ANY(%s)")
            args.append([int(i) for i in selection.ids])
        if selection.source:
            clauses.append("lower(source) = lower(%s)")
            args.append(selection.source)
        if selection.path:
            p = selection.path
            clauses.append(
                "(url = %s OR location = %s OR origin = %s OR left(location, %s) = ANY(%s)"
                " OR left(origin, %s) = %s)"
            )
            args += [p, p, p, len(p) + 1, [p + "#", p + "/"], len(p) + 1, p + "#"]
        if selection.before:
            clauses.append("published IS NOT NULL AND published < %s")
            args.append(isoformat(selection.before))
        where = " AND ".join(clauses) or "TRUE"
        sql = f"SELECT id FROM articles WHERE {where} ORDER BY id"
        return [r[0] for r in self.db.execute(sql, args)]

    @staticmethod
    def _write_tags(
        db: psycopg.Connection, aid: int, countries: Iterable[str], topics: dict[str, float]
    ) -> None:
        db.execute("DELETE FROM article_countries WHERE article_id=%s", (aid,))
        db.execute("DELETE FROM article_topics WHERE article_id=%s", (aid,))
        codes = list(dict.fromkeys(countries))
        if codes:
            db.execute(
                "INSERT INTO article_countries SELECT %s, code, rank - 1"
                " FROM unnest(%s::text[]) WITH ORDINALITY AS t(code, rank)",
                (aid, codes),
            )
        if topics:
            db.execute(
                "INSERT INTO article_topics SELECT %s, t, s FROM unnest(%s::text[], %s::real[])"
                " AS u(t, s)",
                (aid, list(topics), list(topics.values())),
            )

    def replace_tags(self, tags: list[tuple[int, list[str], dict[str, float]]]) -> None:
        with self.transaction() as db:
            for aid, countries, topics in tags:
                self._write_tags(db, aid, countries, topics)
                # Only where they changed: a rewritten row enters every vector graph again.
                codes = list(dict.fromkeys(countries))
                db.execute(
                    "UPDATE sentences SET countries = %s::text[]"
                    " WHERE article_id = %s AND countries <> %s::text[]",
                    (codes, aid, codes),
                )

    # --- vectors --------------------------------------------------------------------------
    def vector_summary(self) -> tuple[int, int]:
        count, total = self.db.execute(
            "SELECT count(*), coalesce(sum(id), 0) FROM sentences"
        ).fetchone()
        return int(count), int(total)

    def iter_vectors(
        self, after_id: int = 0, chunk: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        last = after_id
        while True:
            rows = vector_rows(
                self.db,
                "SELECT id, article_id, vector FROM sentences WHERE id > %s ORDER BY id LIMIT %s",
                (last, chunk),
            )
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            owners = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, owners, to_matrix([r[2] for r in rows])
            last = int(ids[-1])

    def sentence_vectors(
        self, article_ids: Sequence[int], texts: bool = True, through: int | None = None
    ) -> SentenceRows:
        keys = [int(a) for a in article_ids]
        if not keys:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
        upto = "" if through is None else f" AND position <= {int(through)}"
        rows = vector_rows(
            self.db,
            f"SELECT article_id, position, vector{', text' if texts else ''} FROM sentences"
            f" WHERE article_id = ANY(%s){upto} ORDER BY article_id, position",
            (keys,),
        )
        owners = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        positions = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        vectors = to_matrix([r[2] for r in rows])
        return owners, positions, vectors, [r[3] for r in rows] if texts else []

    def sentence_texts(self, article_ids: Sequence[int]) -> list[tuple[int, int, str]]:
        keys = [int(a) for a in article_ids]
        if not keys:
            return []
        return self.db.execute(
            "SELECT article_id, position, text FROM sentences WHERE article_id = ANY(%s)"
            " ORDER BY article_id, position",
            (keys,),
        ).fetchall()

    def iter_for_tagging(self, chunk: int = 500) -> Iterator[list[TaggingRow]]:
        last = 0
        while True:
            rows = self.db.execute(
                "SELECT id, title, body, dateline, title_derived FROM articles WHERE id > %s"
                " ORDER BY id LIMIT %s",
                (last, chunk),
            ).fetchall()
            if not rows:
                return
            owners, _, vectors, _ = self.sentence_vectors([r[0] for r in rows])
            yield [
                (aid, title, body, dateline, bool(derived), vectors[owners == aid])
                for aid, title, body, dateline, derived in rows
            ]
            last = rows[-1][0]

    # --- articles -------------------------------------------------------------------------
    def count_articles(self) -> int:
        return self.cached_count("SELECT count(*) FROM articles")

    def cached_count(self, sql: str, args: Sequence[object] = ()) -> int:
        """A count, kept until the next write: PostgreSQL counts by scanning (a vector
        search under a filter asks for the number of articles every time)."""
        generation = self.generation()
        kept = self._counted.get(sql + repr(args))
        if kept is not None and kept[0] == generation:
            return kept[1]
        count = int(self.db.execute(sql, args).fetchone()[0])
        if len(self._counted) >= 64:
            self._counted = {}  # a new dict: asks run on threads
        self._counted[sql + repr(args)] = (generation, count)
        return count

    def max_article_id(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0])

    def articles(self, ids: Sequence[int]) -> dict[int, Article]:
        keys = [int(i) for i in ids]
        if not keys:
            return {}
        countries = self._tags("article_countries", "code", "rank", keys)
        topics = self._tags("article_topics", "topic", "score DESC, topic", keys)
        out = {}
        for row in self.db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ANY(%s)", (keys,)
        ):
            out[row[0]] = article_from_row(row, countries.get(row[0], []), topics.get(row[0], []))
        return out

    def _tags(self, table: str, column: str, order: str, ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for aid, value in self.db.execute(
            f"SELECT article_id, {column} FROM {table} WHERE article_id = ANY(%s)"
            f" ORDER BY article_id, {order}",
            (ids,),
        ):
            out.setdefault(aid, []).append(value)
        return out

    def article_ids(
        self, filters: Filters, newest_first: bool = True, limit: int | None = None
    ) -> list[int]:
        where, args = pgfilters.condition(filters)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT a.id FROM articles a WHERE {where} ORDER BY a.dated {order}, a.id {order}"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        return [r[0] for r in self.db.execute(sql, args)]

    def admitted(self, filters: Filters) -> Admitted:
        """The articles `filters` admits, kept as SQL (see `Admitted`); the same object
        for the same filters, so its count is computed once per store generation."""
        kept = self._admitted.get(filters)
        if kept is None:
            if len(self._admitted) >= 32:
                self._admitted = {}  # a new dict: asks run on threads
            kept = self._admitted[filters] = Admitted(self, filters)
        return kept

    def lexical_search(
        self, question: str, limit: int, filters: Filters, admitted: object = None
    ) -> list[tuple[int, float]]:
        """(article id, full-text rank) best first; filters are SQL, `admitted` unused."""
        return self.lexical.search(question, limit, filters)

    # --- summaries ------------------------------------------------------------------------
    def date_range(self) -> tuple[str | None, str | None]:
        first = self.db.execute("SELECT min(published) FROM articles").fetchone()[0]
        last = self.db.execute("SELECT max(published) FROM articles").fetchone()[0]
        return first, last

    def sources(self) -> list[tuple[str, int]]:
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT coalesce(source, '(unnamed)'), count(*) FROM articles"
                " GROUP BY 1 ORDER BY 2 DESC, 1"
            )
        ]

    def country_counts(self) -> list[tuple[str, int]]:
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT code, count(*) FROM article_countries GROUP BY code ORDER BY 2 DESC, 1"
            )
        ]

    def topic_counts(self) -> list[tuple[str, int]]:
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT topic, count(*) FROM article_topics GROUP BY topic ORDER BY 2 DESC, 1"
            )
        ]
