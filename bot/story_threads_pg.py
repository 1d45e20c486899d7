"""Story threads on PostgreSQL: `StoryThreadStore`'s twin, so several bot processes on one
database (`[store] url`) share which thread follows which story.

The queries are `StoryThreads`' own; only the parameter mark differs. What makes one thread
per story across processes is `claim`: a single INSERT … ON CONFLICT DO UPDATE … WHERE
on the primary key, so of all the processes that find a story without a thread (or its
thread gone) at the same moment exactly one gets the row and starts the thread; the
others wait for it (`started`) and post in it.
"""

from __future__ import annotations

import psycopg

from retrieval.postgres.connections import PgConnections

from .story_threads import StoryThreads

SCHEMA = """
CREATE TABLE IF NOT EXISTS story_threads (
    subscription_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    story_id BIGINT NOT NULL,
    thread_id BIGINT NOT NULL,
    last_article_id BIGINT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (subscription_id, channel_id, story_id)
);
CREATE INDEX IF NOT EXISTS story_threads_by_story ON story_threads(channel_id, story_id);
"""
SCHEMA_LOCK = 0x62737474  # "bstt": two processes opening a new database make it one at a time


class PgStoryThreadStore(StoryThreads):
    """The story-threads record in one PostgreSQL database."""

    MARK = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self._connections = PgConnections(url)
        with self._connections.transaction(write=False) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            db.execute(SCHEMA)

    def _run(self, sql: str, args: tuple = ()) -> psycopg.Cursor:
        return self._connections.get().execute(sql, args)

    def close(self) -> None:
        self._connections.close()
