"""One article drawn in full: as text for `briefbot show ID` and the console's `/show ID`,
and as a reply for Discord's `/show id:` (its text cut to fit one embed).

Shows what a reader needs to judge it: where it came from, its tags, and where its
date came from ("undated" when none was found: ingestion time is not a publication date).
"""

from __future__ import annotations

from typing import Any

from retrieval import Article, Corpus, wording

from .replies import Line, Reply, flag

# Discord's /show: everything in one embed (4,096 characters), the text cut to fit.
SHOW_LIMIT = 4096


def date_line(article: Article) -> str:
    """The publication date and where it came from, or "undated" honestly."""
    if not article.published:
        return wording.text("cli.show.undated")
    source = {
        "record": wording.text("cli.show.from.record"),
        "feed": wording.text("cli.show.from.feed"),
        "page": wording.text("cli.show.from.page"),
        "text": wording.text("cli.show.from.text"),
    }.get(article.date_source or "", wording.text("cli.show.from.unrecorded"))
    return wording.text("cli.show.dated", published=article.published, source=source)


def show_lines(article: Article) -> list[str]:
    """The article's metadata lines, a blank line, then its title (unless derived from the
    body) and body, a blank line between them."""
    none = wording.text("cli.show.none")
    lines = [
        wording.text("cli.show.id", id=article.id),
        wording.text("cli.show.title", title=article.title),
        wording.text("cli.show.source", source=article.source or none),
        wording.text("cli.show.url", url=article.url or none),
        wording.text("cli.show.published", date=date_line(article)),
        wording.text("cli.show.added", added=article.added or none),
    ]
    if article.updated:
        lines.append(wording.text("cli.show.updated", updated=article.updated))
    lines += [
        wording.text("cli.show.origin", origin=article.location or article.origin or none),
        wording.text("cli.show.external_id", external_id=article.external_id or none),
        wording.text("cli.show.countries", countries=", ".join(article.countries) or none),
        wording.text("cli.show.topics", topics=", ".join(article.topics) or none),
        "",
    ]
    text = [t for t in ("" if article.title_derived else article.title, article.body) if t]
    return lines + "\n\n".join(text).split("\n")


def show_json(article: Article) -> dict[str, Any]:
    """`briefbot show --json`: the listing fields of an article, plus everything else held."""
    from .cli_json import article_json

    return {
        **article_json(article),
        "date_source": article.date_source if article.published else None,
        "added": article.added,
        "updated": article.updated,
        "origin": article.origin,
        "location": article.location,
        "dateline": article.dateline,
        "title_derived": article.title_derived,
        "body": article.body,
    }


def show_reply(corpus: Corpus, article_id: int) -> Reply:
    """Discord's `/show id:`: the article's metadata as labelled lines, then its text cut
    at a word to fit one embed (saying so, and where the whole text is), and a link.

    The reply is Discord's own (the console draws `show_lines`), so the article's values
    are made inert here, where they are set between our markdown labels."""
    from .embeds import inert, link_target

    article = corpus.article(article_id)
    none = wording.text("replies.show.none")
    if article.published:
        source = date_line(article).partition("(")[2].rstrip(")")
        dated = wording.text("replies.show.published", date=article.published[:10], source=source)
    else:
        dated = wording.text("replies.show.undated")
    countries = " ".join(f"{flag(c)} {c}".lstrip() for c in article.countries)
    link = link_target(article.url)
    notes = [
        wording.text(
            "replies.show.outlet", outlet=inert(article.source) if article.source else none
        ),
        dated,
        wording.text("replies.show.countries", countries=countries or none),
        wording.text("replies.show.topics", topics=inert(", ".join(article.topics) or none)),
        wording.text("replies.show.link", link=f"<{link}>" if link else none),
    ]
    room = SHOW_LIMIT - sum(len(n) + 1 for n in notes) - 1
    lines = _fitted(article.body, room)
    added = f"{article.added[:16].replace('T', ' ')} UTC" if article.added else none
    footer = wording.text("replies.show.footer", id=article.id, added=added)
    shown = sum(len(line) + 1 for line in lines) - 1
    if shown < len(article.body.strip()):
        cut = wording.text(
            "replies.show.cut", shown=max(shown, 0), total=len(article.body), id=article.id
        )
        footer = f"{footer} · {cut}"
    return Reply(
        kind="article",
        title=article.title,
        notes=notes,
        lines=[Line(text) for text in lines],
        footer=footer,
    )


def _fitted(body: str, room: int) -> list[str]:
    """The body's lines, as many as fit in `room` characters once made inert (escaping
    adds backslashes), the first one that does not fit cut at a word."""
    from .embeds import cut, inert

    kept: list[str] = []
    used = 0
    for line in body.strip().split("\n"):
        size = len(inert(line)) + 1
        if used + size <= room:
            kept.append(line)
            used += size
            continue
        left = room - used - 1
        while left > 0 and len(inert(part := cut(line, left))) > room - used - 1:
            left -= max(1, (len(inert(part)) - (room - used - 1)))  # escapes made it longer
        if left > 1:
            kept.append(part)
        break
    return kept
