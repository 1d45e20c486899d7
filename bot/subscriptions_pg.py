"""Digest subscriptions on PostgreSQL: `SubscriptionStore`'s twin for several bot processes.

Same tables, same public methods, same `Subscription` rows (built by the SQLite module's
`_row`, so a column added there is added here in `SCHEMA` and `COLUMNS` only). What
makes it safe for N processes is the claim: `claim` is `INSERT … ON CONFLICT DO
NOTHING` on the primary key (subscription, period), so of all the processes whose
scheduler fires for one period exactly one gets the row and posts; `release` deletes a
claim still 'posting' after a failed send, so a later run (in any process) retries the
period and there is no gap.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from retrieval import InputError, wording
from retrieval.postgres.connections import PgConnections

from .subscriptions import (
    Subscription,
    _row,
    encode_countries,
    parse_delivery,
    parse_time,
    parse_timezone,
)

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
# The columns `subscriptions._row` reads, in its order.
COLUMNS = "id, guild_id, channel_id, time, timezone, countries, topics, delivery"


class PgSubscriptionStore:
    """Subscriptions and the record of posted digests in one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connections = PgConnections(url)
        self._connections.create_tables(SCHEMA)

    def _run(self, sql: str, args: tuple = ()) -> psycopg.Cursor:
        return self._connections.get().execute(sql, args)

    def close(self) -> None:
        self._connections.close()

    def add(
        self,
        channel_id: int,
        time: str,
        timezone: str,
        countries: tuple[str, ...] = (),
        topics: tuple[str, ...] = (),
        guild_id: int | None = None,
        *,
        with_countries: tuple[str, ...] = (),
        members: bool = False,
        delivery: str | None = None,
    ) -> Subscription:
        time, timezone = parse_time(time), parse_timezone(timezone)
        try:
            row = self._run(
                "INSERT INTO subscriptions (guild_id, channel_id, time, timezone, countries,"
                f" topics, created, delivery) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                f" RETURNING {COLUMNS}",
                (
                    guild_id,
                    channel_id,
                    time,
                    timezone,
                    encode_countries(countries, with_countries, members),
                    ",".join(topics),
                    datetime.now(UTC).isoformat(),
                    parse_delivery(delivery),
                ),
            ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise InputError(wording.text("errors.subscription.duplicate")) from None
        return _row(row)

    def get(self, sub_id: int) -> Subscription:
        row = self._run(f"SELECT {COLUMNS} FROM subscriptions WHERE id=%s", (sub_id,)).fetchone()
        if row is None:
            raise InputError(wording.text("errors.subscription.unknown", id=sub_id))
        return _row(row)

    def remove(self, sub_id: int, guild_id: int | None = None) -> Subscription:
        sub = self.get(sub_id)
        if guild_id is not None and sub.guild_id not in (None, guild_id):
            raise InputError(wording.text("errors.subscription.other_server", id=sub_id))
        self._run("DELETE FROM subscriptions WHERE id=%s", (sub_id,))
        return sub

    def list(self, guild_id: int | None = None) -> list[Subscription]:
        if guild_id is None:
            rows = self._run(f"SELECT {COLUMNS} FROM subscriptions ORDER BY id")
        else:
            rows = self._run(
                f"SELECT {COLUMNS} FROM subscriptions WHERE guild_id=%s ORDER BY id", (guild_id,)
            )
        return [_row(r) for r in rows.fetchall()]

    # --- the record of posted digests -----------------------------------------------------
    def last_article_id(self, sub_id: int) -> int | None:
        row = self._run(
            "SELECT max(last_article_id) FROM posted_digests WHERE subscription_id=%s", (sub_id,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def claim(self, sub_id: int, period: str, last_article_id: int) -> bool:
        """Reserve a period before posting; False when any process already has it."""
        cur = self._run(
            "INSERT INTO posted_digests VALUES (%s,%s,%s,%s,%s)"
            " ON CONFLICT (subscription_id, period) DO NOTHING",
            (sub_id, period, last_article_id, "posting", datetime.now(UTC).isoformat()),
        )
        return cur.rowcount == 1

    def release(self, sub_id: int, period: str) -> None:
        """Give a claimed period back after a failed post, so a later run may retry it."""
        self._run(
            "DELETE FROM posted_digests WHERE subscription_id=%s AND period=%s"
            " AND status='posting'",
            (sub_id, period),
        )

    def mark_posted(self, sub_id: int, period: str) -> None:
        self._run(
            "UPDATE posted_digests SET status='posted', at=%s"
            " WHERE subscription_id=%s AND period=%s",
            (datetime.now(UTC).isoformat(), sub_id, period),
        )

    def posted(self, sub_id: int) -> list[tuple[str, int, str]]:
        rows = self._run(
            "SELECT period, last_article_id, status FROM posted_digests"
            " WHERE subscription_id=%s ORDER BY period",
            (sub_id,),
        ).fetchall()
        return [(p, int(a), s) for p, a, s in rows]
