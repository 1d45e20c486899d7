"""The SQLite schema of the store, and the migration of data dirs older versions wrote.

`PRAGMA user_version` says which version wrote a file; `Store` opens it, runs `SCHEMA`
(every statement is `IF NOT EXISTS`) and `migrate` when it is older, and refuses one a
newer briefbot wrote.

- Version 1: articles, sentences with vectors, tags, FTS5.
- Version 2: where each publication date came from (`date_source`), the file each article
  was read from (`location`, so re-ingesting an edited file updates it), when it was
  `updated`; and `dated` is '' for an undated article (version 1 stored the ingestion
  time there, which made every undated article "recent").
"""

from __future__ import annotations

from .sqlite import ThreadConnections

SCHEMA_VERSION = 2
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
    -- the publication date, or '' when unknown: what --since windows and newest-first
    -- use, so an undated article is in no window and listed last (never "recent")
    dated TEXT NOT NULL,
    date_source TEXT,  -- where published came from (records.DATE_SOURCES), or NULL
    location TEXT,  -- absolute path (#record) of the file it was read from
    updated TEXT  -- when re-ingesting changed content replaced it in place
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
-- Stories (retrieval.stories): created by the first open of an older data dir; its
-- articles get their stories at the next ingest or digest.
CREATE TABLE IF NOT EXISTS stories (
    id INTEGER PRIMARY KEY,
    first_dated TEXT NOT NULL,
    last_dated TEXT NOT NULL,
    size INTEGER NOT NULL,
    centroid BLOB NOT NULL,
    terms TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stories_last ON stories(last_dated);
CREATE TABLE IF NOT EXISTS article_stories (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    story_id INTEGER NOT NULL REFERENCES stories(id)
);
CREATE INDEX IF NOT EXISTS article_stories_by_story ON article_stories(story_id, article_id);
"""
# Columns added since version 1, with what older rows get (version 1 wrote no date source:
# 'unrecorded'). Version 1 also set `dated` to the ingestion time of an undated article.
ADDED_COLUMNS = (
    ("date_source", "TEXT", "CASE WHEN published IS NULL THEN NULL ELSE 'unrecorded' END"),
    # An absolute origin is the file's path already; a relative one depended on the cwd.
    ("location", "TEXT", "CASE WHEN substr(origin, 1, 1) = '/' THEN origin END"),
    ("updated", "TEXT", "NULL"),
)
MIGRATE_UNDATED = "UPDATE articles SET dated='' WHERE published IS NULL"


def migrate(connections: ThreadConnections) -> None:
    """Bring a data dir written by an older version up to this schema, in one
    transaction: the columns it lacks are added and filled, and undated articles lose
    the ingestion time version 1 stored as their date."""
    have = {row[1] for row in connections.get().execute("PRAGMA table_info(articles)")}
    missing = [c for c in ADDED_COLUMNS if c[0] not in have]
    with connections.transaction() as db:
        for name, kind, fill in missing:
            db.execute(f"ALTER TABLE articles ADD COLUMN {name} {kind}")
            db.execute(f"UPDATE articles SET {name} = {fill}")
        if missing:
            db.execute(MIGRATE_UNDATED)
        db.execute("CREATE INDEX IF NOT EXISTS articles_location ON articles(location)")
