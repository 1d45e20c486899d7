"""Which Discord thread (or forum post) follows which story, for each subscription.

Kept beside the subscriptions (`subscriptions.sqlite3`), so a restarted bot finds a
story's thread again: a later digest posts what is new in the story there, not a new
section. `last_article_id` is the newest article of the story already posted, so a
retried digest period never posts the same update twice. The channel is part of the
key: a subscription id SQLite reuses after a removal cannot inherit another channel's
threads. The owner `WATCHES` (0, no subscription has it) is the row a channel's watch
alerts keep for a story: the thread they post updates in, or, until one is started, the
first alert's message it will be started from (a thread started from a message takes
the message's id).

Starting a thread is claimed in the record first (`claim`: one statement, INSERT … ON
CONFLICT), so of several processes sharing the record (`StoryThreads` on PostgreSQL,
`bot.story_threads_pg`) exactly one starts a story's thread; a claimed row has thread
id `PENDING` until `record` stores the real one, and a claim older than
`PENDING_TIMEOUT` (its process died) may be taken over.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .subscriptions import SUBSCRIPTIONS_FILE, BotRecords

STORY_THREADS_FILE = SUBSCRIPTIONS_FILE
SCHEMA = """
CREATE TABLE IF NOT EXISTS story_threads (
    subscription_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    story_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    last_article_id INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (subscription_id, channel_id, story_id)
);
CREATE INDEX IF NOT EXISTS story_threads_by_story ON story_threads(channel_id, story_id);
"""
WATCHES = 0  # the owner of a channel's watch-alert thread for a story (subscriptions are ≥ 1)
PENDING = 0  # thread_id while the claiming process starts the thread
PENDING_TIMEOUT = timedelta(minutes=5)  # a claim this old was left by a process that died
NONE = -1  # no thread id: a claim that replaces nothing
_COLUMNS = "subscription_id, channel_id, story_id, thread_id, last_article_id, updated"


@dataclass(frozen=True)
class StoryThread:
    subscription_id: int
    channel_id: int
    story_id: int
    thread_id: int
    last_article_id: int
    updated: datetime  # when the thread was last posted to


class StoryThreads:
    """The record's queries, in SQL both engines speak (as `SubscriptionQueries`): an
    engine supplies `_run` (one statement on this thread's connection, its cursor) and
    its parameter mark `MARK`."""

    MARK = "?"

    def _run(self, sql: str, args: tuple = ()) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.MARK)

    def get(self, subscription_id: int, channel_id: int, story_id: int) -> StoryThread | None:
        """The owner's started thread for the story (not a claim still pending)."""
        row = self._run(
            self._sql(
                f"SELECT {_COLUMNS} FROM story_threads WHERE subscription_id=? AND channel_id=?"
                " AND story_id=? AND thread_id<>?"
            ),
            (subscription_id, channel_id, story_id, PENDING),
        ).fetchone()
        return _thread(row) if row else None

    def find(self, channel_id: int, story_id: int) -> list[StoryThread]:
        """Every started thread following the story in this channel, whoever started it:
        the watches' own first, then the most recently posted to."""
        rows = self._run(
            self._sql(
                f"SELECT {_COLUMNS} FROM story_threads WHERE channel_id=? AND story_id=?"
                " AND thread_id<>? ORDER BY subscription_id<>?, updated DESC"
            ),
            (channel_id, story_id, PENDING, WATCHES),
        ).fetchall()
        return [_thread(r) for r in rows]

    def claim(
        self,
        subscription_id: int,
        channel_id: int,
        story_id: int,
        last_article_id: int,
        *,
        replacing: int | None = None,
    ) -> bool:
        """Reserve starting the story's thread; False when another process has (or just
        replaced the thread `replacing`, the one this caller found gone)."""
        now = datetime.now(UTC)
        stale = (now - PENDING_TIMEOUT).isoformat()
        cur = self._run(
            self._sql(
                "INSERT INTO story_threads VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT (subscription_id, channel_id, story_id) DO UPDATE SET"
                " thread_id=excluded.thread_id, updated=excluded.updated"
                " WHERE (story_threads.thread_id=? AND story_threads.updated<?)"
                " OR story_threads.thread_id=?"
            ),
            (
                *(subscription_id, channel_id, story_id, PENDING, last_article_id),
                *(now.isoformat(), now.isoformat(), PENDING, stale),
                NONE if replacing is None else replacing,
            ),
        )
        return cur.rowcount == 1

    def release(self, subscription_id: int, channel_id: int, story_id: int) -> None:
        """Give up a claim after failing to start the thread (a later try may claim it)."""
        self._run(
            self._sql(
                "DELETE FROM story_threads WHERE subscription_id=? AND channel_id=?"
                " AND story_id=? AND thread_id=?"
            ),
            (subscription_id, channel_id, story_id, PENDING),
        )

    def record(
        self,
        subscription_id: int,
        channel_id: int,
        story_id: int,
        thread_id: int,
        last_article_id: int,
        at: datetime | None = None,
    ) -> None:
        """The story's thread (new, or a replacement for one gone) and what it has posted,
        `at` (now by default)."""
        now = (at or datetime.now(UTC)).isoformat()
        self._run(
            self._sql(
                "INSERT INTO story_threads VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT (subscription_id, channel_id, story_id) DO UPDATE SET"
                " thread_id=excluded.thread_id, last_article_id=excluded.last_article_id,"
                " updated=excluded.updated"
            ),
            (subscription_id, channel_id, story_id, thread_id, last_article_id, now, now),
        )

    def list(self, subscription_id: int) -> list[StoryThread]:
        rows = self._run(
            self._sql(
                f"SELECT {_COLUMNS} FROM story_threads WHERE subscription_id=? AND thread_id<>?"
                " ORDER BY story_id"
            ),
            (subscription_id, PENDING),
        ).fetchall()
        return [_thread(r) for r in rows]

    async def started(
        self, subscription_id: int, channel_id: int, story_id: int, timeout: float = 10.0
    ) -> StoryThread | None:
        """The thread another process claimed, once it has started it (None if it has not
        within `timeout` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.get(subscription_id, channel_id, story_id)
            if found is not None or loop.time() >= deadline:
                return found
            await asyncio.sleep(0.2)


class StoryThreadStore(StoryThreads, BotRecords):
    """The record in the data directory's SQLite file."""

    SCHEMA = SCHEMA

    def _run(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, args)


def _thread(row: tuple) -> StoryThread:
    return StoryThread(*(int(v) for v in row[:5]), updated=datetime.fromisoformat(row[5]))
