"""The `briefbot` command line: the same library calls the Discord bot makes, as commands.

Output contract: `cli-contract.md` (`--json` on stdout, logs and progress on stderr;
exit 0 ok, 1 bad input or failure explained in one line, 2 usage error).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("briefbot")

EPILOG = "Run `briefbot COMMAND --help` for a command's options. Docs: README.md."


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


def _filters(parser: argparse.ArgumentParser, since_default: str | None = None) -> None:
    parser.add_argument(
        "--country",
        action="append",
        default=[],
        metavar="C",
        help="only articles about this country: a name, ISO code, demonym or"
        " alias (Japan, JP, Japanese, Tokyo). Repeat for any of several.",
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
        " back from now (24h, 7d, 2w)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="briefbot",
        description="Cited, extractive news briefings over your corpus, in Discord or here.",
        epilog=EPILOG,
    )
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, help_: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_, epilog=EPILOG)
        _common(p, suppress=True)
        p.set_defaults(func=func)
        return p

    p = add("ingest", "Add articles from files, folders, exports, feeds or URLs.", cmd_ingest)
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
        "--limit", type=int, default=5, metavar="K", help="articles to return (default 5)"
    )
    p.add_argument(
        "--batch",
        type=Path,
        metavar="FILE",
        help="JSONL of {question, id?, country?, topic?, since?, limit?};"
        " one JSON result per line, same order",
    )

    p = add("summarize", "Extractive summary of an article, a text file or a batch.", cmd_summarize)
    p.add_argument("article_id", nargs="?", type=int, help="an article id from the corpus")
    p.add_argument("--file", type=Path, metavar="PATH", help="summarise this text file instead")
    p.add_argument(
        "--batch",
        type=Path,
        metavar="FILE",
        help="JSONL of {id, text, sentences?}; one JSON result per line",
    )
    p.add_argument(
        "--sentences",
        type=int,
        metavar="N",
        help="sentences in the summary (default: about 30%% of the article, 2-5)",
    )

    p = add("headlines", "List matching headlines, newest first.", cmd_headlines)
    _filters(p)
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default 20)")

    p = add(
        "digest",
        "The digest a subscription would post now: stories grouped, ranked and summarised.",
        cmd_digest,
    )
    _filters(p, since_default=None)
    p.set_defaults(since=None)

    p = add("articles", "List every matching article with its id, tags and date.", cmd_articles)
    _filters(p)

    p = add("stats", "Corpus size, index, model and data directory.", cmd_stats)

    p = add(
        "retag",
        "Re-tag every article's countries and topics (after editing prompts/topics.toml"
        " or retrieval/data/countries.toml).",
        cmd_retag,
    )

    p = add("subscriptions", "List, add or remove scheduled digest subscriptions.", cmd_subs)
    subs = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = subs.add_parser("list", help="every subscription and its schedule")
    _common(s, suppress=True)
    s = subs.add_parser("add", help="post a daily digest to a Discord channel")
    _common(s, suppress=True)
    s.add_argument("--channel", type=int, required=True, help="Discord channel id")
    s.add_argument("--time", required=True, help="local time of day, HH:MM (24-hour)")
    s.add_argument("--timezone", required=True, help="IANA timezone, e.g. Asia/Tokyo")
    s.add_argument("--guild", type=int, help="Discord server id (for /subscriptions there)")
    s.add_argument("--country", action="append", default=[], help="repeatable; any of them")
    s.add_argument("--topic", action="append", default=[], help="repeatable; default: config")
    s = subs.add_parser("remove", help="stop a subscription")
    _common(s, suppress=True)
    s.add_argument("id", type=int, help="the subscription id (see list)")

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

    p = add(
        "run", "Connect to Discord (needs DISCORD_TOKEN) and serve the slash commands.", cmd_run
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="sync slash commands even if they did not change since the last sync",
    )
    p = add("chat", "Local console speaking the bot's commands (/ask, /headlines, ...).", cmd_chat)
    p = add("start", "`run` when a Discord token is configured, otherwise `chat`.", cmd_start)
    return parser


# --- helpers --------------------------------------------------------------------------------


def _settings(args: argparse.Namespace):
    from retrieval import load_settings

    return load_settings(args.config, args.data_dir)


def _open(args: argparse.Namespace, bundled: bool = True):
    from retrieval import Corpus

    corpus = Corpus(_settings(args))
    if bundled:
        report = corpus.ensure_bundled()
        if report is not None:
            print(
                f"briefbot: first use: ingested the bundled corpus ({report.added} items)",
                file=sys.stderr,
            )
    return corpus


def make_filters(countries: list[str] | None, topics: list[str] | None, since: str | None):
    from .handlers import parse_filters

    return parse_filters(countries, topics, since)


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def article_json(article, score: float | None = None) -> dict[str, Any]:
    out = {
        "id": article.id,
        "external_id": article.external_id,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "published": article.published,
        "countries": article.countries,
        "topics": article.topics,
    }
    if score is not None:
        out["score"] = round(float(score), 4)
    return out


def ask_json(result, question: str, qid: Any = None) -> dict[str, Any]:
    return {
        "id": qid,
        "question": question,
        "abstained": result.answer.abstained,
        "answer": [{"text": s.text, "article": s.article_id} for s in result.answer.sentences],
        "articles": [article_json(r.article, r.score) for r in result.articles],
    }


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    from retrieval import InputError

    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, None, f"line {n}: invalid JSON ({exc.msg})"
                continue
            if not isinstance(obj, dict):
                yield n, None, f"line {n}: expected a JSON object"
                continue
            yield n, obj, None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# --- commands -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    with _open(args, bundled=False) as corpus:
        report = corpus.ingest(args.targets)
    if args.json:
        _emit(report.to_json())
    else:
        print(
            f"added {report.added}, duplicates {report.duplicates},"
            f" skipped {len(report.skipped)}; corpus now {report.articles} articles"
        )
        for s in report.skipped:
            print(f"  skipped {s.source}: {s.reason}", file=sys.stderr)
        for n in report.notes:
            print(f"  note {n.source}: {n.note}", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from retrieval import BriefbotError, InputError

    if not args.batch and not args.question:
        raise InputError("give a QUESTION, or --batch FILE")
    with _open(args) as corpus:
        if not args.batch:
            filters = make_filters(args.country, args.topic, args.since)
            if args.json:
                _emit(ask_json(corpus.ask(args.question, filters, args.limit), args.question))
            else:
                from . import handlers
                from .console import render

                render(handlers.ask(corpus, args.question, filters, args.limit))
            return 0
        for _, obj, error in _read_jsonl(args.batch):
            if error:
                _emit({"id": None, "error": error})
                continue
            question = str(obj.get("question") or "")
            try:
                filters = make_filters(
                    _as_list(obj.get("country")), _as_list(obj.get("topic")), obj.get("since")
                )
                result = corpus.ask(question, filters, int(obj.get("limit") or 5))
                _emit(ask_json(result, question, obj.get("id")))
            except (BriefbotError, ValueError) as exc:
                _emit({"id": obj.get("id"), "question": question, "error": str(exc)})
    return 0


def cmd_summarize(args: argparse.Namespace) -> int:
    from retrieval import BriefbotError, InputError

    given = [x is not None for x in (args.article_id, args.file, args.batch)]
    if sum(given) != 1:
        raise InputError("give exactly one of ARTICLE_ID, --file PATH or --batch FILE")
    with _open(args, bundled=args.article_id is not None) as corpus:
        if args.batch:
            for _, obj, error in _read_jsonl(args.batch):
                if error:
                    _emit({"id": None, "error": error})
                    continue
                try:
                    n = obj.get("sentences") or args.sentences
                    sents = corpus.summarize_text(str(obj.get("text") or ""), int(n) if n else None)
                    _emit({"id": obj.get("id"), "sentences": sents})
                except (BriefbotError, ValueError) as exc:
                    _emit({"id": obj.get("id"), "error": str(exc)})
            return 0
        if args.file:
            try:
                raw = args.file.read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read {args.file}: {exc.strerror or exc}") from None
            from retrieval.loaders import read_text

            text, _ = read_text(raw, str(args.file))
            sents = corpus.summarize_text(text, args.sentences)
            ident: Any = str(args.file)
        else:
            sents = corpus.summarize_article(args.article_id, args.sentences)
            ident = args.article_id
    if args.json:
        _emit({"id": ident, "sentences": sents})
    else:
        for s in sents:
            print(f"- {s}")
    return 0


def cmd_headlines(args: argparse.Namespace) -> int:
    filters = make_filters(args.country, args.topic, args.since)
    with _open(args) as corpus:
        items = corpus.headlines(filters, args.limit)
        if not args.json:
            from . import handlers
            from .console import render

            render(handlers.headlines(corpus, filters, args.limit))
            return 0
    _emit({"articles": [article_json(a) for a in items]})
    return 0


def digest_json(digest) -> dict[str, Any]:
    from retrieval.dates import isoformat

    return {
        "generated": isoformat(digest.generated),
        "since": isoformat(digest.since),
        "sections": [
            {
                "title": story.title,
                "countries": story.countries,
                "topics": story.topics,
                "summary": story.summary,
                "articles": [
                    {
                        "id": a.id,
                        "title": a.title,
                        "url": a.url,
                        "source": a.source,
                        "published": a.published,
                    }
                    for a in story.articles
                ],
            }
            for story in digest.stories
        ],
    }


def cmd_digest(args: argparse.Namespace) -> int:
    from .handlers import with_digest_defaults

    with _open(args) as corpus:
        filters = with_digest_defaults(corpus, make_filters(args.country, args.topic, args.since))
        digest = corpus.digest(filters)
        if not args.json:
            from . import handlers
            from .console import render

            render(handlers.digest_reply(corpus, digest))
            return 0
    _emit(digest_json(digest))
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    filters = make_filters(args.country, args.topic, args.since)
    with _open(args) as corpus:
        items = corpus.headlines(filters, None)
    if args.json:
        _emit({"articles": [article_json(a) for a in items]})
    else:
        for a in items:
            tags = ",".join(a.countries + a.topics)
            print(f"{a.id}\t{(a.published or '')[:10]}\t{tags}\t{a.title}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _open(args) as corpus:
        st = corpus.stats()
    if args.json:
        _emit(
            {
                "articles": st.articles,
                "vectors": st.vectors,
                "index": st.index,
                "model": st.model,
                "backend": st.backend,
                "data_dir": st.data_dir,
                "last_ingest": st.last_ingest,
                "published_range": [st.first_published, st.last_published],
            }
        )
    else:
        print(
            f"articles     {st.articles}\nvectors      {st.vectors}\nindex        {st.index}\n"
            f"model        {st.model} ({st.backend})\ndata dir     {st.data_dir}\n"
            f"last ingest  {st.last_ingest}\n"
            f"published    {st.first_published} .. {st.last_published}"
        )
    return 0


def cmd_retag(args: argparse.Namespace) -> int:
    with _open(args, bundled=False) as corpus:
        n = corpus.retag()
        topics = dict(corpus.store.topic_counts())
    if args.json:
        _emit({"retagged": n, "topics": topics})
    else:
        counts = ", ".join(f"{t} {c}" for t, c in topics.items()) or "none"
        print(f"retagged {n} articles; topics: {counts}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from retrieval import InputError

    from .settings import BotSettings, discord_token

    token = discord_token()
    if not token:
        raise InputError(
            "no DISCORD_TOKEN in the environment or .env; try the local console: briefbot chat"
        )
    bot_settings = BotSettings.from_raw(_settings(args).raw)
    with _open(args) as corpus:
        from .startup import run_bot

        run_bot(corpus, bot_settings, token, force_sync=args.sync)
    return 0


def cmd_subs(args: argparse.Namespace) -> int:
    from .subscriptions import SUBSCRIPTIONS_FILE, SubscriptionStore

    settings = _settings(args)
    store = SubscriptionStore(Path(settings.data_dir) / SUBSCRIPTIONS_FILE)
    if args.action == "add":
        filters = make_filters(args.country, args.topic, None)
        items = [
            store.add(
                args.channel,
                args.time,
                args.timezone,
                filters.countries,
                filters.topics,
                args.guild,
            )
        ]
    elif args.action == "remove":
        items = [store.remove(args.id)]
    else:
        items = store.list()
    if args.json:
        _emit(
            {
                "action": args.action,
                "subscriptions": [
                    {
                        "id": s.id,
                        "guild_id": s.guild_id,
                        "channel_id": s.channel_id,
                        "time": s.time,
                        "timezone": s.timezone,
                        "countries": list(s.countries),
                        "topics": list(s.topics),
                    }
                    for s in items
                ],
            }
        )
        return 0
    verb = {"add": "added ", "remove": "removed "}.get(args.action, "")
    for s in items:
        print(f"{verb}{s.describe()}")
    if not items:
        print("no subscriptions")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from retrieval.feeds import FeedPoller, FeedRegistry

    added = 0
    with _open(args, bundled=False) as corpus:
        registry = FeedRegistry(corpus.store.path)
        if args.action == "add":
            feeds = [registry.add(args.url, args.name)]
        elif args.action == "remove":
            feeds = [registry.remove(args.feed)]
        else:
            if args.action == "poll":
                for result in FeedPoller(registry).poll_due():
                    if result.items:
                        report = corpus.ingest_items(result.items, progress=False)
                        registry.record_added(result.feed.id, report.added)
                        added += report.added
            feeds = registry.list()
    if args.json:
        _emit(
            {
                "action": args.action,
                "added": added,
                "sources": [
                    {
                        "id": f.id,
                        "url": f.url,
                        "name": f.name,
                        "status": f.status,
                        "seen": f.seen,
                        "added": f.added,
                    }
                    for f in feeds
                ],
            }
        )
        return 0
    if args.action == "poll":
        print(f"added {added} articles")
    verb = {"add": "following ", "remove": "stopped "}.get(args.action, "")
    for f in feeds:
        print(f"{verb}{f.id}. {f.label} <{f.url}> — {f.status}; {f.added} articles added")
    if not feeds:
        print("no sources")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .console import run_console

    with _open(args) as corpus:
        return run_console(corpus, sys.stdin)


def cmd_start(args: argparse.Namespace) -> int:
    from .settings import discord_token

    if discord_token():
        args.sync = False
        return cmd_run(args)
    return cmd_chat(args)


# --- entry point ----------------------------------------------------------------------------


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="briefbot: %(levelname)s %(name)s: %(message)s"
        if args.debug
        else "briefbot: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("sentence_transformers", "transformers", "httpx", "faiss", "trafilatura"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.debug else logging.ERROR)
    from retrieval import BriefbotError

    try:
        return args.func(args)
    except BriefbotError as exc:
        if args.debug:
            log.exception("failed")
        print(f"briefbot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("briefbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"briefbot: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
