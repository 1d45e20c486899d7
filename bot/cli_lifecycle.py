"""`briefbot show` and `briefbot remove`: one article in full, and taking articles out.

`remove` asks before deleting unless `--yes`; with stdin not a terminal it refuses to
ask (exit 2, a usage error: a script cannot answer, and must say `--yes` to delete).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_corpus import open_corpus
from .cli_json import emit

SHOWN_TITLES = 5


def cmd_show(args: argparse.Namespace) -> int:
    from .show import show_json, show_lines

    with open_corpus(args) as corpus:
        article = corpus.article(args.article_id)
    if args.json:
        emit(show_json(article))
    else:
        print("\n".join(show_lines(article)))
    return 0


def selection(args: argparse.Namespace):
    """The `Selection` the options name; a path is made absolute (as ingest records it)."""
    from retrieval import Selection

    from .handlers import parse_since_bounded

    path = args.path
    if path is not None and not path.lower().startswith(("http://", "https://")):
        path = str(Path(path).expanduser().resolve())
    before = parse_since_bounded(args.before) if args.before else None
    return Selection(tuple(args.article_ids), args.source or None, path, before)


def cmd_remove(args: argparse.Namespace) -> int:
    """Exit 1 when nothing matches; 0 when removed, or when the user said no."""
    from retrieval import InputError, wording

    chosen = selection(args)
    if chosen.empty:
        args.parser.error(wording.text("cli.remove.what"))
    if not args.yes and not sys.stdin.isatty():
        args.parser.error(wording.text("cli.remove.not_a_terminal"))
    with open_corpus(args, bundled=False, writer=True) as corpus:  # it deletes: a writer
        articles = corpus.select(chosen)
        if not articles:
            raise InputError(wording.text("cli.remove.none"))
        if not args.yes and not _confirmed(articles):
            print(wording.text("cli.remove.kept"), file=sys.stderr)
            if args.json:
                emit({"removed": [], "sentences": 0, "articles": corpus.store.count_articles()})
            return 0
        removal = corpus.remove([a.id for a in articles])
    if args.json:
        emit(
            {
                "removed": [a.id for a in articles],
                "sentences": removal.sentences,
                "articles": removal.remaining,
            }
        )
    else:
        for a in articles:
            print(wording.text("cli.remove.title", id=a.id, title=a.title))
        print(
            wording.text(
                "cli.remove.done",
                count=removal.articles,
                sentences=removal.sentences,
                remaining=removal.remaining,
            )
        )
    return 0


def _confirmed(articles: list) -> bool:
    """Ask on stderr (stdout stays the command's output); only y or yes removes."""
    from retrieval import wording

    lines = [wording.text("cli.remove.title", id=a.id, title=a.title) for a in articles]
    if len(lines) > SHOWN_TITLES:
        more = wording.text("cli.remove.more", count=len(lines) - SHOWN_TITLES)
        lines = [*lines[:SHOWN_TITLES], more]
    prompt = wording.text("cli.remove.confirm", count=len(articles), titles="\n".join(lines))
    print(prompt, end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
