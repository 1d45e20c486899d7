"""Posting scheduled digests to their channels, exactly once per period, with no gaps.

Each digest covers the articles ingested after the last one the subscription's
previous digest covered (the first covers the configured window). The period is
claimed in the record before sending, released if sending fails, and marked
posted after: a restart can never post the same period twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from retrieval import Filters, InputError, parse_since

from . import handlers
from .embeds import render
from .subscriptions import SubscriptionStore

if TYPE_CHECKING:
    from .app import BriefBot

log = logging.getLogger(__name__)


class DigestPoster:
    def __init__(self, bot: BriefBot, store: SubscriptionStore) -> None:
        self.bot = bot
        self.store = store

    async def __call__(self, subscription_id: int, now: datetime | None = None) -> bool:
        """Post the digest due for this subscription; False when there was nothing to do."""
        now = now or datetime.now(UTC)
        try:
            sub = self.store.get(subscription_id)
        except InputError:  # removed meanwhile: nothing to post
            log.info("digest #%s: subscription is gone", subscription_id)
            return False
        period = sub.period(now)
        cfg = self.bot.corpus.settings.digest
        last = self.store.last_article_id(sub.id)
        filters = Filters(
            countries=sub.countries,
            topics=sub.topics or tuple(cfg.topics),
            since=parse_since(cfg.since, now) if last is None else None,
            after_id=last,
        )
        digest = await self.bot.run(self.bot.corpus.digest, filters, cfg.max_stories)
        covered = max(digest.last_article_id, last or 0)
        if not self.store.claim(sub.id, period, covered):
            log.info("digest #%s for %s was already posted", sub.id, period)
            return False
        if not digest.stories and cfg.when_empty == "skip":
            self.store.mark_posted(sub.id, period)
            return False
        reply = handlers.digest_reply(self.bot.corpus, digest, title="Daily digest")
        try:
            channel = self.bot.get_channel(sub.channel_id) or await self.bot.fetch_channel(
                sub.channel_id
            )
            for embeds in render(reply):
                await channel.send(embeds=embeds, allowed_mentions=discord.AllowedMentions.none())
        except BaseException:
            self.store.release(sub.id, period)
            log.exception("digest #%s could not be posted to channel %s", sub.id, sub.channel_id)
            raise
        self.store.mark_posted(sub.id, period)
        log.info("posted digest #%s for %s: %d stories", sub.id, period, len(digest.stories))
        return True
