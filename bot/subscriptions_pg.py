"""Digest subscriptions on PostgreSQL: `SubscriptionStore`'s twin for several bot processes.

Same tables, same public methods, same `Subscription` rows (built by the SQLite module's
`SubscriptionQueries`, so a column added there is added here in `SCHEMA` only). What
makes it safe for N processes is the claim: `claim` is `INSERT … ON CONFLICT DO
NOTHING` on the primary key (subscription, period), so of all the processes whose
scheduler fires for one period exactly one gets the row and posts; `release` deletes a
claim still 'posting' after a failed send, so a later run (in any process) retries the
period and there is no gap.
"""

from __future__ import annotations

import psycopg

from retrieval.postgres.connections import PgConnections

from .subscriptions import SubscriptionQueries

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id BIGSERIAL PRIMARY KEY,
    guild_id BIGINT,
    channel_id BIGINT NOT NULL,
    time TEXT NOT NULL,
    timezone TEXT NOT NULL,
    countries TEXT NOT NULL DEFAULT '',
    topics TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    delivery TEXT NOT NULL DEFAULT 'channel',
    UNIQUE (channel_id, time, timezone, countries, topics)
);
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS delivery TEXT NOT NULL DEFAULT 'channel';
CREATE TABLE IF NOT EXISTS posted_digests (
    subscription_id BIGINT NOT NULL,
    period TEXT NOT NULL,
    last_article_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (subscription_id, period)
);
"""


class PgSubscriptionStore(SubscriptionQueries):
    """Subscriptions and the record of posted digests in one PostgreSQL database."""

    MARK = "%s"
    DUPLICATE = psycopg.errors.UniqueViolation

    def __init__(self, url: str) -> None:
        self.url = url
        self._connections = PgConnections(url)
        self._connections.create_tables(SCHEMA)

    def _run(self, sql: str, args: tuple = ()) -> psycopg.Cursor:
        return self._connections.get().execute(sql, args)

    def close(self) -> None:
        self._connections.close()
