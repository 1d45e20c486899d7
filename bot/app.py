"""The Discord client: slash commands, mentions, and the lifecycle around them.

Composition root: `run_bot` builds the corpus (model and index loaded once),
points discord.py at the configured REST/gateway endpoints, and hands both to
`BriefBot`. Command handlers are thin: parse options (errors are ephemeral and
immediate), defer, run the shared handler in a worker thread, send the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import discord
import yarl
from discord import app_commands

from retrieval import BriefbotError, Corpus, InputError
from retrieval.feeds import FeedPoller, FeedRegistry

from . import handlers
from .digests import DigestPoster
from .embeds import render
from .replies import Reply
from .scheduler import DigestScheduler
from .settings import BotSettings
from .subscriptions import SubscriptionStore

log = logging.getLogger(__name__)
T = TypeVar("T")
NO_PINGS = discord.AllowedMentions.none()
SYNC_STATE = "commands-sync.json"
SUBSCRIPTIONS_FILE = "subscriptions.sqlite3"


class BriefBot(discord.Client):
    def __init__(self, corpus: Corpus, settings: BotSettings, *, force_sync: bool = False) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True  # mentions carry their content without the privileged intent
        intents.dm_messages = True
        super().__init__(
            intents=intents,
            allowed_mentions=NO_PINGS,
            guild_ready_timeout=settings.guild_ready_timeout,
        )
        self.corpus = corpus
        self.settings = settings
        self.force_sync = force_sync
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error
        self._slots = asyncio.Semaphore(max(1, settings.max_concurrent_queries))
        self._mention_cooldown = app_commands.Cooldown(1, settings.ask_cooldown_seconds)
        self._mention_cooldowns: dict[int, app_commands.Cooldown] = {}
        self._country_counts: tuple[float, dict[str, int]] = (0.0, {})
        from .commands import register, register_admin

        register(self.tree, self)
        register_admin(self.tree, self)

    # --- lifecycle ------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        try:
            await self.sync_commands()
        except discord.HTTPException as exc:  # commands still work if already registered
            log.error("could not sync slash commands: %s", exc)
        self.start_digests()

    def start_digests(self) -> None:
        """Scheduled digests: jobs from the subscriptions, re-read every minute (the CLI
        may have changed them)."""
        data_dir = Path(self.corpus.data_dir)
        self.subscriptions = SubscriptionStore(data_dir / SUBSCRIPTIONS_FILE)
        self.poster = DigestPoster(self, self.subscriptions)
        grace = int(self.corpus.settings.digest.grace_hours * 3600)
        self.digests = DigestScheduler(data_dir, self.poster, grace_seconds=grace)
        self.digests.start(self.subscriptions.list())
        self.digests.scheduler.add_job(
            lambda: self.digests.sync(self.subscriptions.list()),
            "interval",
            seconds=60,
            id="sync-subscriptions",
            jobstore="memory",
        )
        self.feeds = FeedRegistry(self.corpus.store.path)
        self.poller = FeedPoller(self.feeds, interval=self.settings.feed_interval_minutes * 60)
        self.digests.scheduler.add_job(
            self.poll_feeds,
            "interval",
            seconds=60,
            id="poll-feeds",
            jobstore="memory",
            next_run_time=datetime.now(UTC),
        )

    async def poll_feeds(self) -> None:
        """Fetch due feeds off the loop; ingest, tag and index what is new, live."""
        results = await asyncio.to_thread(self.poller.poll_due)
        for result in results:
            if result.items:
                ingest = functools.partial(self.corpus.ingest_items, save_index=False)
                report = await self.run(ingest, result.items, False)
                self.feeds.record_added(result.feed.id, report.added)
                log.info("feed %s: %d new articles", result.feed.label, report.added)
            if result.alert or result.recovered:
                await self.tell_admins(f"Feed {result.feed.label}: {result.feed.status}")

    async def tell_admins(self, text: str) -> None:
        channel_id = self.settings.admin_channel_id
        if not channel_id:
            return
        try:
            channel = self.get_channel(channel_id) or await self.fetch_channel(channel_id)
            await channel.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            log.warning("could not post to the admin channel %s", channel_id)

    def next_digests(self, guild_id: int | None = None) -> list[str]:
        out = []
        for sub in self.subscriptions.list(guild_id):
            when = self.digests.next_run(sub.id)
            stamp = discord.utils.format_dt(when, "R") if when else "not scheduled"
            out.append(f"{sub.describe()} — next {stamp}")
        return out

    async def close(self) -> None:
        digests = getattr(self, "digests", None)
        if digests is not None:
            digests.shutdown()
        await super().close()
        await self.run(self.corpus.flush)  # the index that feed polls left unsaved

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
        state_path.write_text(json.dumps(state, indent=1))
        log.info("synced %d commands (%s)", len(synced), target)

    async def on_ready(self) -> None:
        stats = self.corpus.stats()
        print(
            f"ready: logged in as {self.user} (id {self.user.id if self.user else '?'});"
            f" {len(self.guilds)} guilds; {stats.articles} articles",
            file=sys.stderr,
            flush=True,
        )

    # --- running library work off the event loop ---------------------------------------
    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound library work in a thread, a bounded number at a time."""
        async with self._slots:
            return await asyncio.to_thread(func, *args)

    def country_counts(self) -> dict[str, int]:
        """Articles per country in the corpus, cached for a minute (autocomplete is hot)."""
        at, counts = self._country_counts
        if time.monotonic() - at > 60:
            counts = dict(self.corpus.store.country_counts())
            self._country_counts = (time.monotonic(), counts)
        return counts

    # --- replies --------------------------------------------------------------------------
    async def answer(
        self, interaction: discord.Interaction, handler: Callable[..., Reply], *args: Any
    ) -> None:
        """Acknowledge at once (Discord allows 3 s), run the handler off the loop, reply."""
        await interaction.response.defer(thinking=True)
        reply = await self.run(handler, *args)
        await self.send_interaction_reply(interaction, reply)

    async def send_interaction_reply(self, interaction: discord.Interaction, reply: Reply) -> None:
        messages = render(reply)
        ephemeral = reply.ephemeral
        if not interaction.response.is_done():
            await interaction.response.send_message(
                embeds=messages[0], ephemeral=ephemeral, allowed_mentions=NO_PINGS
            )
            rest = messages[1:]
        else:
            rest = messages
        for embeds in rest:
            await interaction.followup.send(
                embeds=embeds, ephemeral=ephemeral, allowed_mentions=NO_PINGS
            )

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Known errors become a short ephemeral message; the unknown are logged in full."""
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.CommandOnCooldown):
            text = f"You're asking too fast — try again in {error.retry_after:.0f}s."
        elif isinstance(error, app_commands.MissingPermissions):
            text = "You need the Manage Server permission to manage digests."
        elif isinstance(error, app_commands.NoPrivateMessage):
            text = "Digests are set up in a server channel, not in direct messages."
        elif isinstance(original, BriefbotError):
            text = str(original)
        else:
            log.error(
                "command %s failed", getattr(interaction.command, "name", "?"), exc_info=original
            )
            text = "Sorry — something went wrong on our side. It has been logged."
        await self._send_error(interaction, text)

    async def _send_error(self, interaction: discord.Interaction, text: str) -> None:
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(
                    text, ephemeral=True, allowed_mentions=NO_PINGS
                )
        except discord.HTTPException:
            log.exception("could not report an error to the user")

    # --- mentions -------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or self.user not in message.mentions:
            return
        question = re.sub(rf"<@!?{self.user.id}>", " ", message.content).strip()
        try:
            if not question:
                reply = handlers.help_reply()
            else:
                self._check_mention_cooldown(message.author.id)
                async with message.channel.typing():
                    reply = await self.run(handlers.ask, self.corpus, question, None)
        except BriefbotError as exc:
            reply = Reply(kind="error", title=str(exc))
        except Exception:
            log.exception("answering a mention failed")
            reply = Reply(kind="error", title="Sorry — something went wrong. It has been logged.")
        messages = render(reply)
        await message.reply(embeds=messages[0], mention_author=False, allowed_mentions=NO_PINGS)
        for embeds in messages[1:]:
            await message.channel.send(embeds=embeds, allowed_mentions=NO_PINGS)

    def _check_mention_cooldown(self, user_id: int) -> None:
        bucket = self._mention_cooldowns.setdefault(user_id, self._mention_cooldown.copy())
        retry = bucket.update_rate_limit()
        if retry:
            raise InputError(f"You're asking too fast — try again in {retry:.0f}s.")


def point_at(settings: BotSettings) -> None:
    """Send every REST call and the gateway to the configured endpoints (proxy or fake).

    discord.py builds every REST URL, webhooks included, from `Route.BASE`; a plain
    Client connects to `DiscordWebSocket.DEFAULT_GATEWAY` and falls back to it after
    an invalid session, so both are set for the whole run.
    """
    discord.http.Route.BASE = settings.api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway)


async def serve(bot: BriefBot, token: str) -> None:
    """Run until the connection ends or SIGINT/SIGTERM asks for a clean shutdown."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            stopper.cancel()
            runner.result()
            return
        log.info("shutting down")
        await bot.close()
        runner.cancel()


def run_bot(corpus: Corpus, settings: BotSettings, token: str, force_sync: bool = False) -> None:
    point_at(settings)
    # Load the model and warm the country tables before connecting: no first-query stall.
    corpus.encoder.encode(["warm up"])
    from retrieval import countries

    countries.search_countries("a")
    bot = BriefBot(corpus, settings, force_sync=force_sync)
    try:
        asyncio.run(serve(bot, token))
    except discord.LoginFailure:
        raise InputError("Discord rejected the token (DISCORD_TOKEN)") from None


__all__ = ["BriefBot", "point_at", "run_bot", "serve"]
