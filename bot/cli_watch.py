"""`briefbot watches list|add|remove` and the console's `/watch …`: the same watch store
the running bot reads (it reloads the watches at every check), so both can manage
watches while it runs.

Library imports are inside the functions so `briefbot --help` stays instant.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_corpus import load_cli_settings, make_filters, open_corpus
from .cli_json import emit

if TYPE_CHECKING:
    from retrieval import Corpus

    from .replies import Reply
    from .watches import Watch

CONSOLE_OPTIONS = ("channel", "role", "guild", "country", "topic")
MAX_ID = 2**63 - 1  # Discord and SQLite ids are signed 64-bit integers


def cmd_watches(args: argparse.Namespace) -> int:
    from .watches import WATCHES_FILE, WatchStore, new_watch

    settings = load_cli_settings(args)
    store = WatchStore(Path(settings.data_dir) / WATCHES_FILE)
    if args.action == "add":
        filters = make_filters(args.country, args.topic, None)
        with open_corpus(args, bundled=False) as corpus:
            made = new_watch(
                corpus,
                store,
                args.description,
                args.channel,
                countries=filters.countries,
                topics=filters.topics,
                guild_id=args.guild,
                role_id=args.role,
            )
        watches = [made]
    elif args.action == "remove":
        watches = [store.remove(args.id)]
    else:
        watches = store.list()
    if args.json:
        emit({"action": args.action, "watches": [watch_json(w) for w in watches]})
        return 0
    for line in lines(args.action, watches):
        print(line)
    return 0


def watch_json(watch: Watch) -> dict[str, Any]:
    return {
        "id": watch.id,
        "guild_id": watch.guild_id,
        "channel_id": watch.channel_id,
        "role_id": watch.role_id,
        "description": watch.description,
        "countries": list(watch.countries),
        "topics": list(watch.topics),
    }


def lines(action: str, watches: list[Watch]) -> list[str]:
    """Watches as `add`, `remove` or `list` print them."""
    from retrieval import wording

    if not watches:
        return [wording.text("watches.cli.none")]
    if action == "add":
        return [wording.text("watches.cli.added", watch=watches[0].describe())]
    if action == "remove":
        return [wording.text("watches.cli.removed", watch=watches[0].describe())]
    return [w.describe() for w in watches]


def console_watch(corpus: Corpus, rest: str) -> Reply:
    """`/watch list`, `/watch add DESCRIPTION channel:ID [role:ID] [guild:ID] [country:C]
    [topic:T]`, `/watch remove ID` in `briefbot chat`."""
    from retrieval import wording

    from .handlers import parse_count
    from .replies import Reply
    from .watches import WATCHES_FILE, WatchStore, new_watch

    action, _, rest = rest.strip().partition(" ")
    words, opts = _options(rest)
    store = WatchStore(Path(corpus.data_dir) / WATCHES_FILE)
    try:
        if action == "list" and not words:
            watches = store.list()
        elif action == "add" and words and opts.get("channel"):
            filters = make_filters(opts.get("country"), opts.get("topic"), None)
            watches = [
                new_watch(
                    corpus,
                    store,
                    " ".join(words),
                    _id(opts, "channel"),
                    countries=filters.countries,
                    topics=filters.topics,
                    guild_id=_id(opts, "guild"),
                    role_id=_id(opts, "role"),
                )
            ]
        elif action == "remove" and len(words) == 1:
            watches = [store.remove(parse_count(words[0], "id", MAX_ID))]
        else:
            return Reply(kind="error", title=wording.text("watches.errors.console_usage"))
    finally:
        store.close()
    title = wording.text("watches.console.title")
    return Reply(kind="help", title=title, notes=lines(action, watches))


def _options(rest: str) -> tuple[list[str], dict[str, list[str]]]:
    """`name:value` and `--name value` options; the rest are the description's words."""
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    words: list[str] = []
    opts: dict[str, list[str]] = {}
    it = iter(tokens)
    for tok in it:
        if tok.startswith("--") and tok[2:] in CONSOLE_OPTIONS:
            opts.setdefault(tok[2:], []).append(next(it, ""))
        elif ":" in tok and tok.split(":", 1)[0] in CONSOLE_OPTIONS:
            key, value = tok.split(":", 1)
            opts.setdefault(key, []).append(value or next(it, ""))
        else:
            words.append(tok)
    return words, opts


def _id(opts: dict[str, list[str]], name: str) -> int | None:
    from .handlers import parse_count

    values = opts.get(name)
    return parse_count(values[-1], name, MAX_ID) if values else None
