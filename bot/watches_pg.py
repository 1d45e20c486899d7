"""Watches on PostgreSQL: `WatchStore`'s twin for several bot processes on one database.

The same methods run the same statements (`bot.watches` writes them in what both
engines speak); only the tables' types, the placeholders (`?` becomes psycopg's `%s`)
and the error a UNIQUE violation raises differ. What makes it safe for N processes is
the record: `claim` is `INSERT … ON CONFLICT DO NOTHING` on (watch, article), so of all
the processes that match one new article exactly one posts its alert, and `take_held`
moves held matches to 'posting' in one `UPDATE … RETURNING`, so one process posts
their roll-up. The cursor (`watch_state`) is shared: a process that starts after
another has checked the new articles does not check them again; if two check at once
the claims still post each alert once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg

from retrieval.postgres.connections import PgConnections

from .watches import WatchStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    id BIGSERIAL PRIMARY KEY,  -- never reused: alerts name their watch
    guild_id BIGINT,
    channel_id BIGINT NOT NULL,
    role_id BIGINT,
    description TEXT NOT NULL,
    countries TEXT NOT NULL DEFAULT '',
    topics TEXT NOT NULL DEFAULT '',
    vector BYTEA NOT NULL,
    terms TEXT NOT NULL,
    after_article_id BIGINT NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (channel_id, description, countries, topics)
);
CREATE TABLE IF NOT EXISTS watch_alerts (
    watch_id BIGINT NOT NULL,
    article_id BIGINT NOT NULL,
    story_id BIGINT,
    status TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    sentence TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (watch_id, article_id)
);
CREATE INDEX IF NOT EXISTS watch_alerts_story ON watch_alerts(watch_id, story_id);
CREATE TABLE IF NOT EXISTS watch_messages (
    watch_id BIGINT NOT NULL,
    at TEXT NOT NULL,
    articles INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS watch_messages_by_watch ON watch_messages(watch_id, at);
CREATE TABLE IF NOT EXISTS watch_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def placeholders(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s` (the watches' SQL has no other `?` or `%`)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgWatchStore(WatchStore):
    """The watches and their record in one PostgreSQL database, shared by every process."""

    DUPLICATE = psycopg.errors.UniqueViolation

    def __init__(self, url: str) -> None:  # not BotRecords': no SQLite file
        self.url = url
        self._connections = PgConnections(url)  # type: ignore[assignment]
        self._connections.create_tables(SCHEMA)

    def _run(self, sql: str, args: Sequence[object] = ()) -> Any:
        return self._connections.get().execute(placeholders(sql), tuple(args))

    def _run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self._connections.get().cursor() as cur:
            cur.executemany(placeholders(sql), rows)

    def _transaction(self) -> contextlib.AbstractContextManager:
        # The bot's own rows: no corpus writer lock, no corpus generation to move on.
        return self._connections.transaction(write=False)  # type: ignore[call-arg]
