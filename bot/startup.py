"""Composition root: the one place that builds the bot's collaborators and runs it.

`build_client` makes the worker threads, the subscription store, the digest poster
and scheduler, and the feed registry and poller, and hands them with the corpus
to `BriefBot`'s constructor; nothing inside the bot builds its own. `run_bot`
points discord.py at the configured endpoints, warms the model and connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import discord
import yarl

from retrieval import Corpus, InputError, wording
from retrieval.feeds import FeedPoller

from .app import BriefBot, ShardedBriefBot, check_shards, several_shards
from .digests import DigestPoster
from .scheduler import DigestScheduler
from .settings import BotSettings
from .stores import open_bot_stores
from .watch_alerts import WatchAlerter
from .workers import WorkerThreads

log = logging.getLogger(__name__)


def build_client(
    corpus: Corpus,
    settings: BotSettings,
    *,
    force_sync: bool = False,
    client_class: type[BriefBot] | None = None,
) -> BriefBot:
    """The client with everything it uses; `client_class` lets tests use a subclass
    (by default `BriefBot`, or `ShardedBriefBot` for several shards in this process)."""
    check_shards(settings)
    if client_class is None:
        client_class = ShardedBriefBot if several_shards(settings) else BriefBot
    data_dir = Path(corpus.data_dir)
    workers = WorkerThreads(settings.max_concurrent_queries, settings.max_queued_queries)
    stores = open_bot_stores(corpus)
    subscriptions, feeds, watches = stores.subscriptions, stores.feeds, stores.watches
    story_threads = stores.story_threads  # shared by digests and watch alerts
    poster = DigestPoster(corpus, subscriptions, workers, story_threads)
    grace = int(corpus.settings.digest.grace_hours * 3600)
    # Only the operator's config may let feeds reach internal addresses, never a command.
    allow_private = corpus.settings.fetch.allow_private
    # One job table per shard on a shared database (see bot.scheduler).
    first = settings.shard_ids[0] if settings.shard_ids else 0  # ids are disjoint per process
    table = f"apscheduler_jobs_shard{first}" if settings.shard_count else None
    digests = DigestScheduler(
        data_dir,
        poster,
        grace_seconds=grace,
        jobs_url=stores.jobs_url,
        jobs_table=table or "apscheduler_jobs",
    )
    alerter = WatchAlerter(
        corpus,
        watches,
        workers,
        per_hour=settings.watch_alerts_per_hour,
        story_of=corpus.store.story_of,  # one alert per story: stories are stored at ingest
        story_threads=story_threads,  # later articles of a story: updates in its thread
    )
    return client_class(
        corpus,
        settings,
        workers=workers,
        subscriptions=subscriptions,
        digests=digests,
        poster=poster,
        feeds=feeds,
        poller=FeedPoller(
            feeds, interval=settings.feed_interval_minutes * 60, allow_private=allow_private
        ),
        watches=watches,
        alerter=alerter,
        force_sync=force_sync,
    )


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
    bot = build_client(corpus, settings, force_sync=force_sync)
    try:
        asyncio.run(serve(bot, token))
    except discord.LoginFailure:
        raise InputError(wording.text("errors.token.rejected")) from None


__all__ = ["build_client", "point_at", "run_bot", "serve"]
