"""Command handlers shared by the Discord bot and the console: options in, `Reply` out.

Handlers are synchronous (they call the retrieval library); the bot runs them
in a worker thread. They hold no state and know nothing of Discord.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from retrieval import (
    Article,
    Corpus,
    Digest,
    Filters,
    InputError,
    Story,
    clean_title,
    parse_since,
    wording,
)

from .replies import Line, Reply, Section, Source

# A `since` further back than this is a typo (99999999d), not a request: it would also
# overflow `datetime` (year 1) long before it meant anything for a news corpus.
MAX_SINCE_YEARS = 100
# `limit` bounds: at least one result; the cap only keeps a typo (or a fuzzer) from
# reaching SQLite's 64-bit LIMIT, and is far above any listing a person reads.
MAX_LIMIT = 1_000_000


def parse_count(value: object, name: str, most: int = MAX_LIMIT) -> int:
    """A user-given count (`limit`, `sentences`): a whole number from 1 to `most`.

    Accepts an int or its decimal text (console and Discord options arrive as text);
    anything else, a bool included, is an InputError naming the option.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # Text as long as 2**63 is out of range however it reads; parsing it costs nothing.
        number = int(value.strip()) if len(value.strip()) <= 19 else most + 1
    if number is None or not 1 <= number <= most:
        raise InputError(wording.text("errors.count.invalid", name=name, most=most, value=value))
    return number


def parse_since_bounded(value: str, now: datetime | None = None) -> datetime:
    """`parse_since`, refusing a point more than MAX_SINCE_YEARS back (or past datetime's
    range, where `parse_since` overflows)."""
    now = now or datetime.now(UTC)
    earliest = now - timedelta(days=365.25 * MAX_SINCE_YEARS)
    try:
        since = parse_since(value, now)
    except OverflowError:
        since = None
    except ValueError:  # a date the parser half-reads (0H-2400: a UTC offset past 24h)
        raise InputError(wording.text("errors.since.unreadable", since=value)) from None
    if since is None or since < earliest:
        raise InputError(wording.text("errors.since.too_far", since=value, years=MAX_SINCE_YEARS))
    return since


PAIR = "+"  # `country:"JP+US"`: articles about Japan and the United States together


def split_pair(value: str) -> list[str]:
    """ "JP+US" -> ["JP", "US"]: the actors of one country option, all required."""
    return [part.strip() for part in value.split(PAIR)]


def _pair_parts(value: str) -> list[str]:
    """`split_pair`, refusing an empty side ("JP+") with a message that says so."""
    parts = split_pair(value)
    if len(parts) > 1 and not all(parts):
        raise InputError(wording.text("errors.country.pair_side_empty", value=value.strip()))
    return parts


def split_options(
    rest: str, options: Sequence[str], flags: Sequence[str] = ()
) -> tuple[list[str], dict[str, list[str]]]:
    """A console line's `--name value` and Discord-style `name:value` options, by name (a
    flag alone means yes); the other tokens are the words. Unbalanced quotes split on spaces."""
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    words: list[str] = []
    opts: dict[str, list[str]] = {}
    it = iter(tokens)
    for tok in it:
        if tok.startswith("--") and tok[2:] in flags:
            opts.setdefault(tok[2:], []).append("yes")
        elif tok.startswith("--") and tok[2:] in options:
            opts.setdefault(tok[2:], []).append(next(it, ""))
        elif ":" in tok and tok.split(":", 1)[0] in options:
            key, value = tok.split(":", 1)
            opts.setdefault(key, []).append(value or next(it, ""))
        else:
            words.append(tok)
    return words, opts


