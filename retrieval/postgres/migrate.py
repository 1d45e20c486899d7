"""Copy an SQLite corpus into PostgreSQL without re-embedding: `copy_corpus`.

`briefbot migrate` (bot/cli_migrate.py) calls it for the corpus and copies the bot's own
tables itself. Everything goes in one transaction, so a failed copy leaves the
destination as it was; rows travel by COPY (binary for vectors) in batches, ids are kept
(citations, digest periods and story links stay valid) and the sequences continue past
the highest id the SQLite store ever handed out. The HNSW index is built once after
the vectors are in: several times faster than growing it row by row. At the end every
table's count is compared with the source's; a difference is an error (and nothing is
committed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg

from ..errors import StoreError
from ..storage import ArticleStore
from . import bm25, country_graphs
from .connections import PgConnections, redacted
from .schema import SEARCH_VECTOR, build_vector_index, ensure_vector_index, set_build_memory

Progress = Callable[[str, int, int], None]

_ARTICLE_COLUMNS = (
    "id, ext_key, external_id, url, content_key, title, title_derived, body, source, origin,"
    " dateline, published, added, dated, date_source, location, updated"
)
# table -> (columns, PostgreSQL types for binary COPY); articles and sentences have
# their own steps (the full-text document, the vectors).
_PLAIN = {
    "article_countries": ("article_id, code, rank", ["int8", "text", "int4"]),
    "article_topics": ("article_id, topic, score", ["int8", "text", "float4"]),
    "stories": (
        "id, first_dated, last_dated, size, centroid, terms",
        ["int8", "text", "text", "int4", "bytea", "text"],
    ),
    "article_stories": ("article_id, story_id", ["int8", "int8"]),
}
# Meta keys that describe the SQLite file itself, not the corpus.
_SQLITE_ONLY = {"high_article_id", "high_sentence_id"}
_PG_OWN = {"generation", "schema_version"}


def copy_corpus(
    source: ArticleStore,
    dest_url: str,
    *,
    batch: int = 2000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Copy the SQLite store `source` (articles, sentences with their vectors, tags,
    stories, meta) into the empty PostgreSQL database at `dest_url`.

    `progress(table, rows done, rows in all)` is called after each batch. Returns the
    rows copied per table, each checked against the source's count.
    """
    path = getattr(source, "path", None)
    if path is None or not Path(path).exists():
        raise StoreError("copy_corpus copies from an SQLite store (retrieval.store.Store)")
    src = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    connections = PgConnections(dest_url)
    try:
        counts = _copy(src, connections.get(), max(1, batch), progress or (lambda *_: None))
        # Statistics for the planner, and the visibility map that lets a search read the
        # postings' index alone (VACUUM runs outside a transaction, after the commit).
        connections.get().execute("VACUUM (ANALYZE)")
        return counts
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"copying into {redacted(dest_url)} failed: {reason}") from None
    finally:
        connections.close()
        src.close()


def _copy(
    src: sqlite3.Connection, db: psycopg.Connection, batch: int, progress: Progress
) -> dict[str, int]:
    counts: dict[str, int] = {}
    with db.transaction():
        if db.execute("SELECT EXISTS (SELECT 1 FROM articles)").fetchone()[0]:
            raise StoreError("the PostgreSQL store is not empty: migrate into an empty database")
        meta = dict(src.execute("SELECT key, value FROM meta").fetchall())
        counts["meta"] = _copy_meta(db, meta)
        counts["articles"] = _copy_articles(src, db, batch, progress)
        dim = int(meta.get("dim") or 0)
        counts["sentences"] = _copy_sentences(src, db, batch, progress, dim)
        for table, (columns, types) in _PLAIN.items():
            counts[table] = _copy_plain(src, db, table, columns, types, batch, progress)
        _continue_sequences(src, db, meta)
        bm25.fill_missing(db, lambda done, total: progress("postings", done, total))
        if counts["sentences"]:
            progress("vector index", 0, counts["sentences"])
            set_build_memory(db, counts["sentences"], dim)
            build_vector_index(db, dim)
            progress("vector index", counts["sentences"], counts["sentences"])
            country_graphs.ensure(
                db, dim, concurrently=False, progress=lambda d, t: progress("country graphs", d, t)
            )
        _verify(src, db, counts)
    return counts


