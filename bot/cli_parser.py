"""The `briefbot` argument parser: every command, its options and help text.

Common options are accepted before or after the command name: the subparsers
declare them again with SUPPRESS defaults, so a value given before the command
is not overwritten by the subparser's default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from .cli_bot import cmd_chat, cmd_config, cmd_run, cmd_sources, cmd_start, cmd_subs
from .cli_corpus import (
    cmd_articles,
    cmd_ask,
    cmd_digest,
    cmd_headlines,
    cmd_ingest,
    cmd_retag,
    cmd_stats,
    cmd_summarize,
)
from .cli_lifecycle import cmd_remove, cmd_show
from .cli_migrate import cmd_migrate
from .cli_watch import cmd_watches

EPILOG = "Run `briefbot COMMAND --help` for a command's options. Docs: README.md."
INGEST_EPILOG = (
    "Exit status: 0 when every PATH|URL gave at least one article (new or a duplicate:"
    " records skipped inside a file that gave others are reported, not failures);"
    " 1 when any PATH|URL gave none (a missing path, a URL that cannot be fetched, a"
    " folder or file with nothing readable). What could be read is kept either way and"
    ' the report is printed; with --json it carries an "error" object too. 2 (nothing'
    " read) for an empty PATH, or the data directory or a path inside it. Files are"
    " read by their content, not their name: binary files are skipped and listed; .docx"
    " and PDF text is extracted. Re-ingesting a file, URL or record id whose content"
    ' changed replaces that article in place ("updated N"). ' + EPILOG
)
REMOVE_EPILOG = (
    "Every criterion given must hold (IDs, --source, --path, --before). Exit status: 0"
    " when removed (or when you answered no); 1 when no article matches; 2 when no"
    " criterion is given, or when stdin is not a terminal and --yes is missing. " + EPILOG
)
# SQLite and Discord ids are signed 64-bit integers.
MAX_ID = 2**63 - 1


class UsageError(Exception):
    """The command line cannot be understood: exit 2, with argparse's usage line."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class BriefbotParser(argparse.ArgumentParser):
    """argparse, except that a usage error is raised (not printed and exited) so the
    entry point reports it like every other error: also as JSON with --json."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> object:
        # argparse drops a "--" value (`--limit=--`) and then skips the option's type,
        # handing the command an empty list: a one-value option given "--" has no value.
        if action.nargs is None and action.option_strings and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one value")
        return super()._get_values(action, arg_strings)


def _count(most: int) -> Callable[[str], int]:
    """An argparse `type`: a whole number from 1 to `most` (argparse names the option)."""

    def parse(text: str) -> int:
        if text.strip().isascii() and text.strip().isdigit() and len(text.strip()) <= 19:
            value = int(text)
            if 1 <= value <= most:
                return value
        from retrieval import wording  # on the error path only: --help stays instant

        raise argparse.ArgumentTypeError(wording.text("cli.usage.count", most=most, value=text))

    parse.__name__ = "count"
    return parse


limit_count = _count(1_000_000)
identifier = _count(MAX_ID)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("briefbot")
    except PackageNotFoundError:  # a checkout run without installing it
        return "unknown (not installed)"


AddCommand = Callable[..., argparse.ArgumentParser]


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options every command takes, before or after the command name."""
    default = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("common options")
    g.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        metavar="DIR",
        help="where the store, index and job store live"
        " (default: config [data] dir, or $BRIEFBOT_DATA_DIR)",
    )
    g.add_argument(
        "--config",
        type=Path,
        default=default,
        metavar="FILE",
        help="extra TOML layered over config/default.toml",
    )
    g.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="machine-readable output on stdout",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="verbose logs, and tracebacks on errors",
    )


