"""The Discord client: slash commands, mentions, and the background work around them.

Every collaborator is built in one place, `bot.startup`, and handed to `BriefBot`'s
constructor. The client registers the commands (each given only what it uses),
starts the digest scheduler and feed polling in `setup_hook` and stops them in
`close`. Library work runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from retrieval import BriefbotError, Corpus, InputError, wording
from retrieval.atomic import write_atomic
from retrieval.feeds import FeedPoller, FeedRegistry

from . import commands, handlers
from .digests import DigestPoster
from .embeds import inert, render
from .interactions import NO_PINGS, report_error
from .limits import AskLimits
from .replies import Reply
from .scheduler import DigestScheduler
from .settings import BotSettings
from .subscriptions import SubscriptionStore
from .watch_alerts import WatchAlerter
from .watch_commands import watch_group
from .watches import WatchStore
from .workers import WorkerThreads

log = logging.getLogger(__name__)
SYNC_STATE = "commands-sync.json"


def shard_options(settings: BotSettings) -> dict[str, Any]:
    """discord.py's shard arguments for this process, or nothing (unsharded).

    One shard (`shard_id`) for a `BriefBot`; several, or all of them when `shard_ids` is
    empty, (`shard_ids`) for a `ShardedBriefBot`. Each process schedules every digest
    (the claim in the database posts a period once, whichever is up), so sharding here
    splits the gateway's events, not the digests. `bot.startup` checks the values before
    a client is built (`check_shards`)."""
    if not settings.shard_count:
        return {}
    if several_shards(settings):
        ids = list(settings.shard_ids) or None  # None: every shard of shard_count
        return {"shard_ids": ids, "shard_count": settings.shard_count}
    return {"shard_id": settings.shard_ids[0], "shard_count": settings.shard_count}


def several_shards(settings: BotSettings) -> bool:
    """Whether this process connects more than one shard (an AutoShardedClient)."""
    return bool(settings.shard_count) and len(settings.shard_ids) != 1


def check_shards(settings: BotSettings) -> None:
    """InputError (one line) unless the shard settings name distinct shards of
    `shard_count` (none named: all of them, in this process)."""
    count, ids = settings.shard_count, settings.shard_ids
    if not count and not ids:
        return
    if not count or len(set(ids)) != len(ids) or not all(0 <= i < count for i in ids):
        raise InputError(
            f"[discord] shard_ids must name distinct shards of shard_count"
            f" (got shard_count = {count}, shard_ids = {list(ids)})"
        )


class BriefBot(discord.Client):
    def __init__(
        self,
        corpus: Corpus,
        settings: BotSettings,
        *,
        workers: WorkerThreads,
        subscriptions: SubscriptionStore,
        digests: DigestScheduler,
        poster: DigestPoster,
        feeds: FeedRegistry,
        poller: FeedPoller,
        watches: WatchStore,
        alerter: WatchAlerter,
        force_sync: bool = False,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True  # mentions carry their content without the privileged intent
        intents.dm_messages = True
        super().__init__(
            intents=intents,
            allowed_mentions=NO_PINGS,
            guild_ready_timeout=settings.guild_ready_timeout,
            **shard_options(settings),
        )
        self.corpus = corpus
        self.settings = settings
        self.workers = workers
        self.subscriptions = subscriptions
        self.digests = digests
        self.poster = poster
        self.feeds = feeds
        self.poller = poller
        self.watches = watches
        self.alerter = alerter
        self.force_sync = force_sync
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = report_error
        # One set of limits for /ask and mentions: asking both ways is not twice the rate.
        self.limits = AskLimits(
            settings.ask_cooldown_seconds,
            settings.ask_channel_per_minute,
            settings.max_question_chars,
        )
        self._add_commands()

    def _add_commands(self) -> None:
        commands.register(
            self.tree,
            corpus=self.corpus,
            workers=self.workers,
            subscriptions=self.subscriptions,
            digests=self.digests,
            limits=self.limits,
        )
        commands.register_admin(
            self.tree, subscriptions=self.subscriptions, digests=self.digests, feeds=self.feeds
        )
        self.tree.add_command(watch_group(self.corpus, self.workers, self.watches))

    # --- lifecycle ------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        try:
            await self.sync_commands()
        except discord.HTTPException as exc:  # commands still work if already registered
            log.error("could not sync slash commands: %s", exc)
        self.start_background_work()

    def start_background_work(self) -> None:
        """Scheduled digests (jobs from the subscriptions, re-read every minute: the CLI may
        have changed them) and feed polls (the first one right away)."""
        self.poster.deliver_via(self, notify=self.tell_admins)
        self.alerter.start(self, notify=self.tell_admins)
        self.digests.start(self.subscriptions.list())
        self.digests.every(
            60, lambda: self.digests.sync(self.subscriptions.list()), job_id="sync-subscriptions"
        )
        self.digests.every(60, self.poll_feeds, job_id="poll-feeds", first_run=datetime.now(UTC))

    async def poll_feeds(self) -> None:
        """Fetch due feeds off the loop; ingest, tag and index what is new, live."""
        results = await asyncio.to_thread(self.poller.poll_due)
        for result in results:
            if result.items:
                ingest = functools.partial(self.corpus.ingest_items, save_index=False)
                report = await self.workers.run(ingest, result.items, False)
                self.feeds.record_added(result.feed.id, report.added)
                log.info("feed %s: %d new articles", result.feed.label, report.added)
            if result.alert or result.recovered:
                notice = wording.text(
                    "discord.admin.feed", label=inert(result.feed.label), status=result.feed.status
                )
                await self.tell_admins(notice)
        await self.check_watches()

    async def check_watches(self) -> None:
        """Alerts for what arrived since the last check (feeds, or `briefbot ingest`)."""
        try:
            await self.alerter.check()
        except Exception:  # a failed check must not stop the feed polls
            log.exception("checking the watches failed")

    async def tell_admins(self, text: str) -> None:
        channel_id = self.settings.admin_channel_id
        if not channel_id:
            return
        try:
            channel = self.get_channel(channel_id) or await self.fetch_channel(channel_id)
            await channel.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("could not post to the admin channel %s", channel_id)

    async def close(self) -> None:
        self.digests.shutdown()
        await super().close()
        await self.workers.run(self.corpus.flush)  # the index that feed polls left unsaved

    async def sync_commands(self) -> None:
        """Sync to the dev guild (instant) or globally, only when the command set changed."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        target = f"{self.application_id}:{guild.id if guild else 'global'}"
        state_path = Path(self.corpus.data_dir) / SYNC_STATE
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            state = {}
        if not self.force_sync and state.get(target) == digest:
            log.info("commands unchanged since the last sync (%s); not syncing", target)
            return
        synced = await self.tree.sync(guild=guild)
        state[target] = digest
        write_atomic(state_path, json.dumps(state, indent=1))
        log.info("synced %d commands (%s)", len(synced), target)

    async def on_ready(self) -> None:
        stats = self.corpus.stats()
        ready = wording.text(
            "cli.ready",
            user=self.user,
            user_id=self.user.id if self.user else "?",
            guilds=len(self.guilds),
            articles=stats.articles,
        )
        print(ready, file=sys.stderr, flush=True)

    # --- mentions -------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or self.user not in message.mentions:
            return
        question = re.sub(rf"<@!?{self.user.id}>", " ", message.content).strip()
        try:
            if not question:
                reply = handlers.help_reply()
            else:
                self.limits.check(question, message.author.id, message.channel.id)
                job = self.workers.submit(handlers.ask, self.corpus, question, None)
                async with message.channel.typing():
                    reply = await job
        except BriefbotError as exc:
            reply = Reply(kind="error", title=str(exc))
        except Exception:
            log.exception("answering a mention failed")
            reply = Reply(kind="error", title=wording.text("discord.errors.mention_failed"))
        messages = render(reply)
        await message.reply(embeds=messages[0], mention_author=False, allowed_mentions=NO_PINGS)
        for embeds in messages[1:]:
            await message.channel.send(embeds=embeds, allowed_mentions=NO_PINGS)


class ShardedBriefBot(BriefBot, discord.AutoShardedClient):
    """`BriefBot` connecting several gateway shards from one process ([discord]
    `shard_ids = [0, 1]`, or every shard of `shard_count` when `shard_ids` is empty)."""


__all__ = ["SYNC_STATE", "BriefBot", "ShardedBriefBot"]
