"""`briefbot watches list|add|remove`: the same watch store the running bot reads (it
reloads the watches at every check), so the CLI can manage watches while it runs; on
the configured engine (`bot.stores.watch_store`).

Library imports are inside the functions so `briefbot --help` stays instant.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from typing import TYPE_CHECKING, Any

from .cli_corpus import load_cli_settings, make_filters, open_corpus
from .cli_json import emit

if TYPE_CHECKING:
    from .watches import Watch


def cmd_watches(args: argparse.Namespace) -> int:
    from .stores import watch_store
    from .watches import new_watch

    if args.action == "try":
        return _try(args)
    settings = load_cli_settings(args)
    with closing(watch_store(settings)) as store:
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
    from .watch_console import lines

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


def _try(args: argparse.Namespace) -> int:
    """Which of the newest articles a description would have matched, best first: a way to
    word a watch before adding it. Nothing is stored."""
    from retrieval import Filters, wording
    from retrieval.watches import WatchMatcher, WatchQuery, prepare

    from .cli_json import article_json

    filters = make_filters(args.country, args.topic, None)
    with open_corpus(args) as corpus:
        vector, terms = prepare(args.description, corpus.encoder, corpus.store)
        query = WatchQuery(
            0, vector, terms, Filters(countries=filters.countries, topics=filters.topics)
        )
        recent = corpus.store.article_ids(Filters(), newest_first=True, limit=args.recent)
        matches = sorted(WatchMatcher([query]).match(corpus.store, recent), key=lambda m: -m.score)[
            : args.limit
        ]
        articles = corpus.store.articles([m.article_id for m in matches])
    if args.json:
        emit(
            {
                "action": "try",
                "description": args.description,
                "matches": [
                    {
                        "article": article_json(articles[m.article_id], m.score),
                        "sentence": m.sentence,
                    }
                    for m in matches
                ],
            }
        )
        return 0
    for m in matches:
        a = articles[m.article_id]
        print(
            wording.text(
                "watches.cli.match",
                score=f"{m.score:.2f}",
                id=a.id,
                title=a.title,
                sentence=m.sentence,
            )
        )
    if not matches:
        print(wording.text("watches.cli.no_match", articles=len(recent)))
    return 0
