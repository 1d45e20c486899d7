"""`briefbot` commands over the corpus: ingest, ask, summarize, headlines, digest, articles,
stats, retag. Each opens the corpus, makes the library call the bot makes, and prints text
(rendered as the console does) or the `--json` document.

Library imports are inside the commands so `briefbot --help` and usage errors stay instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from .cli_json import (
    article_json,
    ask_json,
    batch_line,
    batch_strings,
    batch_text,
    digest_json,
    emit,
    read_jsonl,
    stats_json,
)


def load_cli_settings(args: argparse.Namespace):
    """The settings, checked whole: the library's sections by `load_settings`, [discord]
    by the bot's settings (so a typo there is reported by any command, not at `run`)."""
    from retrieval import load_settings

    from .settings import BotSettings

    settings = load_settings(args.config, args.data_dir)
    BotSettings.from_raw(settings.raw, settings.origins)
    return settings


def open_corpus(args: argparse.Namespace, bundled: bool = True, *, writer: bool = False):
    """The corpus of `--data-dir`; on first use, with the bundled seed corpus ingested.

    `writer`: the command writes (ingest, retag, a feed poll, the bot), so it holds the
    data dir's writer lock until the corpus closes (`retrieval.lock`)."""
    from retrieval import Corpus, wording
    from retrieval.lock import WriterLock

    from .diagnostics import log_to_data_dir

    settings = load_cli_settings(args)
    check_data_dir(settings.data_dir)
    log_to_data_dir(settings.data_dir)
    lock = None
    if writer:
        lock = WriterLock(settings.data_dir)
        lock.acquire(settings.data.writer_wait_seconds)
    try:
        corpus = Corpus(settings, writer=lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    corpus.notice = lambda line: print(line, file=sys.stderr, flush=True)
    if bundled:
        report = corpus.ensure_bundled()
        if report is not None:
            print(wording.text("cli.first_use", items=report.added), file=sys.stderr)
    return corpus


def check_data_dir(path: Path) -> None:
    """A data dir that is a file, or cannot be made, is a StoreError naming it (the store
    would fail on it with a bare OSError)."""
    from retrieval import StoreError, wording

    if path.exists() and not path.is_dir():
        raise StoreError(wording.text("cli.data_dir.not_a_folder", path=path))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise StoreError(wording.text("cli.data_dir.unusable", path=path, reason=reason)) from None


def make_filters(
    countries: list[str] | None,
    topics: list[str] | None,
    since: str | None,
    args: argparse.Namespace | None = None,
):
    """`parse_filters` with the pair options of `args` and --include-undated (see
    `Filters.undated`); how a code was read (EC is Ecuador) goes to stderr, so --json
    output stays one document."""
    from dataclasses import replace

    from .handlers import parse_filters

    filters = parse_filters(
        countries,
        topics,
        since,
        getattr(args, "with_countries", None),
        getattr(args, "members", False),
    )
    for hint in filters.hints:
        print(hint, file=sys.stderr)
    return replace(filters, hints=(), undated=bool(getattr(args, "include_undated", False)))


def cmd_ingest(args: argparse.Namespace) -> int:
    """Exit 1 when a PATH|URL gave no article at all (INGEST_EPILOG); the rest is kept."""
    from retrieval import wording
    from retrieval.ingest import IngestInterrupted

    settings = load_cli_settings(args)
    refused = refused_target(args.targets, settings.data_dir)
    if refused:
        args.parser.error(refused)  # exit 2, before anything is read
    with open_corpus(args, bundled=False, writer=True) as corpus:
        # A URL the SSRF guard refuses fails here, before anything is read or embedded.
        counted = TargetCounts(
            args.targets,
            allow_private=corpus.settings.fetch.allow_private,
            exclude=corpus.data_dir,
        )
        try:
            report = corpus.ingest_items(counted.items())
        except IngestInterrupted as stop:
            _interrupted(args, corpus, stop)
    failed = counted.failed()
    error = wording.text("cli.ingest.failed", count=len(failed), targets="; ".join(failed))
    if args.json:
        document = report.to_json()
        if failed:
            document["error"] = {"kind": "input", "message": error}
        emit(document)
    else:
        print(
            wording.text(
                "cli.ingest.report",
                added=report.added,
                updated=report.updated,
                duplicates=report.duplicates,
                skipped=len(report.skipped),
                articles=report.articles,
            )
        )
        for s in report.skipped:
            print(
                wording.text("cli.ingest.skipped", source=s.source, reason=s.reason),
                file=sys.stderr,
            )
        for n in report.notes:
            print(wording.text("cli.ingest.note", source=n.source, note=n.note), file=sys.stderr)
    if failed:
        print(wording.text("cli.error", error=error), file=sys.stderr)
        return 1
    return 0


def _interrupted(args: argparse.Namespace, corpus, stop) -> NoReturn:
    """Ctrl-C during ingest: say what was kept, and leave at once (exit 130).

    `os._exit`, not a normal exit: the embedding thread is inside the model's native code,
    which cannot be interrupted, and a normal exit would wait for it to finish its batch
    (tens of seconds) or, for the parsing thread, abort in native code at shutdown. What
    was committed is in SQLite already; the index catches up from it at the next start.
    """
    import os

    from retrieval import wording

    message = wording.text(
        "cli.progress.interrupted", count=stop.kept, articles=stop.report.articles
    )
    print(message, file=sys.stderr, flush=True)
    if args.json:
        emit({**stop.report.to_json(), "error": {"kind": "interrupted", "message": message}})
    corpus.store.close()
    sys.stdout.flush()
    os._exit(130)


def refused_target(targets: list[str], data_dir: Path) -> str | None:
    """Why a target may not be ingested at all, or None: an empty path (an unset shell
    variable would otherwise mean the current folder, recursively), or the data directory
    or a path inside it (its files are the store, not articles)."""
    from retrieval import wording
    from retrieval.loaders import is_url

    for target in targets:
        if not target.strip():
            return wording.text("cli.ingest.empty_path")
        if is_url(target):
            continue
        path = Path(target).expanduser().resolve()
        if path.is_relative_to(Path(data_dir).expanduser().resolve()):
            return wording.text("cli.ingest.data_dir", target=target, data_dir=data_dir)
    return None


class TargetCounts:
    """The items of each ingest target, loaded one target at a time so that what each
    one gave can be counted: a target that gave no article (new or duplicate) failed."""

    def __init__(
        self, targets: list[str], *, allow_private: bool = False, exclude: Path | None = None
    ) -> None:
        from retrieval.loaders import load

        self.targets = targets
        self.loaded = [
            (t, load([t], allow_private=allow_private, exclude=exclude)) for t in targets
        ]
        self.articles: dict[str, int] = {}
        self.reasons: dict[str, list[str]] = {}

    def items(self) -> Iterator[Any]:
        from retrieval.loaders import RawArticle, Skipped

        for target, loaded in self.loaded:
            self.articles.setdefault(target, 0)
            for item in loaded:
                if isinstance(item, RawArticle):
                    self.articles[target] += 1
                elif isinstance(item, Skipped):
                    self.reasons.setdefault(target, []).append(item.reason)
                yield item

    def failed(self) -> list[str]:
        """`TARGET (first reason)` for every target that gave nothing."""
        from retrieval import wording

        out = []
        for target, n in self.articles.items():
            if n == 0:
                reasons = self.reasons.get(target) or [wording.text("cli.ingest.nothing")]
                out.append(wording.text("cli.ingest.target", target=target, reason=reasons[0]))
        return out


def cmd_ask(args: argparse.Namespace) -> int:
    from retrieval import InputError, wording

    if not args.batch and not args.question:
        raise InputError(wording.text("cli.ask.no_question"))
    # Options are checked before the corpus opens: a typo fails at once, not after a load.
    filters = make_filters(args.country, args.topic, args.since, args)
    with open_corpus(args) as corpus:
        if args.batch:
            _ask_batch(corpus, args)
            return 0
        if args.json:
            emit(ask_json(corpus.ask(args.question, filters, args.limit), args.question))
        else:
            from . import handlers
            from .console import render

            render(handlers.ask(corpus, args.question, filters, args.limit))
    return 0


def _ask_batch(corpus, args: argparse.Namespace) -> None:
    """One JSON result per input line, in order; a bad line is reported on its own line
    (with its id) and the next one runs."""
    for n, obj, error in read_jsonl(args.batch):
        if error:
            emit({"id": None, "error": error, "error_kind": "input"})
            continue
        with batch_line(obj.get("id"), n, {"question": obj.get("question")}):
            question = batch_text(obj, "question", n)
            filters = make_filters(
                batch_strings(obj, "country", n),
                batch_strings(obj, "topic", n),
                batch_text(obj, "since", n, required=False),
                argparse.Namespace(
                    with_countries=batch_strings(obj, "with", n),
                    include_undated=getattr(args, "include_undated", False),
                ),
            )
            limit = obj.get("limit")
            result = corpus.ask(question, filters, 5 if limit is None else _count(limit, n))
            emit(ask_json(result, question, obj.get("id")))


def cmd_summarize(args: argparse.Namespace) -> int:
    from retrieval import wording

    given = [x is not None for x in (args.article_id, args.file, args.batch)]
    if sum(given) != 1:  # a usage error (exit 2): the parser raises it as its own
        args.parser.error(wording.text("cli.summarize.one_input"))
    with open_corpus(args, bundled=args.article_id is not None) as corpus:
        if args.batch:
            _summarize_batch(corpus, args)
            return 0
        if args.file:
            sents = corpus.summarize_text(_read_text_file(args.file), args.sentences)
            ident: Any = str(args.file)
        else:
            sents = corpus.summarize_article(args.article_id, args.sentences)
            ident = args.article_id
    if args.json:
        emit({"id": ident, "sentences": sents})
    else:
        for s in sents:
            print(f"- {s}")
    return 0


def _summarize_batch(corpus, args: argparse.Namespace) -> None:
    for n, obj, error in read_jsonl(args.batch):
        if error:
            emit({"id": None, "error": error, "error_kind": "input"})
            continue
        with batch_line(obj.get("id"), n):
            wanted = obj.get("sentences")
            count = args.sentences if wanted is None else _count(wanted, n, "sentences")
            sents = corpus.summarize_text(batch_text(obj, "text", n), count)
            emit({"id": obj.get("id"), "sentences": sents})


def _count(value: object, line: int, name: str = "limit") -> int:
    """A batch line's count, checked as the command line's --limit/--sentences are."""
    from .handlers import parse_count

    return parse_count(value, name)


def _read_text_file(path) -> str:
    """A text file read as ingest reads it (so a headline on line one is the title)."""
    from retrieval import InputError, wording
    from retrieval.loaders import read_text

    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc
        raise InputError(wording.text("cli.cannot_read", path=path, reason=reason)) from None
    text, _ = read_text(raw, str(path))
    return text


def cmd_headlines(args: argparse.Namespace) -> int:
    filters = make_filters(args.country, args.topic, args.since, args)
    with open_corpus(args) as corpus:
        items = corpus.headlines(filters, args.limit)
        if not args.json:
            from . import handlers
            from .console import render

            render(handlers.headlines(corpus, filters, args.limit))
            return 0
    emit({"articles": [article_json(a) for a in items]})
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from .handlers import with_digest_defaults

    given = make_filters(args.country, args.topic, args.since, args)  # checked before the load
    with open_corpus(args) as corpus:
        filters = with_digest_defaults(corpus, given)
        digest = corpus.digest(filters)
        if not args.json:
            from . import handlers
            from .console import render

            render(handlers.digest_reply(corpus, digest))
            return 0
    emit(digest_json(digest))
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    filters = make_filters(args.country, args.topic, args.since, args)
    with open_corpus(args) as corpus:
        items = corpus.headlines(filters, None)
    if args.json:
        emit({"articles": [article_json(a) for a in items]})
    else:
        for a in items:
            tags = ",".join(a.countries + a.topics)
            print(f"{a.id}\t{(a.published or '')[:10]}\t{tags}\t{a.title}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from retrieval import wording

    with open_corpus(args) as corpus:
        st = corpus.stats()
    if args.json:
        emit(stats_json(st))
    else:
        print(
            wording.text(
                "cli.stats.text",
                articles=st.articles,
                vectors=st.vectors,
                index=st.index,
                model=st.model,
                backend=st.backend,
                data_dir=st.data_dir,
                last_ingest=st.last_ingest,
                published=wording.text(
                    "cli.stats.published",
                    first=st.first_published[:10],
                    last=st.last_published[:10],
                )
                if st.first_published and st.last_published
                else wording.text("cli.stats.no_dates"),
            )
        )
    return 0


def cmd_retag(args: argparse.Namespace) -> int:
    from retrieval import wording

    with open_corpus(args, bundled=False, writer=True) as corpus:
        n = corpus.retag()
        topics = dict(corpus.store.topic_counts())
    if args.json:
        emit({"retagged": n, "topics": topics})
    else:
        counts = [wording.text("cli.retag.topic", topic=t, count=c) for t, c in topics.items()]
        listed = ", ".join(counts) or wording.text("cli.retag.no_topics")
        print(wording.text("cli.retag.done", count=n, topics=listed))
    return 0
