"""Command handlers shared by the Discord bot and the console: options in, `Reply` out.

Handlers are synchronous (they call the retrieval library); the bot runs them
in a worker thread. They hold no state and know nothing of Discord.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from retrieval import Article, Corpus, Digest, Filters, parse_since

from .replies import Line, Reply, Section, Source

ABSTAIN_TITLE = "Nothing in the corpus answers that"


def parse_filters(
    countries: Iterable[str] | str | None = None,
    topics: Iterable[str] | str | None = None,
    since: str | None = None,
) -> Filters:
    """User option values to `Filters`; raises InputError with suggestions for bad input."""
    countries = [countries] if isinstance(countries, str) else list(countries or [])
    topics = [topics] if isinstance(topics, str) else list(topics or [])
    codes: tuple[str, ...] = ()
    if any(c.strip() for c in countries):
        from retrieval.countries import resolve_country

        codes = tuple(dict.fromkeys(resolve_country(c) for c in countries if c.strip()))
    if any(t.strip() for t in topics):
        from retrieval.topics import resolve_topic

        topics = [resolve_topic(t) for t in topics if t.strip()]
    return Filters(
        countries=codes,
        topics=tuple(dict.fromkeys(topics)),
        since=parse_since(since) if since and since.strip() else None,
    )


def _source(number: int, article: Article) -> Source:
    return Source(
        number=number,
        title=article.title,
        url=article.url,
        outlet=article.source,
        published=article.published,
        countries=list(article.countries),
    )


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _footer(corpus: Corpus) -> str:
    stats = corpus.stats()
    as_of = (stats.last_published or stats.last_ingest or "")[:10]
    return (
        f"{stats.articles} articles · corpus as of {as_of}"
        if as_of
        else f"{stats.articles} articles"
    )


def ask(corpus: Corpus, question: str, filters: Filters | None = None, limit: int = 5) -> Reply:
    result = corpus.ask(question, filters, limit)
    articles = [r.article for r in result.articles]
    if result.answer.abstained:
        return Reply(
            kind="abstain",
            title=ABSTAIN_TITLE,
            lines=[Line(a.title) for a in articles[:3]],
            notes=["Closest headlines:"] if articles else ["The corpus has no matching articles."],
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
        footer=_footer(corpus),
    )


def headlines(corpus: Corpus, filters: Filters | None = None, limit: int = 10) -> Reply:
    items = corpus.headlines(filters, limit)
    if not items:
        return Reply(
            kind="headlines",
            title="Headlines",
            notes=["No matching headlines."],
            footer=_footer(corpus),
        )
    return Reply(
        kind="headlines",
        title="Headlines",
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
    return digest_reply(corpus, corpus.digest(with_digest_defaults(corpus, filters)))


def digest_reply(corpus: Corpus, result: Digest, title: str = "Digest") -> Reply:
    if not result.stories:
        return Reply(kind="digest", title=title, notes=["No new stories."], footer=_footer(corpus))
    sources: list[Source] = []
    sections = []
    for story in result.stories:
        numbers = []
        for article in story.articles:
            sources.append(_source(len(sources) + 1, article))
            numbers.append(len(sources))
        lines = [Line(text) for text in story.summary]
        sections.append(
            Section(heading=story.title, lines=lines, countries=story.countries, cites=numbers)
        )
    since = f" since {result.since:%Y-%m-%d %H:%M} UTC" if result.since else ""
    return Reply(
        kind="digest",
        title=title,
        notes=[
            f"{plural(len(result.stories), 'story', 'stories')} from"
            f" {plural(len(sources), 'article')}{since}"
        ],
        sections=sections,
        sources=sources,
        footer=_footer(corpus),
    )


def about(corpus: Corpus, next_digests: Iterable[str] = ()) -> Reply:
    st = corpus.stats()
    sources = corpus.store.sources()[:5]
    first, last = (st.first_published or "undated")[:10], (st.last_published or "undated")[:10]
    notes = [
        f"Articles: {st.articles} ({st.vectors} sentence vectors)",
        f"Published: {first} to {last}",
        "Sources: " + (", ".join(f"{name} ({n})" for name, n in sources) or "none"),
        f"Model: {st.model} ({st.backend}); index: {st.index}",
        "Answers are sentences copied from the articles, each cited; nothing is generated.",
    ]
    digests = list(next_digests)
    notes.append("Next digests: " + ("; ".join(digests) if digests else "none scheduled"))
    return Reply(kind="about", title="About briefbot", notes=notes, footer=_footer(corpus))


def help_reply() -> Reply:
    return Reply(
        kind="help",
        title="briefbot",
        notes=[
            "/ask question [country] [topic] [since] — a cited answer from the corpus",
            "/headlines [country] [topic] [since] [limit] — newest first",
            "/digest [country] [topic] [since] — stories grouped by topic",
            "/about — corpus size, dates, sources and model",
            "Or mention me with a question.",
        ],
    )
