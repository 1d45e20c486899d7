"""The PostgreSQL schema of the store, created (and later migrated) in one place.

The tables mirror the SQLite schema (`retrieval.schema`) column for column, so the two
engines store the same rows and `migrate.copy_corpus` copies them unchanged. What differs:

- dates stay ISO text, compared with the "C" collation: the byte order SQLite compares
  them in (a locale's collation may skip the punctuation of `2025-04-18T00:00:00+00:00`);
- ids come from sequences, which never hand an id out twice (SQLite keeps high marks in
  meta for that), so concurrent writers on several machines never collide;
- a sentence's vector is a pgvector `vector` (fp32, exactly what was embedded); the HNSW
  index over it is built on a `halfvec` (fp16) expression, as FAISS holds fp16 vectors:
  half the memory for the same top ten (`bench/postgres.py` measures recall). The index
  needs the dimension, known from the first vectors stored (`ensure_vector_index`);
- each sentence row carries its article's country codes (`countries`, written with it
  and kept by `PgStore.replace_tags`): the per-country partial HNSW indexes
  (`country_graphs`) need them in the row they index;
- lexical search reads BM25 postings (`bm25`: FTS5's tokens, counted when an article is
  written, in its transaction); a weighted `tsvector` column (title A, lead B, body D)
  with a GIN index is kept in each row too, for SQL users of the database.

`meta.schema_version` says which version wrote a database; a newer one is refused.
"""

from __future__ import annotations

import psycopg

from ..errors import StoreError
from . import bm25

# 1: ts_rank over the tsvector column; 2: BM25 postings (`bm25`), filled in on migration;
# 3: sentences.countries (`fill_countries`), for the per-country graphs.
SCHEMA_VERSION = 3
# The text search configuration: Snowball English stems with no stop list, as SQLite's
# FTS5 indexes every word (`analysis.query_terms` drops the question's stopwords).
TEXT_CONFIG = "briefbot_english"

SCHEMA = f"""
CREATE EXTENSION IF NOT EXISTS vector;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{TEXT_CONFIG}') THEN
        CREATE TEXT SEARCH DICTIONARY briefbot_stem (TEMPLATE = snowball, Language = english);
        CREATE TEXT SEARCH CONFIGURATION {TEXT_CONFIG} (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG} ALTER MAPPING FOR
            asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH briefbot_stem;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text);
CREATE SEQUENCE IF NOT EXISTS article_ids;
CREATE SEQUENCE IF NOT EXISTS sentence_ids;
CREATE SEQUENCE IF NOT EXISTS story_ids;
CREATE TABLE IF NOT EXISTS articles (
    id bigint PRIMARY KEY,
    ext_key text UNIQUE,
    external_id text,
    url text UNIQUE,
    content_key text NOT NULL UNIQUE,
    title text NOT NULL,
    title_derived boolean NOT NULL DEFAULT false,
    body text NOT NULL,
    source text,
    origin text,
    dateline text,
    published text COLLATE "C",
    added text COLLATE "C" NOT NULL,
    -- the publication date, or '' when unknown (see retrieval/schema.py)
    dated text COLLATE "C" NOT NULL,
    date_source text,
    location text,
    updated text,
    search tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_dated ON articles(dated, id);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_location ON articles(location);
CREATE INDEX IF NOT EXISTS articles_source ON articles(lower(source));
CREATE INDEX IF NOT EXISTS articles_search ON articles USING gin (search);
CREATE TABLE IF NOT EXISTS sentences (
    id bigint PRIMARY KEY,
    article_id bigint NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position integer NOT NULL,
    start integer,
    "end" integer,
    text text NOT NULL,
    vector vector NOT NULL,
    countries text[] NOT NULL DEFAULT '{{}}'
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences(article_id, position);
CREATE TABLE IF NOT EXISTS article_countries (
    article_id bigint NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    code text NOT NULL,
    rank integer NOT NULL,
    PRIMARY KEY (article_id, code)
);
CREATE INDEX IF NOT EXISTS article_countries_by_code ON article_countries(code, article_id);
CREATE TABLE IF NOT EXISTS article_topics (
    article_id bigint NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    topic text NOT NULL,
    score real NOT NULL,
    PRIMARY KEY (article_id, topic)
);
CREATE INDEX IF NOT EXISTS article_topics_by_topic ON article_topics(topic, article_id);
CREATE TABLE IF NOT EXISTS stories (
    id bigint PRIMARY KEY,
    first_dated text COLLATE "C" NOT NULL,
    last_dated text COLLATE "C" NOT NULL,
    size integer NOT NULL,
    centroid bytea NOT NULL,
    terms text NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_last ON stories(last_dated);
CREATE TABLE IF NOT EXISTS article_stories (
    article_id bigint PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    story_id bigint NOT NULL REFERENCES stories(id)
);
CREATE INDEX IF NOT EXISTS article_stories_by_story ON article_stories(story_id, article_id);
-- BM25 postings (bm25.py): each article's FTS5 tokens, with their column-weighted counts
-- and the article's token count repeated, so a search reads nothing but the index on
-- (term, article_id). lexical_docs also says which articles have their postings.
CREATE TABLE IF NOT EXISTS lexical_docs (
    article_id bigint PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    tokens integer NOT NULL
);
CREATE TABLE IF NOT EXISTS postings (
    term text COLLATE "C" NOT NULL,
    article_id bigint NOT NULL REFERENCES lexical_docs(article_id) ON DELETE CASCADE,
    freq real NOT NULL,
    tokens integer NOT NULL,
    PRIMARY KEY (article_id, term)
);
{bm25.TERM_INDEX};
-- Bumped by every write transaction: readers key their caches on it (see PgStore.admitted).
INSERT INTO meta VALUES ('generation', '0') ON CONFLICT DO NOTHING;
"""