def parse_flag(value: object, name: str) -> bool:
    """A yes/no option: a bool, or its text as typed in the console (yes/no, true/false)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("", "yes", "y", "true", "1", "on"):
        return True
    if text in ("no", "n", "false", "0", "off"):
        return False
    raise InputError(wording.text("errors.flag.invalid", name=name, value=value))


def _resolve(value: object, hints: list[str]) -> str:
    from retrieval.countries import grouping_hint, resolve_country

    if not isinstance(value, str) or not value.strip():
        raise InputError(wording.text("errors.country.empty"))
    code = resolve_country(value)
    if hint := grouping_hint(value, code):
        hints.append(hint)
    return code


def parse_filters(
    countries: Iterable[str] | str | None = None,
    topics: Iterable[str] | str | None = None,
    since: str | None = None,
    with_countries: Iterable[str] | str | None = None,
    members: object = False,
) -> Filters:
    """User option values to `Filters`; raises InputError with suggestions for bad input.

    Each country value is one actor or a pair: "JP+US" means about Japan *and* the
    US (the first part joins the any-of list, the rest are required); `with_countries`
    adds required actors the same way. `members` widens groupings to their members.
    An option given but blank (`--country ""`) is an error, not a silently dropped
    filter: the user asked for a filter and would get every article.
    """
    countries = [countries] if isinstance(countries, str) else list(countries or [])
    with_countries = (
        [with_countries] if isinstance(with_countries, str) else list(with_countries or [])
    )
    topics = [topics] if isinstance(topics, str) else list(topics or [])
    # argparse hands `--country=--` over as an empty list: a blank value all the same.
    if any(not isinstance(t, str) or not t.strip() for t in topics):
        raise InputError(wording.text("errors.topic.empty"))
    hints: list[str] = []
    anyof: list[str] = []
    required: list[str] = []
    for value in countries:
        if not isinstance(value, str):
            raise InputError(wording.text("errors.country.empty"))
        first, *rest = _pair_parts(value)
        anyof.append(_resolve(first, hints))
        required.extend(_resolve(part, hints) for part in rest)
    for value in with_countries:
        if not isinstance(value, str):
            raise InputError(wording.text("errors.country.empty"))
        required.extend(_resolve(part, hints) for part in _pair_parts(value))
    if topics:
        from retrieval.topics import resolve_topic

        topics = [resolve_topic(t) for t in topics]
    codes = tuple(dict.fromkeys(anyof))
    if not codes and required:  # `--with US` alone: about the US
        codes, required = (required[0],), required[1:]
    return Filters(
        countries=codes,
        with_countries=tuple(c for c in dict.fromkeys(required) if c not in codes),
        members=parse_flag(members, "members"),
        topics=tuple(dict.fromkeys(topics)),
        since=parse_since_bounded(since) if since and since.strip() else None,
        hints=tuple(dict.fromkeys(hints)),
    )


def _with_hints(reply: Reply, filters: Filters | None) -> Reply:
    """How the filter was read ("EC is Ecuador; did you mean ...?") goes first."""
    if filters is not None and filters.hints:
        reply.notes[:0] = list(filters.hints)
    return reply


def _source(number: int, article: Article) -> Source:
    return Source(
        number=number,
        title=article.title,
        url=article.url,
        outlet=article.source,
        published=article.published,
        countries=list(article.countries),
    )


def _footer(corpus: Corpus) -> str:
    stats = corpus.stats()
    as_of = (stats.last_published or stats.last_ingest or "")[:10]
    if as_of:
        return wording.text("replies.footer.dated", articles=stats.articles, as_of=as_of)
    return wording.text("replies.footer.undated", articles=stats.articles)


def ask(corpus: Corpus, question: str, filters: Filters | None = None, limit: int = 5) -> Reply:
    return _with_hints(_ask(corpus, question, filters, limit), filters)


def _ask(corpus: Corpus, question: str, filters: Filters | None, limit: int) -> Reply:
    result = corpus.ask(question, filters, limit)
    articles = [r.article for r in result.articles]
    # How the question was read, when it changed what was searched ("nothing from 2015").
    noted = [result.answer.note] if result.answer.note else []
    if result.answer.abstained:
        return Reply(
            kind="abstain",
            title=wording.text("replies.abstain.title"),
            lines=[Line(a.title) for a in articles[:3]],
            notes=[*noted, wording.text("replies.abstain.closest")]
            if articles
            else [*noted, wording.text("replies.abstain.empty")],
            footer=_footer(corpus),
        )
    cited = list(dict.fromkeys(s.article_id for s in result.answer.sentences))
    by_id = {a.id: a for a in articles}
    number = {aid: n for n, aid in enumerate(cited, 1)}
    others = [a.id for a in articles if a.id not in number]
    for aid in others:  # the other ranked articles follow the cited ones
        number[aid] = len(number) + 1
    return Reply(
        kind="answer",
        title=question.strip(),
        lines=[Line(s.text, [number[s.article_id]]) for s in result.answer.sentences],
        sources=[_source(number[aid], by_id[aid]) for aid in [*cited, *others]],
        notes=noted,
        footer=_footer(corpus),
    )


def headlines(corpus: Corpus, filters: Filters | None = None, limit: int = 10) -> Reply:
    return _with_hints(_headlines(corpus, filters, limit), filters)


def _headlines(corpus: Corpus, filters: Filters | None, limit: int) -> Reply:
    items = corpus.headlines(filters, limit)
    if not items:
        return Reply(
            kind="headlines",
            title=wording.text("replies.headlines.title"),
            notes=[wording.text("replies.headlines.empty")],
            footer=_footer(corpus),
        )
    return Reply(
        kind="headlines",
        title=wording.text("replies.headlines.title"),
        lines=[Line(a.title, [n]) for n, a in enumerate(items, 1)],
        sources=[_source(n, a) for n, a in enumerate(items, 1)],
        footer=_footer(corpus),
    )


def with_digest_defaults(corpus: Corpus, filters: Filters | None) -> Filters:
    """A digest covers the configured digest topics and window unless the user chose."""
    filters = filters or Filters()
    cfg = corpus.settings.digest
    return replace(
        filters,
        topics=filters.topics or tuple(cfg.topics),
        since=filters.since or (parse_since(cfg.since) if filters.after_id is None else None),
    )


def digest(corpus: Corpus, filters: Filters | None = None) -> Reply:
    """An on-demand digest: the stories in the window, grouped, ranked and summarised."""
    reply = digest_reply(corpus, corpus.digest(with_digest_defaults(corpus, filters)))
    return _with_hints(reply, filters)


def digest_reply(corpus: Corpus, result: Digest, title: str | None = None) -> Reply:
    """A digest as a reply; `title` defaults to the digest wording's title."""
    if title is None:
        title = wording.text("digest.title")
    footer = _digest_footer(corpus, result)
    if not result.stories:
        notes = [wording.text("digest.empty")]
        return Reply(kind="digest", title=title, notes=notes, footer=footer)
    sources: list[Source] = []
    sections = []
    for story in result.stories:
        numbers = []
        for article in story.articles:
            source = _source(len(sources) + 1, article)
            sources.append(replace(source, title=clean_title(source.title)))
            numbers.append(len(sources))
        lines = [Line(text) for text in story.summary]
        sections.append(
            Section(
                heading=story.title,
                lines=lines,
                countries=story.countries,
                cites=numbers,
                note=_developing(story),
            )
        )
    overview = wording.text(
        "digest.overview",
        stories=wording.text("digest.stories", count=len(result.stories)),
        articles=wording.text("digest.articles", count=len(sources)),
        since=wording.text("digest.since", since=result.since) if result.since else "",
        counted=wording.text("digest.counted.window")
        if result.since
        else wording.text("digest.counted.last"),
    )
    return Reply(
        kind="digest",
        title=title,
        notes=[overview],
        sections=sections,
        sources=sources,
        footer=footer,
    )


