"""Watch alerts in a story's thread: the channel's thread for the story found again (any
thread the record has for it there, a digest's included), or started from the watches'
first alert of the story.

The channel's watches keep one row per story in the story-threads record (owner
`WATCHES`): the first alert's message id until a thread is started from it (the thread
then has that same id), and `updated`, when the story last had a message, which the
alerter's per-story limit reads. Starting the thread is claimed in the record, so of
several processes exactly one starts it; the others wait for it and post in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord

from . import threads
from .embeds import cut, plain
from .story_threads import WATCHES, StoryThreads
from .threads import Channels

log = logging.getLogger(__name__)
THREAD_EXISTS = 160004  # Discord: a thread has already been started from this message


@dataclass(frozen=True)
class Payload:
    """One alert message as rendered: its text (with the role mention, if any), embed and
    the mentions Discord may act on."""

    content: str
    embed: discord.Embed
    mentions: discord.AllowedMentions

    def kwargs(self) -> dict[str, Any]:
        return {"content": self.content, "embed": self.embed, "allowed_mentions": self.mentions}


class StoryFollower:
    """Posts a channel's watch updates in its stories' threads (one record, any engine)."""

    def __init__(self, record: StoryThreads) -> None:
        self.record = record

    def first_alert(
        self, channel_id: int, story: int, message_id: int, last_article_id: int, at: datetime
    ) -> None:
        """A story's top-level alert: the message its thread will start from, unless the
        channel's watches already follow the story somewhere."""
        if self.record.get(WATCHES, channel_id, story) is None:
            self.record.record(WATCHES, channel_id, story, message_id, last_article_id, at)

    async def post(
        self,
        channels: Channels,
        channel_id: int,
        story: int,
        name: str,
        payload: Payload,
        last_article_id: int,
        at: datetime,
    ) -> bool:
        """Post in the story's thread; False when there is none to be had (the caller posts
        in the channel). A refusal for want of a permission is raised."""
        args = (channel_id, story, payload, last_article_id, at)
        for known in self.record.find(channel_id, story):
            thread = await threads.open_thread(channels, known.thread_id)
            if thread is not None and await self._send(thread, *args):
                return True
        mine = self.record.get(WATCHES, channel_id, story)
        if mine is None:
            return False
        thread = await self._start(
            channels, channel_id, story, mine.thread_id, name, last_article_id
        )
        return thread is not None and await self._send(thread, *args)

    async def _send(
        self,
        thread: discord.Thread,
        channel_id: int,
        story: int,
        payload: Payload,
        last_article_id: int,
        at: datetime,
    ) -> bool:
        try:
            await thread.send(**payload.kwargs())
        except discord.NotFound:
            return False
        except discord.HTTPException as exc:
            if exc.code != threads.ARCHIVED:
                raise
            return False
        self.record.record(WATCHES, channel_id, story, thread.id, last_article_id, at)
        return True

    async def _start(
        self,
        channels: Channels,
        channel_id: int,
        story: int,
        anchor: int,
        name: str,
        last_article_id: int,
    ) -> discord.Thread | None:
        """A thread started from the first alert's message (`anchor`), claimed first; None
        when that message is gone or its thread closed for good."""
        if not self.record.claim(WATCHES, channel_id, story, last_article_id, replacing=anchor):
            started = await self.record.started(WATCHES, channel_id, story)  # another process's
            return await threads.open_thread(channels, started.thread_id) if started else None
        try:
            channel = channels.get_channel(channel_id) or await channels.fetch_channel(channel_id)
            thread = await channel.get_partial_message(anchor).create_thread(
                name=cut(plain(name), threads.THREAD_NAME_LIMIT) or str(story),
                auto_archive_duration=threads.ARCHIVE_MINUTES,
            )
        except discord.HTTPException as exc:
            # Started meanwhile by another process (whose record this claim overwrote)?
            found = (
                await threads.open_thread(channels, anchor) if exc.code == THREAD_EXISTS else None
            )
            if found is not None:
                self.record.record(WATCHES, channel_id, story, found.id, last_article_id)
                return found
            self.record.release(WATCHES, channel_id, story)
            if threads.missing_permission(exc):
                raise
            log.info("story %s: no thread from alert %s in %s: %s", story, anchor, channel_id, exc)
            return None
        self.record.record(WATCHES, channel_id, story, thread.id, last_article_id)
        return thread
