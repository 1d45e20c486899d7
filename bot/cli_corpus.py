"""`briefbot` commands over the corpus: ingest, ask, summarize, headlines, digest, articles,
stats, retag. Each opens the corpus, makes the library call the bot makes, and prints text
(rendered as the console does) or the `--json` document.

Library imports are inside the commands so `briefbot --help` and usage errors stay instant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli_json import article_json, as_list, ask_json, digest_json, emit, read_jsonl, stats_json


def load_cli_settings(args: argparse.Namespace):
    from retrieval import load_settings

    return load_settings(args.config, args.data_dir)


def open_corpus(args: argparse.Namespace, bundled: bool = True):
    """The corpus of `--data-dir`; on first use, with the bundled seed corpus ingested."""
    from retrieval import Corpus, wording

    corpus = Corpus(load_cli_settings(args))
    if bundled:
        report = corpus.ensure_bundled()
        if report is not None:
            print(wording.text("cli.first_use", items=report.added), file=sys.stderr)
    return corpus


def make_filters(countries: list[str] | None, topics: list[str] | None, since: str | None):
    from .handlers import parse_filters

    return parse_filters(countries, topics, since)


def cmd_ingest(args: argparse.Namespace) -> int:
    from retrieval import wording

    with open_corpus(args, bundled=False) as corpus:
        report = corpus.ingest(args.targets)
    if args.json:
        emit(report.to_json())
    else:
        print(
            wording.text(
                "cli.ingest.report",
                added=report.added,
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
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from retrieval import InputError, wording

    if not args.batch and not args.question:
        raise InputError(wording.text("cli.ask.no_question"))
    with open_corpus(args) as corpus:
        if args.batch:
            _ask_batch(corpus, args)
            return 0
        filters = make_filters(args.country, args.topic, args.since)
        if args.json:
            emit(ask_json(corpus.ask(args.question, filters, args.limit), args.question))
        else:
            from . import handlers
            from .console import render

            render(handlers.ask(corpus, args.question, filters, args.limit))
    return 0


def _ask_batch(corpus, args: argparse.Namespace) -> None:
    """One JSON result per input line, in order; a bad line is reported on its own line."""
    from retrieval import BriefbotError

    for _, obj, error in read_jsonl(args.batch):
        if error:
            emit({"id": None, "error": error})
            continue
        question = str(obj.get("question") or "")
        try:
            filters = make_filters(
                as_list(obj.get("country")), as_list(obj.get("topic")), obj.get("since")
            )
            result = corpus.ask(question, filters, int(obj.get("limit") or 5))
            emit(ask_json(result, question, obj.get("id")))
        except (BriefbotError, ValueError) as exc:
            emit({"id": obj.get("id"), "question": question, "error": str(exc)})


def cmd_summarize(args: argparse.Namespace) -> int:
    from retrieval import InputError, wording

    given = [x is not None for x in (args.article_id, args.file, args.batch)]
    if sum(given) != 1:
        raise InputError(wording.text("cli.summarize.one_input"))
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
    from retrieval import BriefbotError

    for _, obj, error in read_jsonl(args.batch):
        if error:
            emit({"id": None, "error": error})
            continue
        try:
            n = obj.get("sentences") or args.sentences
            sents = corpus.summarize_text(str(obj.get("text") or ""), int(n) if n else None)
            emit({"id": obj.get("id"), "sentences": sents})
        except (BriefbotError, ValueError) as exc:
            emit({"id": obj.get("id"), "error": str(exc)})


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
    filters = make_filters(args.country, args.topic, args.since)
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

    with open_corpus(args) as corpus:
        filters = with_digest_defaults(corpus, make_filters(args.country, args.topic, args.since))
        digest = corpus.digest(filters)
        if not args.json:
            from . import handlers
            from .console import render

            render(handlers.digest_reply(corpus, digest))
            return 0
    emit(digest_json(digest))
    return 0


def cmd_articles(args: argparse.Namespace) -> int:
    filters = make_filters(args.country, args.topic, args.since)
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
                first_published=st.first_published,
                last_published=st.last_published,
            )
        )
    return 0


def cmd_retag(args: argparse.Namespace) -> int:
    from retrieval import wording

    with open_corpus(args, bundled=False) as corpus:
        n = corpus.retag()
        topics = dict(corpus.store.topic_counts())
    if args.json:
        emit({"retagged": n, "topics": topics})
    else:
        counts = [wording.text("cli.retag.topic", topic=t, count=c) for t, c in topics.items()]
        listed = ", ".join(counts) or wording.text("cli.retag.no_topics")
        print(wording.text("cli.retag.done", count=n, topics=listed))
    return 0
