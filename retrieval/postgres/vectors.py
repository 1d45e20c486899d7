"""Vector search in PostgreSQL: pgvector's HNSW index behind the `SentenceIndex` seam.

`Corpus`, `ingest`, `lifecycle` and `search.retrieve` use an index through a few
methods (`add`, `remove`, `search`, `save`, `ntotal`, `kind`, ...). On PostgreSQL the
vectors are rows of the sentences table, written and deleted with their articles in
the store's transactions, so `add`, `remove` and `save` have nothing left to do and
every process sharing the database searches the same vectors at once.

Search (cosine distance on normalised vectors, so 1 - distance is the inner product
FAISS returns):

- unfiltered: the HNSW graph (fp16, `schema.build_vector_index`), with `ef_search`
  never below the candidates asked for;
- filtered to one country that has its own graph (`country_graphs`: a partial HNSW
  index over that country's sentences): that graph, as the unfiltered search walks the
  whole one;
- filtered, when the filter admits under `FILTER_EXACT_BELOW` of the articles: an exact
  scan of only the admitted articles' vectors (through `sentences(article_id)`), as the
  FAISS index does: a graph walk would have to skip most of what it visits;
- filtered and broad: the graph with `ef_search` raised by 1/share (as FAISS does) and
  pgvector's iterative scan (`relaxed_order`): the walk goes on past `ef_search` until
  enough admitted vectors are found, then those are re-sorted by distance.

The filter is SQL (`store.Admitted`), embedded in the query: the ids never leave the
database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

from ..filters import Filters, expand_members
from ..index import Hits
from . import country_graphs
from .admitted import Admitted, Reader
from .schema import vector_dim

KIND = "pgvector-hnsw"
FILTER_EXACT_BELOW = 0.25  # share of articles a filter admits under which search is exact
EF_SEARCH_MIN = 128  # the least breadth (FAISS's HNSW_EF_SEARCH); pgvector's default is 40
EF_SEARCH_MAX = 1000  # pgvector's upper bound
MAX_SCAN_TUPLES = 50_000  # how far an iterative scan may walk before it stops
ITERATIVE_SCAN = "relaxed_order"  # re-sorted after the walk (see the module doc)
ScopedQuery = tuple[list[str], str, list[object]]  # SET LOCAL statements, query, parameters


def to_matrix(values: list[bytes]) -> np.ndarray:
    """The raw vectors `vector_rows` read, as one float32 matrix. pgvector's binary
    format, per value: dimension (int16), unused (int16), then the floats, big-endian."""
    if not values:
        return np.zeros((0, 0), np.float32)
    dim = int.from_bytes(values[0][:2], "big")
    raw = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), 4 + 4 * dim)
    return np.ascontiguousarray(raw[:, 4:]).view(">f4").astype(np.float32)


class _VectorBytes(Loader):
    """A pgvector value as its binary bytes, left for `to_matrix` to read a whole result
    at once: pgvector's loader builds one numpy array per row in Python, which was most
    of the cost of reading a question's candidate sentences."""

    format = Format.BINARY

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def vector_rows(db: psycopg.Connection, sql: str, args: Sequence[object]) -> list[tuple]:
    """`sql`'s rows, read in binary, with each vector column as raw bytes (`to_matrix`
    decodes a list of them)."""
    with db.cursor(binary=True) as cursor:
        cursor.adapters.register_loader(db.adapters.types["vector"].oid, _VectorBytes)
        return cursor.execute(sql, args).fetchall()