def _filters(
    parser: argparse.ArgumentParser, since_default: str | None = None, undated: bool = True
) -> None:
    """--country, --topic, --since and (unless a digest, which always counts an undated
    article from when it was ingested) --include-undated."""
    parser.add_argument(
        "--country",
        action="append",
        default=[],
        metavar="C",
        help="only articles about this country or grouping: a name, ISO code, demonym,"
        " alias or person (Japan, JP, Japanese, Tokyo, Nakasone; EU, OPEC, G7)."
        " Repeat for any of several; JP+US for a pair.",
    )
    parser.add_argument(
        "--with",
        dest="with_countries",
        action="append",
        default=[],
        metavar="C",
        help="and also about this country or grouping: a pair (--country JP --with US,"
        " or --country JP+US). Repeat to require several.",
    )
    parser.add_argument(
        "--members",
        action="store_true",
        help="let a grouping (--country EU) include articles about its member countries"
        " while they were members",
    )
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="T",
        help="only articles with this topic (see prompts/topics.toml). Repeat for any of several.",
    )
    parser.add_argument(
        "--since",
        default=since_default,
        metavar="WHEN",
        help="only articles published since a date (2025-04-18) or a duration"
        " back from now (24h, 7d, 2w); an article with no known publication date is"
        " left out (see --include-undated)",
    )
    if not undated:
        return
    parser.add_argument(
        "--include-undated",
        action="store_true",
        help="with --since: also articles with no known publication date that were"
        " ingested in that window",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = BriefbotParser(
        prog="briefbot",
        description="Cited, extractive news briefings over your corpus, in Discord or here.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"briefbot {_package_version()}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, help_: str, func: Callable[[argparse.Namespace], int], epilog: str = EPILOG
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=epilog)
        _common(p, suppress=True)
        p.set_defaults(func=func, parser=p)
        return p

    _add_ingest_ask_summarize(add)
    _add_listings(add)
    _add_subscriptions(add)
    _add_sources(add)
    _add_watches(add)
    _add_bot(add)
    _add_migrate(add)
    return parser


def _add_ingest_ask_summarize(add: AddCommand) -> None:
    p = add(
        "ingest",
        "Add articles from files, folders, exports, feeds or URLs.",
        cmd_ingest,
        INGEST_EPILOG,
    )
    p.add_argument(
        "targets",
        nargs="+",
        metavar="PATH|URL",
        help=".txt/.md, .json, .jsonl, .csv, .html, RSS/Atom files, folders"
        " (recursive) or http(s) URLs of feeds and article pages",
    )

    p = add("ask", "Answer a question with sentences copied from the corpus, each cited.", cmd_ask)
    p.add_argument("question", nargs="?", help="the question (omit with --batch)")
    _filters(p)
    p.add_argument(
        "--limit", type=limit_count, default=5, metavar="K", help="articles to return (default 5)"
    )
    p.add_argument(
        "--batch",
        type=Path,
        metavar="FILE",
        help="JSONL of {question, id?, country?, topic?, since?, limit?};"
        " one JSON result per line, same order",
    )

    p = add("summarize", "Extractive summary of an article, a text file or a batch.", cmd_summarize)
    p.add_argument("article_id", nargs="?", type=identifier, help="an article id from the corpus")
    p.add_argument("--file", type=Path, metavar="PATH", help="summarise this text file instead")
    p.add_argument(
        "--batch",
        type=Path,
        metavar="FILE",
        help="JSONL of {id, text, sentences?}; one JSON result per line",
    )
    p.add_argument(
        "--sentences",
        type=limit_count,
        metavar="N",
        help="sentences in the summary (default: about 30%% of the article, 2-5)",
    )


def _add_listings(add: AddCommand) -> None:
    p = add("headlines", "List matching headlines, newest first.", cmd_headlines)
    _filters(p)
    p.add_argument(
        "--limit", type=limit_count, default=20, metavar="N", help="how many (default 20)"
    )

    p = add(
        "digest",
        "The digest a subscription would post now: stories grouped, ranked and summarised.",
        cmd_digest,
    )
    _filters(p, since_default=None, undated=False)
    p.set_defaults(since=None)

    p = add("articles", "List every matching article with its id, tags and date.", cmd_articles)
    _filters(p)

    p = add(
        "show",
        "One article in full: metadata, tags, where its date came from, and its text.",
        cmd_show,
    )
    p.add_argument("article_id", type=identifier, help="an article id (see `briefbot articles`)")

    p = add(
        "remove",
        "Remove articles from the store and the index: by id, source, file, folder or URL,"
        " or publication date. Asks first unless --yes.",
        cmd_remove,
        REMOVE_EPILOG,
    )
    p.add_argument("article_ids", nargs="*", type=identifier, metavar="ID", help="article ids")
    p.add_argument("--source", metavar="NAME", help="articles of this outlet")
    p.add_argument(
        "--path",
        metavar="PATH|URL",
        help="articles read from this file, from anywhere under this folder, or with this"
        " URL (or read from this feed or page)",
    )
    p.add_argument(
        "--before",
        metavar="WHEN",
        help="articles published before a date (2025-01-01) or a duration ago (30d);"
        " undated articles never match",
    )
    p.add_argument("--yes", action="store_true", help="remove without asking")

    add("stats", "Corpus size, index, model and data directory.", cmd_stats)
    add(
        "config",
        "The effective configuration: every setting, its value and where it came from"
        " (a config file, the environment, a flag, or the built-in default).",
        cmd_config,
    )

    add(
        "retag",
        "Re-tag every article's countries, groupings and topics (after editing"
        " prompts/topics.toml or retrieval/data/countries.toml or groupings.toml).",
        cmd_retag,
    )


def _add_subscriptions(add: AddCommand) -> None:
    p = add("subscriptions", "List, add or remove scheduled digest subscriptions.", cmd_subs)
    subs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = subs.add_parser("list", help="every subscription and its schedule")
    _common(s, suppress=True)
    s = subs.add_parser("add", help="post a daily digest to a Discord channel")
    _common(s, suppress=True)
    s.add_argument("--channel", type=identifier, required=True, help="Discord channel id")
    s.add_argument("--time", required=True, help="local time of day, HH:MM (24-hour)")
    s.add_argument("--timezone", required=True, help="IANA timezone, e.g. Asia/Tokyo")
    s.add_argument("--guild", type=identifier, help="Discord server id (for /subscriptions there)")
    s.add_argument(
        "--country", action="append", default=[], help="repeatable; any of them; JP+US: a pair"
    )
    s.add_argument(
        "--with", dest="with_countries", action="append", default=[], metavar="C",
        help="and also about this country or grouping (a pair); repeatable",
    )  # fmt: skip
    s.add_argument("--members", action="store_true", help="groupings include their members")
    s.add_argument("--topic", action="append", default=[], help="repeatable; default: config")
    s.add_argument(
        "--delivery",
        choices=("channel", "threads", "forum"),
        default="channel",
        help="one digest message, a thread per story, or a forum post per story (a forum channel)",
    )
    s = subs.add_parser("remove", help="stop a subscription")
    _common(s, suppress=True)
    s.add_argument("id", type=identifier, help="the subscription id (see list)")


def _add_sources(add: AddCommand) -> None:
    p = add(
        "sources", "List, add, remove or poll the RSS/Atom feeds the corpus follows.", cmd_sources
    )
    srcs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = srcs.add_parser("list", help="every feed with its health")
    _common(s, suppress=True)
    s = srcs.add_parser("add", help="follow a feed")
    _common(s, suppress=True)
    s.add_argument("url", help="the feed's http(s) URL")
    s.add_argument("--name", help="a short name")
    s = srcs.add_parser("remove", help="stop following a feed (its articles stay)")
    _common(s, suppress=True)
    s.add_argument("feed", help="id, URL or name")
    s = srcs.add_parser("poll", help="poll the feeds that are due now and ingest what is new")
    _common(s, suppress=True)


def _add_watches(add: AddCommand) -> None:
    p = add(
        "watches",
        "List, add or remove standing watches: alerts when a new article matches words.",
        cmd_watches,
    )
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = acts.add_parser("list", help="every watch")
    _common(s, suppress=True)
    s = acts.add_parser("add", help="alert a Discord channel when a new article matches")
    _common(s, suppress=True)
    s.add_argument("description", help="what to watch for, in words: 'Japanese auto tariffs'")
    s.add_argument("--channel", type=identifier, required=True, help="Discord channel id")
    s.add_argument("--role", type=identifier, help="a Discord role id to mention in each alert")
    s.add_argument("--guild", type=identifier, help="Discord server id (for /watch list there)")
    s.add_argument("--country", action="append", default=[], help="repeatable; any of them")
    s.add_argument("--topic", action="append", default=[], help="repeatable; any of them")
    s = acts.add_parser("remove", help="stop a watch")
    _common(s, suppress=True)
    s.add_argument("id", type=identifier, help="the watch id (see list)")
    s = acts.add_parser("try", help="which recent articles a description would have matched")
    _common(s, suppress=True)
    s.add_argument("description", help="what to watch for, in words")
    s.add_argument("--country", action="append", default=[], help="repeatable; any of them")
    s.add_argument("--topic", action="append", default=[], help="repeatable; any of them")
    s.add_argument(
        "--recent", type=limit_count, default=1000, metavar="N",
        help="match the N newest articles (default 1000)",
    )  # fmt: skip
    s.add_argument(
        "--limit", type=limit_count, default=10, metavar="K", help="best K shown (default 10)"
    )


def _add_bot(add: AddCommand) -> None:
    p = add(
        "run", "Connect to Discord (needs DISCORD_TOKEN) and serve the slash commands.", cmd_run
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="sync slash commands even if they did not change since the last sync",
    )
    add("chat", "Local console speaking the bot's commands (/ask, /headlines, ...).", cmd_chat)
    add("start", "`run` when a Discord token is configured, otherwise `chat`.", cmd_start)


MIGRATE_EPILOG = (
    "Copies the embedded store (articles, vectors, tags, stories) and the bot's tables"
    " (subscriptions, digest history, feeds) into an empty PostgreSQL database with"
    " pgvector, without re-embedding, and prints the rows copied per table (checked"
    " against the source). Watches stay in the data directory. Then set [store] url or"
    " BRIEFBOT_STORE_URL to the same URL. Exit status: 0 copied; 1 the database cannot be"
    " reached, is not empty, or a count does not match (nothing of that step is kept)."
    " " + EPILOG
)


def _add_migrate(add: AddCommand) -> None:
    p = add(
        "migrate",
        "Copy the corpus and the bot's tables into PostgreSQL (see README, Scaling out).",
        cmd_migrate,
        MIGRATE_EPILOG,
    )
    p.add_argument("--to", required=True, metavar="URL", help="the target database: postgresql://…")
