"""Which Discord thread (or forum post) follows which story, for each subscription.

Kept beside the subscriptions (`subscriptions.sqlite3`), so a restarted bot finds a
story's thread again: a later digest posts what is new in the story there, not a new
section. `last_article_id` is the newest article of the story already posted, so a
retried digest period never posts the same update twice. The channel is part of the
key: a subscription id SQLite reuses after a removal cannot inherit another channel's
threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
"""


@dataclass(frozen=True)
class StoryThread:
    subscription_id: int
    channel_id: int
    story_id: int
    thread_id: int
    last_article_id: int
    updated: datetime  # when the thread was last posted to


class StoryThreadStore(BotRecords):
    SCHEMA = SCHEMA

    def get(self, subscription_id: int, channel_id: int, story_id: int) -> StoryThread | None:
        row = self._db.execute(
            "SELECT subscription_id, channel_id, story_id, thread_id, last_article_id, updated"
            " FROM story_threads WHERE subscription_id=? AND channel_id=? AND story_id=?",
            (subscription_id, channel_id, story_id),
        ).fetchone()
        return _thread(row) if row else None

    def record(
        self,
        subscription_id: int,
        channel_id: int,
        story_id: int,
        thread_id: int,
        last_article_id: int,
    ) -> None:
        """The story's thread (new, or a replacement for one gone) and what it has posted."""
        now = datetime.now(UTC).isoformat()
        self._db.execute(
            "INSERT INTO story_threads VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (subscription_id, channel_id, story_id) DO UPDATE SET"
            " thread_id=excluded.thread_id, last_article_id=excluded.last_article_id,"
            " updated=excluded.updated",
            (subscription_id, channel_id, story_id, thread_id, last_article_id, now, now),
        )

    def list(self, subscription_id: int) -> list[StoryThread]:
        rows = self._db.execute(
            "SELECT subscription_id, channel_id, story_id, thread_id, last_article_id, updated"
            " FROM story_threads WHERE subscription_id=? ORDER BY story_id",
            (subscription_id,),
        )
        return [_thread(r) for r in rows]


def _thread(row: tuple) -> StoryThread:
    return StoryThread(*row[:5], updated=datetime.fromisoformat(row[5]))
