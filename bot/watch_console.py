"""The console's `/watch list|add|remove` (in `briefbot chat`), and the lines that list
watches there and in `briefbot watches`."""

from __future__ import annotations

from retrieval import Corpus, wording

from .handlers import parse_count, parse_filters, split_options
from .replies import Reply
from .watches import Watch, new_watch

OPTIONS = ("channel", "role", "guild", "country", "topic")
MAX_ID = 2**63 - 1  # Discord and SQLite ids are signed 64-bit integers


def lines(action: str, watches: list[Watch]) -> list[str]:
    """Watches as `add`, `remove` or `list` print them."""
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
    action, _, rest = rest.strip().partition(" ")
    words, opts = split_options(rest, OPTIONS)
    from .stores import watch_store

    store = watch_store(corpus.settings)  # the configured engine's, as the bot's
    try:
        if action == "list" and not words:
            watches = store.list()
        elif action == "add" and words and opts.get("channel"):
            filters = parse_filters(opts.get("country"), opts.get("topic"), None)
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


def _id(opts: dict[str, list[str]], name: str) -> int | None:
    values = opts.get(name)
    return parse_count(values[-1], name, MAX_ID) if values else None
