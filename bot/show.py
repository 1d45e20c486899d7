"""One article drawn as text, in full: `briefbot show ID` and the console's `/show ID`.

Shows what a reader needs to judge it: where it came from, its tags, and where its
date came from ("undated" when none was found: ingestion time is not a publication date).
"""

from __future__ import annotations

from typing import Any

from retrieval import Article, wording


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
