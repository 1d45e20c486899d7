"""Posting scheduled digests to their channels, exactly once per period, with no gaps.

Each digest covers the articles ingested after the last one the subscription's
previous digest covered (the first covers the configured window). The period is
claimed in the record before sending, released if sending fails, and marked
posted after: a restart can never post the same period twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import discord

from retrieval import Corpus, InputError, parse_since, wording

from . import handlers
from .embeds import render
from .replies import Reply
from .subscriptions import SubscriptionStore
from .workers import WorkerThreads

log = logging.getLogger(__name__)


class Channels(Protocol):
    """What posting needs of the connected client: finding a channel by id."""

    def get_channel(self, id: int, /) -> Any: ...

    async def fetch_channel(self, channel_id: int, /) -> Any: ...


class DigestPoster:
    """Posts a subscription's due digest; the scheduler calls it with the subscription id.

    It is built before the client (the scheduler that calls it is handed to the
    client's constructor), so the client hands itself over with `deliver_via` when
    it connects.
    """

    def __init__(self, corpus: Corpus, store: SubscriptionStore, workers: WorkerThreads) -> None:
        self.corpus = corpus
        self.store = store
        self.workers = workers
        self.channels: Channels | None = None

    def deliver_via(self, channels: Channels) -> None:
        self.channels = channels

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
        title = wording.text("digest.scheduled_title")
        reply = handlers.digest_reply(self.corpus, digest, title=title)
        try:
            await self._send(self.channels, sub.channel_id, reply)
        except BaseException:
            self.store.release(sub.id, period)
            log.exception("digest #%s could not be posted to channel %s", sub.id, sub.channel_id)
            raise
        self.store.mark_posted(sub.id, period)
        log.info("posted digest #%s for %s: %d stories", sub.id, period, len(digest.stories))
        return True

    async def _send(self, channels: Channels, channel_id: int, reply: Reply) -> None:
        channel = channels.get_channel(channel_id) or await channels.fetch_channel(channel_id)
        for embeds in render(reply):
            await channel.send(embeds=embeds, allowed_mentions=discord.AllowedMentions.none())
