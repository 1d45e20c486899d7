"""Per-country HNSW graphs: partial pgvector indexes for the countries asked about most.

A question filtered to one country has two ways into the sentence vectors without
these: an exact scan of that country's sentences (PostgreSQL reads and scores them one
row at a time) or a walk of the whole graph that skips the other countries' vectors
(slower still for a small share). pgvector's answer for a filter with few values is a
partial index, and that is what this module keeps: one HNSW graph per country tagged
on at least `MIN_ARTICLES` articles, over the sentences whose `countries` column (their
article's codes, written with them) holds it. The planner then walks that graph alone
(bench/RESULTS.md, PostgreSQL engine, has the measurements).

Graphs are built after the data is in: at the end of `briefbot migrate`, and when an
ingest's index is saved (`PgVectorIndex.save`), for a country that has just passed the
threshold. Builds outside a transaction are `CONCURRENTLY` (other processes keep
writing) and one process at a time builds (an advisory lock; another one skips).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

MIN_ARTICLES = 2000  # a country on fewer articles is scanned exactly, quickly enough
PREFIX = "sentences_hnsw_country_"
_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")  # what a tag code looks like (ISO, groupings)
_BUILD_LOCK = 0x62726967  # "brig": one process builds graphs at a time


def index_name(code: str) -> str:
    return PREFIX + code.lower()


def predicate(code: str) -> sql.Composed:
    """The condition a graph covers, written the same way in the index and in queries:
    the planner uses a partial index only for a query whose WHERE says what it says."""
    if not _CODE.match(code):
        raise ValueError(f"not a country code: {code!r}")
    return sql.SQL("countries @> {}::text[]").format(sql.Literal("{" + code + "}"))


def built(conn: psycopg.Connection) -> frozenset[str]:
    """The countries whose graph is there and usable (a failed concurrent build leaves
    an invalid index behind, which the planner ignores and `ensure` rebuilds)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'sentences'::regclass AND i.indisvalid AND c.relname LIKE %s",
        (PREFIX + "%",),
    ).fetchall()
    return frozenset(r[0][len(PREFIX) :].upper() for r in rows)


def wanted(conn: psycopg.Connection, min_articles: int | None = None) -> list[str]:
    """The countries on at least `min_articles` (default `MIN_ARTICLES`), most first."""
    if min_articles is None:
        min_articles = MIN_ARTICLES
    rows = conn.execute(
        "SELECT code FROM article_countries GROUP BY code HAVING count(*) >= %s"
        " ORDER BY count(*) DESC, code",
        (min_articles,),
    ).fetchall()
    return [r[0] for r in rows if _CODE.match(r[0])]


def ensure(
    conn: psycopg.Connection,
    dim: int,
    min_articles: int | None = None,
    *,
    concurrently: bool,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Build the graphs `wanted` lacks; returns the countries built.

    `concurrently` needs an autocommit connection outside a transaction (an ingest's
    save); without it the build runs in the caller's transaction (a migration).
    `progress(built, to build)` is called before each graph and after the last.
    """
    from .schema import HNSW_EF_CONSTRUCTION, HNSW_M, set_build_memory

    have = built(conn)
    missing = [code for code in wanted(conn, min_articles) if code not in have]
    if not missing or dim <= 0:
        return []
    if (
        concurrently
        and not conn.execute("SELECT pg_try_advisory_lock(%s)", (_BUILD_LOCK,)).fetchone()[0]
    ):
        return []  # another process is building them
    try:
        for done, code in enumerate(missing):
            if progress:
                progress(done, len(missing))
            name = sql.Identifier(index_name(code))
            if concurrently:  # a build that failed before left an invalid index
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name))
            log.info("building the vector graph of %s's sentences", code)
            # As much memory as the main graph's build gets, for this graph's vectors: a
            # build past `maintenance_work_mem` goes on on disk, many times slower.
            covered = sql.SQL("SELECT count(*) FROM sentences WHERE {}").format(predicate(code))
            set_build_memory(conn, conn.execute(covered).fetchone()[0], dim, local=not concurrently)
            conn.execute(
                sql.SQL(
                    "CREATE INDEX {how} IF NOT EXISTS {name} ON sentences USING hnsw"
                    " ((vector::halfvec({dim})) halfvec_cosine_ops)"
                    " WITH (m = {m}, ef_construction = {ef}) WHERE {where}"
                ).format(
                    how=sql.SQL("CONCURRENTLY" if concurrently else ""),
                    name=name,
                    dim=sql.Literal(int(dim)),
                    m=sql.Literal(HNSW_M),
                    ef=sql.Literal(HNSW_EF_CONSTRUCTION),
                    where=predicate(code),
                )
            )
        if progress:
            progress(len(missing), len(missing))
        # Readers cache `built` per generation: move it on so they see the new graphs.
        conn.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'")
    finally:
        if concurrently:
            conn.execute("RESET maintenance_work_mem")
            conn.execute("SELECT pg_advisory_unlock(%s)", (_BUILD_LOCK,))
    return missing