def _copy_meta(db: psycopg.Connection, meta: dict[str, str]) -> int:
    rows = [(k, v) for k, v in meta.items() if k not in _SQLITE_ONLY | _PG_OWN]
    for key, value in rows:
        db.execute(
            "INSERT INTO meta VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
    return len(rows)


def _batches(src: sqlite3.Connection, sql: str, batch: int) -> Iterator[list[tuple]]:
    cursor = src.execute(sql)
    while rows := cursor.fetchmany(batch):
        yield rows


def _total(src: sqlite3.Connection, table: str) -> int:
    return int(src.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _copy_articles(
    src: sqlite3.Connection, db: psycopg.Connection, batch: int, progress: Progress
) -> int:
    """Articles by COPY into a staging table, then into `articles` with their full-text
    document computed by PostgreSQL (title unless derived, lead, body: as ingest does)."""
    db.execute(
        "CREATE TEMP TABLE staged_articles (LIKE articles INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    db.execute("ALTER TABLE staged_articles DROP COLUMN search, ADD COLUMN lead text")
    total, done = _total(src, "articles"), 0
    types = ["int8", *["text"] * 5, "bool", *["text"] * 10, "text"]
    sql = (
        f"SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))},"
        " coalesce(f.lead, '') FROM articles a LEFT JOIN articles_fts f ON f.rowid = a.id"
        " ORDER BY a.id"
    )
    document = SEARCH_VECTOR % (
        "CASE WHEN title_derived THEN '' ELSE title END",
        "lead",
        "body",
    )
    for rows in _batches(src, sql, batch):
        with db.cursor().copy(
            f"COPY staged_articles ({_ARTICLE_COLUMNS}, lead) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row((*row[:6], bool(row[6]), *row[7:]))
        db.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, search)"
            f" SELECT {_ARTICLE_COLUMNS}, {document} FROM staged_articles"
        )
        db.execute("TRUNCATE staged_articles")
        done += len(rows)
        progress("articles", done, total)
    return done


def _copy_sentences(
    src: sqlite3.Connection, db: psycopg.Connection, batch: int, progress: Progress, dim: int
) -> int:
    total, done = _total(src, "sentences"), 0
    if total == 0:
        return 0
    if dim <= 0:  # an older store without the dimension in meta: its first vector says
        blob = src.execute("SELECT vector FROM sentences LIMIT 1").fetchone()[0]
        dim = len(blob) // 4
    ensure_vector_index(db, dim, build=False)
    # Each sentence with its article's country codes, by rank (`schema`: the per-country
    # graphs index them).
    sql = (
        's.id, s.article_id, s.position, s.start, s."end", s.text, s.vector,'
        " (SELECT group_concat(code, ',') FROM (SELECT code FROM article_countries c"
        "  WHERE c.article_id = s.article_id ORDER BY rank))"
    )
    sql = f"SELECT {sql} FROM sentences s ORDER BY s.id"
    for rows in _batches(src, sql, batch * 8):
        with db.cursor().copy(
            'COPY sentences (id, article_id, position, start, "end", text, vector, countries)'
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "int8", "int4", "int4", "int4", "text", "vector", "text[]"])
            for row in rows:
                codes = row[7].split(",") if row[7] else []
                copy.write_row((*row[:6], np.frombuffer(row[6], dtype=np.float32), codes))
        done += len(rows)
        progress("sentences", done, total)
    return done


def _copy_plain(
    src: sqlite3.Connection,
    db: psycopg.Connection,
    table: str,
    columns: str,
    types: list[str],
    batch: int,
    progress: Progress,
) -> int:
    total, done = _total(src, table), 0
    for rows in _batches(src, f"SELECT {columns} FROM {table}", batch * 4):
        with db.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        done += len(rows)
        progress(table, done, total)
    return done


def _continue_sequences(src: sqlite3.Connection, db: psycopg.Connection, meta: dict) -> None:
    """New ids start past every id the source ever held (its high marks included)."""
    for table, sequence, mark in (
        ("articles", "article_ids", "high_article_id"),
        ("sentences", "sentence_ids", "high_sentence_id"),
        ("stories", "story_ids", None),
    ):
        top = int(src.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
        high = max(top, int(meta.get(mark) or 0) if mark else 0)
        if high > 0:
            db.execute("SELECT setval(%s, %s)", (sequence, high))


def _verify(src: sqlite3.Connection, db: psycopg.Connection, counts: dict[str, int]) -> None:
    for table, copied in counts.items():
        if table == "meta":
            continue
        have = int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        want = _total(src, table)
        if not have == want == copied:
            raise StoreError(
                f"copying {table} did not match: {want} rows in SQLite, {have} in PostgreSQL"
            )