class PgVectorIndex:
    """The store's sentence vectors as the corpus searches them (see the module doc)."""

    kind = KIND
    description = "pgvector HNSW (cosine, fp16) in PostgreSQL; exact under selective filters"

    def __init__(self, store: Reader) -> None:
        self.store = store
        self.backend = store.get_meta("backend") or ""
        self.model = store.get_meta("model") or ""
        self._graphs: tuple[int, frozenset[str]] = (-1, frozenset())  # (generation, codes)

    # --- what the corpus calls; the store's transactions already did the work -------------
    def add(self, ids: np.ndarray, vectors: np.ndarray, articles: np.ndarray) -> None:
        """Nothing: `PgStore.add_batch` stored the vectors with their articles."""

    def remove(self, ids: np.ndarray) -> int:
        """Nothing left: the rows went with their articles; returns how many were given."""
        return len(ids)

    def save(self, path: Path) -> None:
        """No file to write (PostgreSQL is durable by itself); what an ingest may have
        made due is a country's own graph (`country_graphs`), built here, after the
        ingest's transactions, while other processes go on reading and writing."""
        db = self.store.db
        country_graphs.ensure(db, vector_dim(db) or 0, concurrently=True)

    def fit_size(self) -> bool:
        return False

    @property
    def dim(self) -> int:
        return int(self.store.get_meta("dim") or 0)

    @property
    def ntotal(self) -> int:
        return self.store.cached_count("SELECT count(*) FROM sentences")

    def ids(self) -> np.ndarray:
        rows = self.store.db.execute("SELECT id FROM sentences ORDER BY id").fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    # --- search ---------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, articles: object = None) -> Hits:
        """The k most similar sentences; `articles` (what `store.admitted` returned, or an
        array of article ids) restricts the search to their sentences."""
        if k <= 0:
            return Hits.empty()
        return _hits(self._run(*self._query(query, k, articles)))

    def explain(self, query: np.ndarray, k: int, articles: object = None) -> str:
        """EXPLAIN (ANALYZE, BUFFERS) of the query `search` runs (bench/postgres.py)."""
        settings, sql, params = self._query(query, k, articles)
        return "\n".join(
            r[0] for r in self._run(settings, f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        )

    def _run(self, settings: list[str], sql: str, params: list[object]) -> list[tuple]:
        """One query on this thread's connection, its settings scoped to a transaction."""
        db = self.store.db
        if not settings:  # nothing to scope, so no transaction's round trips
            return db.execute(sql, params).fetchall()
        with db.transaction():
            for setting in settings:
                db.execute(setting)
            return db.execute(sql, params).fetchall()

    def _query(self, query: np.ndarray, k: int, articles: object) -> ScopedQuery:
        """(SET LOCAL statements, the query, its parameters) for one search."""
        dim = int(np.asarray(query).size)
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
        half = f"vector::halfvec({dim}) <=> %s::halfvec({dim})"
        breadth = f"SET LOCAL hnsw.ef_search = {_breadth(k)}"
        if articles is None:
            sql = f"SELECT id, article_id, {half} AS d FROM sentences ORDER BY d LIMIT %s"
            return [breadth], sql, [q, k]
        if isinstance(articles, Admitted):
            code = _one_country(articles.filters)
            if code is not None and code in self.country_graphs():
                where = country_graphs.predicate(code).as_string(self.store.db)
                sql = f"SELECT id, article_id, {half} AS d FROM sentences WHERE {where}"
                sql += " ORDER BY d LIMIT %s"
                return [breadth], sql, [q, k]
            admitted_sql, args = articles.sql, list(articles.args)
            share = len(articles) / max(1, self.store.count_articles())
        else:
            ids = np.asarray(articles, dtype=np.int64)
            admitted_sql, args = "SELECT unnest(%s::bigint[])", [ids.tolist()]
            share = 0.0  # an explicit id list is searched exactly
        if share < FILTER_EXACT_BELOW:
            # Exact over the admitted articles' vectors, through sentences(article_id). The
            # vectors are normalised, so 1 + negative inner product is the cosine distance:
            # one dot product a row, where `<=>` takes three.
            sql = (
                "SELECT s.id, s.article_id, 1 + (s.vector <#> %s) AS d FROM sentences s"
                f" WHERE s.article_id = ANY(ARRAY({admitted_sql})) ORDER BY d, s.id LIMIT %s"
            )
            return [], sql, [q, *args, k]
        settings = [
            # As FAISS does: the breadth grows by 1/share, so the walk meets k admitted
            # vectors among its candidates before it has to iterate.
            f"SET LOCAL hnsw.ef_search = {_breadth(max(EF_SEARCH_MIN, k) / share)}",
            f"SET LOCAL hnsw.iterative_scan = {ITERATIVE_SCAN}",
            f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}",
        ]
        sql = (
            f"WITH near AS MATERIALIZED (SELECT id, article_id, {half} AS d FROM sentences"
            f" WHERE article_id IN ({admitted_sql}) ORDER BY d LIMIT %s)"
            " SELECT id, article_id, d FROM near ORDER BY d"
        )
        return settings, sql, [q, *args, k]

    def country_graphs(self) -> frozenset[str]:
        """The countries with their own graph, read again after each write."""
        generation = self.store.generation()
        if self._graphs[0] != generation:
            self._graphs = (generation, country_graphs.built(self.store.db))
        return self._graphs[1]


def _one_country(filters: Filters) -> str | None:
    """The country code when `filters` admits exactly the articles tagged with it."""
    if filters.with_countries or filters.topics or filters.since or filters.until:
        return None
    if filters.after_id is not None or len(filters.countries) != 1:
        return None
    if filters.members and expand_members(filters.countries) != (list(filters.countries), {}):
        return None  # a grouping that stands for its members is more than one tag
    return filters.countries[0]


def _breadth(k: float) -> int:
    return int(min(EF_SEARCH_MAX, max(EF_SEARCH_MIN, math.ceil(k))))


def _hits(rows: list[tuple[int, int, float]]) -> Hits:
    if not rows:
        return Hits.empty()
    ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    owners = np.asarray([r[1] for r in rows], dtype=np.int64)
    scores = 1.0 - np.asarray([r[2] for r in rows], dtype=np.float32)
    return Hits(scores, ids, owners)