# The weighted document a search reads: title (unless derived from the first sentence)
# A, lead B, body D. Parameters: title, lead, body.
SEARCH_VECTOR = (
    f"setweight(to_tsvector('{TEXT_CONFIG}', %s), 'A')"
    f" || setweight(to_tsvector('{TEXT_CONFIG}', %s), 'B')"
    f" || setweight(to_tsvector('{TEXT_CONFIG}', %s), 'D')"
)
VECTOR_INDEX = "sentences_hnsw"
# FAISS's HNSW parameters (`retrieval.index`): pgvector's defaults (16, 64) lose too
# many true neighbours among near-duplicate wires (bench/RESULTS.md, PostgreSQL engine).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# Serialise schema creation between processes opening a new database at once.
_SCHEMA_LOCK = 0x62726966  # "brif"


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create the tables, or check that this version can read the ones there."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        have = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
        if have:
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the PostgreSQL store was written by another briefbot version ({version})"
                )
            if version == SCHEMA_VERSION:
                return
        conn.execute(SCHEMA)
        if have:  # an older database: the tables it lacks are there now, fill them in
            bm25.fill_missing(conn)
            if version < 3:
                fill_countries(conn)
        conn.execute(
            "INSERT INTO meta VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )


def fill_countries(conn: psycopg.Connection) -> None:
    """Give an older database's sentences their article's country codes (schema 3).

    Every row is rewritten, so the HNSW index is dropped first and built again after:
    updating 800k rows under it would insert each one into the graph again, far slower
    than one build. On a large database this upgrade takes as long as that build.
    """
    conn.execute(
        "ALTER TABLE sentences ADD COLUMN IF NOT EXISTS countries text[] NOT NULL DEFAULT '{}'"
    )
    dim = vector_dim(conn)
    indexed = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_INDEX,)).fetchone()[0]
    if indexed:
        conn.execute(f"DROP INDEX {VECTOR_INDEX}")
    conn.execute(
        "UPDATE sentences s SET countries = c.codes FROM (SELECT article_id,"
        " array_agg(code ORDER BY rank) AS codes FROM article_countries GROUP BY article_id) c"
        " WHERE c.article_id = s.article_id"
    )
    if indexed and dim:
        vectors = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
        set_build_memory(conn, vectors, dim)
        build_vector_index(conn, dim)


def set_build_memory(
    conn: psycopg.Connection, vectors: int, dim: int, *, local: bool = True
) -> None:
    """Give the next HNSW build of `vectors` vectors its memory (`graph_mb`): for the
    transaction (`local`), or for the session, outside one (a concurrent build), where
    the caller resets it."""
    scope = "LOCAL " if local else ""
    conn.execute(f"SET {scope}maintenance_work_mem = '{graph_mb(vectors, dim)}MB'")


def graph_mb(vectors: int, dim: int) -> int:
    """Memory for pgvector to build an HNSW graph in (it goes on on disk past it, many
    times slower): each fp16 vector, its 2m layer-0 neighbour slots (16 bytes each) and
    its element, with a margin; 1 GB at least."""
    per_vector = 2 * dim + 2 * HNSW_M * 16 + 128
    return max(1024, int(vectors * per_vector * 1.25 / 2**20) + 1)


def vector_dim(conn: psycopg.Connection) -> int | None:
    """The dimension the vector column was given, or None before the first vectors."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'sentences'::regclass"
        " AND attname = 'vector'"
    ).fetchone()
    return int(row[0]) if row and row[0] > 0 else None


def ensure_vector_index(conn: psycopg.Connection, dim: int, *, build: bool = True) -> None:
    """Give the vector column its dimension and (with `build`) the HNSW index, once.

    Call inside a transaction. `build=False` leaves the index for `build_vector_index`
    (a bulk copy builds it after loading: several times faster than growing it row by row).
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
    have = vector_dim(conn)
    if have is None:
        conn.execute(f"ALTER TABLE sentences ALTER COLUMN vector TYPE vector({int(dim)})")
    elif have != dim:
        raise StoreError(f"the PostgreSQL store holds {have}-dimensional vectors, not {dim}")
    if build:
        build_vector_index(conn, dim)


def build_vector_index(conn: psycopg.Connection, dim: int) -> None:
    """The HNSW index (cosine distance, fp16) over the sentence vectors, if missing."""
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} ON sentences USING hnsw"
        f" ((vector::halfvec({int(dim)})) halfvec_cosine_ops)"
        f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )
