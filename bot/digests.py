"""Posting scheduled digests to their channels, exactly once per period, with no gaps.

Each digest covers the articles ingested after the last one the subscription's
previous digest covered (the first covers the configured window). The period is
claimed in the record before sending, released if sending fails, and marked
posted after: a restart can never post the same period twice.

With `threads` or `forum` delivery each story goes to its own thread (`bot.threads`);
a story that already has one, from an earlier digest, gets a short update there
instead (`bot.story_threads` remembers which, across restarts, and claims a new thread
before it is started, so processes sharing the record never start two for a story; a
watch's alerts about the story may go into it too). When Discord refuses
for want of a permission, the admins are told in one line (and the channel, where
the bot can still write) and the period is released, so the next digest covers it;
the scheduler goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import discord

from retrieval import Corpus, InputError, parse_since, wording
from retrieval.digest import Digest, Story

from . import handlers, threads
from .embeds import render
from .interactions import NO_PINGS
from .replies import Reply
from .story_threads import StoryThread, StoryThreads, StoryThreadStore
from .subscriptions import CHANNEL, FORUM, Subscription, SubscriptionStore
from .threads import Channels
from .workers import WorkerThreads

log = logging.getLogger(__name__)


# Tells the server's admins something (the bot's admin channel).
Notify = Callable[[str], Awaitable[None]]


class DigestPoster:
    """Posts a subscription's due digest; the scheduler calls it with the subscription id.

    It is built before the client (the scheduler that calls it is handed to the
    client's constructor), so the client hands itself over with `deliver_via` when
    it connects.
    """

    def __init__(
        self,
        corpus: Corpus,
        store: SubscriptionStore,
        workers: WorkerThreads,
        story_threads: StoryThreads | None = None,
    ) -> None:
        self.corpus = corpus
        self.store = store
        self.workers = workers
        self.story_threads = story_threads or StoryThreadStore(store.path)
        self.channels: Channels | None = None
        self.notify: Notify | None = None

    def deliver_via(self, channels: Channels, notify: Notify | None = None) -> None:
        self.channels = channels
        self.notify = notify

    async def __call__(self, subscription_id: int, now: datetime | None = None) -> bool:
        """Post the digest due for this subscription; False when there was nothing to do."""
        if self.channels is None:
            raise RuntimeError("DigestPoster has nowhere to post: call deliver_via() first")
        now = now or datetime.now(UTC)
        try:
            sub = self.store.get(subscription_id)
        except InputError:  # removed meanwhile: nothing to post
            log.info("digest #%s: subscription is gone", subscription_id)
            return False
        period = sub.period(now)
        cfg = self.corpus.settings.digest
        last = self.store.last_article_id(sub.id)
        filters = replace(
            sub.filters(since=parse_since(cfg.since, now) if last is None else None, after_id=last),
            topics=sub.topics or tuple(cfg.topics),
        )
        digest = await self.workers.run(self.corpus.digest, filters, cfg.max_stories)
        covered = max(digest.last_article_id, last or 0)
        if not self.store.claim(sub.id, period, covered):
            log.info("digest #%s for %s was already posted", sub.id, period)
            return False
        if not digest.stories and cfg.when_empty == "skip":
            self.store.mark_posted(sub.id, period)
            return False
        try:
            if sub.delivery == CHANNEL or not digest.stories:
                title = wording.text("digest.scheduled_title")
                reply = handlers.digest_reply(self.corpus, digest, title=title)
                await self._send(self.channels, sub, reply)
            else:
                await self._deliver_stories(self.channels, sub, digest, now)
        except BaseException as exc:
            self.store.release(sub.id, period)
            if _refusal(exc):  # the admins are told; the scheduler goes on
                await self._refused(sub, exc)  # type: ignore[arg-type]
                return False
            log.exception("digest #%s could not be posted to channel %s", sub.id, sub.channel_id)
            raise
        self.store.mark_posted(sub.id, period)
        log.info("posted digest #%s for %s: %d stories", sub.id, period, len(digest.stories))
        return True

    async def _send(self, channels: Channels, sub: Subscription, reply: Reply) -> None:
        channel = await _channel(channels, sub.channel_id)
        if isinstance(channel, discord.ForumChannel):  # nothing to start a post with: skip
            log.info("digest #%s: no new stories for forum %s", sub.id, sub.channel_id)
            return
        for embeds in render(reply):
            await channel.send(embeds=embeds, allowed_mentions=NO_PINGS)

    # --- a thread per story ---------------------------------------------------------------
    async def _deliver_stories(
        self, channels: Channels, sub: Subscription, digest: Digest, now: datetime
    ) -> None:
        channel = await _channel(channels, sub.channel_id)
        if sub.delivery == FORUM and not isinstance(channel, discord.ForumChannel):
            raise InputError(
                wording.text("discord.threads.not_forum", id=sub.id, channel=sub.channel_id)
            )
        if sub.delivery != FORUM and not isinstance(channel, discord.TextChannel):
            raise InputError(
                wording.text("discord.threads.not_text", id=sub.id, channel=sub.channel_id)
            )
        for story in digest.stories:
            await self._deliver_story(channels, channel, sub, digest, story, now)

    async def _deliver_story(
        self,
        channels: Channels,
        channel: discord.TextChannel | discord.ForumChannel,
        sub: Subscription,
        digest: Digest,
        story: Story,
        now: datetime,
    ) -> None:
        """An update in the story's thread when it has one; else a new thread (or post),
        claimed in the record first so that no two processes start one for a story."""
        newest = max(a.id for a in story.articles)
        record = self.story_threads
        known = record.get(sub.id, sub.channel_id, story.id) if story.id > 0 else None
        note = ""
        if known is not None:
            if await self._update(channels, sub, digest, story, known, now):
                return
            note = wording.text("discord.threads.continues", thread=known.thread_id)
        if story.id > 0:
            gone = known.thread_id if known else None
            if not record.claim(sub.id, sub.channel_id, story.id, newest, replacing=gone):
                started = await record.started(sub.id, sub.channel_id, story.id)
                if started is None or not await self._update(
                    channels, sub, digest, story, started, now
                ):
                    busy = "digest #%s: another process is starting story %s's thread"
                    log.warning(busy, sub.id, story.id)
                return
        reply = threads.story_reply(self.corpus, digest, story, note)
        name = threads.thread_name(story)
        try:
            if isinstance(channel, discord.ForumChannel):
                made = await threads.forum_post(channel, reply, name, threads.tag_names(story))
            else:
                made = await threads.start_thread(channel, reply, name)
        except BaseException:
            if story.id > 0:
                record.release(sub.id, sub.channel_id, story.id)
            raise
        if story.id > 0:
            record.record(sub.id, sub.channel_id, story.id, made.id, newest)

    async def _update(
        self,
        channels: Channels,
        sub: Subscription,
        digest: Digest,
        story: Story,
        known: StoryThread,
        now: datetime,
    ) -> bool:
        """What is new in the story, posted in its thread; False when the thread is gone."""
        fresh = [a for a in story.articles if a.id > known.last_article_id]
        if not fresh:  # posted before this period was retried
            return True
        update = threads.update_reply(
            self.corpus, digest, replace(story, articles=fresh), known.updated, now.date()
        )
        if not await threads.post_update(channels, known.thread_id, update):
            return False
        newest = max(a.id for a in story.articles)
        self.story_threads.record(sub.id, sub.channel_id, story.id, known.thread_id, newest)
        return True

    async def _refused(self, sub: Subscription, exc: discord.HTTPException | InputError) -> None:
        """One clear line for the admins (and the channel, if the bot may still write there)."""
        if isinstance(exc, InputError):
            text = str(exc)
        else:
            text = wording.text(
                "discord.threads.refused",
                id=sub.id,
                channel=sub.channel_id,
                delivery=sub.delivery,
                error=getattr(exc, "text", "") or str(exc),
            )
        log.warning("digest #%s: %s", sub.id, text)
        if self.notify is not None:
            await self.notify(text)
        if self.channels is None:
            return
        try:
            channel = await _channel(self.channels, sub.channel_id)
            if isinstance(channel, discord.TextChannel):
                await channel.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            pass  # not even that: the log and the admin channel have it


def _refusal(exc: BaseException) -> bool:
    """Discord refused for a permission, or the channel no longer fits the delivery."""
    if isinstance(exc, discord.HTTPException):
        return threads.missing_permission(exc)
    return isinstance(exc, InputError)


async def _channel(channels: Channels, channel_id: int) -> Any:
    return channels.get_channel(channel_id) or await channels.fetch_channel(channel_id)
