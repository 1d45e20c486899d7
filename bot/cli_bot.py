"""`briefbot` commands for the bot itself: its subscriptions and feeds, and running it
(`run` on Discord, `chat` in a local console, `start` whichever fits).

Subscriptions and feeds are the same stores the running bot reads (it re-reads
subscriptions every minute), so the CLI can manage them while it runs: opened by
`bot.stores`, on the configured engine (the data dir's SQLite files, or the
`[store] url` database several bot processes share).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing
from pathlib import Path

from .cli_corpus import load_cli_settings, make_filters, open_corpus
from .cli_json import emit, feed_json, subscription_json


def cmd_subs(args: argparse.Namespace) -> int:
    from retrieval import wording

    from .stores import subscription_store

    settings = load_cli_settings(args)
    with closing(subscription_store(settings)) as store:
        if args.action == "add":
            filters = make_filters(args.country, args.topic, None, args)
            items = [
                store.add(
                    args.channel,
                    args.time,
                    args.timezone,
                    filters.countries,
                    filters.topics,
                    args.guild,
                    with_countries=filters.with_countries,
                    members=filters.members,
                    delivery=args.delivery,
                )
            ]
        elif args.action == "remove":
            items = [store.remove(args.id)]
        else:
            items = store.list()
    if args.json:
        emit({"action": args.action, "subscriptions": [subscription_json(s) for s in items]})
        return 0
    for s in items:
        print(_subscription_line(args.action, s.describe()))
    if not items:
        print(wording.text("cli.subscriptions.none"))
    return 0


def _subscription_line(action: str, subscription: str) -> str:
    """A subscription as `add`, `remove` or `list` prints it."""
    from retrieval import wording

    if action == "add":
        return wording.text("cli.subscriptions.added", subscription=subscription)
    if action == "remove":
        return wording.text("cli.subscriptions.removed", subscription=subscription)
    return subscription


def cmd_sources(args: argparse.Namespace) -> int:
    from retrieval import wording

    from .stores import feed_registry

    added = 0
    # Only a poll adds articles; the feed list itself is shared with a running bot.
    with (
        open_corpus(args, bundled=False, writer=args.action == "poll") as corpus,
        closing(feed_registry(corpus)) as registry,
    ):
        if args.action == "add":
            feeds = [registry.add(args.url, args.name)]
        elif args.action == "remove":
            feeds = [registry.remove(args.feed)]
        else:
            if args.action == "poll":
                added = _poll_feeds(corpus, registry)
            feeds = registry.list()
    if args.json:
        emit({"action": args.action, "added": added, "sources": [feed_json(f) for f in feeds]})
        return 0
    if args.action == "poll":
        print(wording.text("cli.sources.polled", articles=added))
    for f in feeds:
        print(_feed_line(args.action, f))
    if not feeds:
        print(wording.text("cli.sources.none"))
    return 0


def _feed_line(action: str, f) -> str:
    """A feed as `add`, `remove`, `list` or `poll` prints it."""
    from retrieval import wording

    feed = wording.text(
        "cli.sources.feed", id=f.id, label=f.label, url=f.url, status=f.status, added=f.added
    )
    if action == "add":
        return wording.text("cli.sources.added", feed=feed)
    if action == "remove":
        return wording.text("cli.sources.removed", feed=feed)
    return feed


def _poll_feeds(corpus, registry) -> int:
    """Poll the feeds that are due, ingest what is new; the number of articles added."""
    from retrieval.feeds import FeedPoller

    added = 0
    for result in FeedPoller(registry, allow_private=registry.allow_private).poll_due():
        if result.items:
            report = corpus.ingest_items(result.items, progress=False)
            registry.record_added(result.feed.id, report.added)
            added += report.added
    return added


def cmd_run(args: argparse.Namespace) -> int:
    from retrieval import InputError, wording

    from .settings import BotSettings, discord_token

    token = discord_token()
    if not token:
        raise InputError(wording.text("errors.token.missing"))
    bot_settings = BotSettings.from_raw(load_cli_settings(args).raw)
    with open_corpus(args, writer=True) as corpus:  # it polls feeds: the data dir's writer
        from .startup import run_bot

        run_bot(corpus, bot_settings, token, force_sync=args.sync)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .console import HISTORY_FILE, run_console

    with open_corpus(args) as corpus:
        return run_console(corpus, sys.stdin, Path(corpus.data_dir) / HISTORY_FILE)


def cmd_config(args: argparse.Namespace) -> int:
    """Every setting's effective value and origin; also checks the whole configuration."""
    from retrieval import wording

    from .settings import BotSettings

    settings = load_cli_settings(args)
    rows = effective_config(settings, BotSettings.from_raw(settings.raw, settings.origins))
    if args.json:
        emit(
            {
                "settings": [
                    {"section": sec, "key": key, "value": value, "origin": origin}
                    for sec, key, value, origin in rows
                ]
            }
        )
        return 0
    for sec, key, value, origin in rows:
        shown = json.dumps(value, ensure_ascii=False)  # TOML spells these values the same
        print(wording.text("cli.config.line", section=sec, key=key, value=shown, origin=origin))
    return 0


def effective_config(settings, bot_settings) -> list[tuple[str, str, object, str]]:
    """(section, key, value, origin) for every setting: what the commands use."""
    from dataclasses import asdict, fields

    from retrieval import wording

    from .settings import env_origins

    default = wording.text("cli.config.builtin")
    origins = {**settings.origins, **env_origins()}
    rows = [("data", "dir", str(settings.data_dir), origins.get(("data", "dir"), default))]
    sections = [f.name for f in fields(settings) if f.name not in ("data_dir", "raw", "origins")]
    values = {name: getattr(settings, name) for name in sections}
    values["discord"] = bot_settings
    for name, section in values.items():
        for key, value in asdict(section).items():
            if (name, key) == ("data", "dir"):
                continue  # the first row: the data dir chosen, wherever it came from
            shown = list(value) if isinstance(value, tuple) else value
            rows.append((name, key, shown, origins.get((name, key), default)))
    return rows


def cmd_start(args: argparse.Namespace) -> int:
    from .settings import discord_token

    if discord_token():
        args.sync = False
        return cmd_run(args)
    return cmd_chat(args)
