"""The feed registry on PostgreSQL: `FeedRegistry`'s twin for several feed workers.

Same tables (`feeds`, `feed_seen`), same public methods, same `Feed` rows (times kept as
ISO text, so `Feed.from_row` reads both engines and `briefbot migrate` copies rows as
they are). What differs is `claim_due`: several processes poll one database, and a feed
must be polled by one of them at a time. A worker takes the due rows with
`SELECT … FOR UPDATE SKIP LOCKED` (a row another worker is claiming is skipped, never
waited on) and, in the same transaction, moves their `next_poll_after` one `lease` ahead;
after the commit no other worker sees them due. The poll's `record_success` /
`record_failure` then writes the real next time. A worker that dies mid-poll only delays
its feeds by the lease: then they are due again for anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from ..postgres.connections import PgConnections
from .registry import SQL_VARIABLES, DuplicateFeed, Feed, RegistryLookups, _digest, _iso, _now

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT,
    created TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_polled TEXT,
    last_ok TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    alerted INTEGER NOT NULL DEFAULT 0,
    next_poll_after TEXT,
    seen INTEGER NOT NULL DEFAULT 0,
    added INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS feed_seen (
    seq BIGSERIAL PRIMARY KEY,
    feed_id BIGINT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    UNIQUE (feed_id, key)
);
"""
# How long a claimed feed stays out of the other workers' `claim_due`: longer than a poll.
DEFAULT_LEASE = timedelta(minutes=10)


class PgFeedRegistry(RegistryLookups):
    """The subscribed feeds in PostgreSQL; `claim_due` hands each due feed to one worker."""

    MARK = "%s"

    def __init__(
        self,
        url: str,
        *,
        max_seen: int = 10_000,
        allow_private: bool = False,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.url = url
        self.allow_private = allow_private
        self.max_seen = max_seen
        self.lease = lease
        self._connections = PgConnections(url)
        self._connections.create_tables(SCHEMA)

    def _rows(self, sql: str, args: Iterable[object] = ()) -> list[dict]:
        with self._connections.get().cursor(row_factory=dict_row) as cur:
            cur.execute(sql, tuple(args))
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> PgFeedRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _insert(self, url: str, name: str | None, created: str) -> Feed:
        try:
            rows = self._rows(
                "INSERT INTO feeds (url, name, created) VALUES (%s, %s, %s) RETURNING *",
                (url, name, created),
            )
        except psycopg.errors.UniqueViolation:
            raise DuplicateFeed(url) from None
        return Feed.from_row(rows[0])

    def claim_due(self, now: datetime | None = None) -> list[Feed]:
        """The due feeds no other worker holds, leased to this one (see the module doc)."""
        now = now or _now()
        with self._connections.transaction(write=False) as db:
            with db.cursor(row_factory=dict_row) as cur:
                cur.execute("SELECT * FROM feeds ORDER BY id FOR UPDATE SKIP LOCKED")
                rows = [Feed.from_row(r) for r in cur.fetchall()]
            due = [f for f in rows if f.next_poll_after is None or f.next_poll_after <= now]
            if due:
                db.execute(
                    "UPDATE feeds SET next_poll_after=%s WHERE id = ANY(%s)",
                    (_iso(now + self.lease), [f.id for f in due]),
                )
        return sorted(due, key=lambda f: f.next_poll_after or f.created)

    # --- polling state (written by FeedPoller) ---------------------------------------------
    def known_keys(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        by_digest = {_digest(k): k for k in keys}
        digests = list(by_digest)
        known: set[str] = set()
        for start in range(0, len(digests), SQL_VARIABLES):
            rows = self._rows(
                "SELECT key FROM feed_seen WHERE feed_id=%s AND key = ANY(%s)",
                (feed_id, digests[start : start + SQL_VARIABLES]),
            )
            known.update(by_digest[r["key"]] for r in rows)
        return known

    def record_success(
        self,
        feed_id: int,
        *,
        now: datetime,
        next_after: datetime,
        etag: str | None,
        last_modified: str | None,
        name: str | None = None,
        keys: Iterable[str] = (),
        new: int = 0,
    ) -> Feed | None:
        with self._connections.transaction(write=False) as db:
            cur = db.execute(
                "UPDATE feeds SET last_polled=%s, last_ok=%s, consecutive_failures=0,"
                " last_error=NULL, alerted=0, next_poll_after=%s, etag=%s, last_modified=%s,"
                " name=COALESCE(name, %s), seen=seen+%s WHERE id=%s",
                (_iso(now), _iso(now), _iso(next_after), etag, last_modified, name, new, feed_id),
            )
            if cur.rowcount:
                self._remember(db, feed_id, keys)
        return self._find(feed_id)

    def _remember(self, db: psycopg.Connection, feed_id: int, keys: Iterable[str]) -> None:
        """Insert or refresh the keys (a refreshed key gets a new `seq`), keep the newest."""
        digests = list(dict.fromkeys(_digest(k) for k in keys))
        if not digests:
            return
        db.execute(
            "INSERT INTO feed_seen (feed_id, key) SELECT %s, unnest(%s::text[])"
            " ON CONFLICT (feed_id, key) DO UPDATE SET seq = nextval('feed_seen_seq_seq')",
            (feed_id, digests),
        )
        db.execute(
            "DELETE FROM feed_seen WHERE feed_id=%s AND seq NOT IN"
            " (SELECT seq FROM feed_seen WHERE feed_id=%s ORDER BY seq DESC LIMIT %s)",
            (feed_id, feed_id, max(self.max_seen, len(digests))),
        )

    def record_failure(
        self, feed_id: int, *, now: datetime, error: str, next_after: datetime, alerted: bool
    ) -> Feed | None:
        self._rows(
            "UPDATE feeds SET last_polled=%s, consecutive_failures=consecutive_failures+1,"
            " last_error=%s, next_poll_after=%s, alerted=GREATEST(alerted, %s) WHERE id=%s",
            (_iso(now), error, _iso(next_after), int(alerted), feed_id),
        )
        return self._find(feed_id)