def _digest_footer(corpus: Corpus, result: Digest) -> str:
    """The corpus footer, and what "new" meant: a digest with a start holds what was
    published since then (undated articles by ingestion time); a subscription's next
    digest, without one, what was ingested since its previous digest."""
    if result.since:
        return wording.text("digest.footer.window", footer=_footer(corpus))
    return wording.text("digest.footer.last", footer=_footer(corpus))


def _developing(story: Story) -> str:
    """The note "developing: 3rd day, 5 articles" of a story continuing from earlier periods."""
    if not story.developing:
        return ""
    articles = wording.text("digest.articles", count=story.total)
    return wording.text("digest.developing", day=_ordinal(story.days), articles=articles)


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st (English ordinals)."""
    if n % 100 in (11, 12, 13) or n % 10 not in (1, 2, 3):
        return wording.text("digest.ordinal.th", n=n)
    if n % 10 == 1:
        return wording.text("digest.ordinal.st", n=n)
    if n % 10 == 2:
        return wording.text("digest.ordinal.nd", n=n)
    return wording.text("digest.ordinal.rd", n=n)


def about(corpus: Corpus, next_digests: Iterable[str] = ()) -> Reply:
    st = corpus.stats()
    sources = corpus.store.sources()[:5]
    undated = wording.text("replies.about.undated")
    first, last = (st.first_published or undated)[:10], (st.last_published or undated)[:10]
    listed = ", ".join(
        wording.text("replies.about.source", name=name, count=n) for name, n in sources
    )
    digests = list(next_digests)
    notes = [
        wording.text("replies.about.articles", articles=st.articles, vectors=st.vectors),
        wording.text("replies.about.published", first=first, last=last),
        wording.text(
            "replies.about.sources", sources=listed or wording.text("replies.about.no_sources")
        ),
        wording.text("replies.about.model", model=st.model, backend=st.backend, index=st.index),
        wording.text("replies.about.method"),
        wording.text(
            "replies.about.next_digests",
            digests="; ".join(digests) if digests else wording.text("replies.about.no_digests"),
        ),
    ]
    title = wording.text("replies.about.title")
    return Reply(kind="about", title=title, notes=notes, footer=_footer(corpus))


def help_reply() -> Reply:
    return Reply(
        kind="help",
        title=wording.text("replies.help.title"),
        notes=wording.text("replies.help.commands").splitlines(),
    )
