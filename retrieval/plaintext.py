"""Plain text as articles: an optional headline line, a body, and blocks of one-line
headlines (the seed corpus's format). `.txt`/`.md` files, extracted documents and
`summarize --file` text are all read here."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .dates import date_in_text
from .records import RawArticle, Skipped, make_article
from .text import is_headline_like

HEADLINE_LIST_MIN_WORDS = 4


def parse_plain_text(text: str, origin: str) -> Iterator[RawArticle | Skipped]:
    """Plain text: an optional headline line, a body, and blocks of one-line headlines.

    A block of two or more lines that all read like headlines is a list of
    headline-only items (the seed format); everything else is the article body.
    """
    blocks = [b for b in re.split(r"\n[ \t]*\n", text.strip()) if b.strip()]
    if not blocks:
        yield Skipped(origin, "empty file")
        return
    if looks_like_word_list(text):
        yield Skipped(origin, "a list of words (one or two per line), not an article")
        return
    title = None
    first_lines = blocks[0].split("\n")
    rest_after_first = len(first_lines) > 1 or len(blocks) > 1
    first_block_is_list = is_headline_list(first_lines)
    if is_headline_like(first_lines[0]) and rest_after_first and not first_block_is_list:
        title = first_lines[0]
        blocks[0] = "\n".join(first_lines[1:])
    body_blocks, headlines = [], []
    for block in blocks:
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if is_headline_list(lines):
            headlines.extend(lines)
        elif lines:
            body_blocks.append("\n".join(lines))
    if len(blocks) == 1 and len(first_lines) == 1 and title is None:
        headlines, body_blocks = [first_lines[0]], []
    if body_blocks or title:
        body = "\n\n".join(body_blocks)
        stated = date_in_text(body)
        yield make_article(
            origin, title=title, body=body, published=stated, date_source="text" if stated else None
        )
    for n, line in enumerate(headlines, 1):
        yield make_article(f"{origin}#headline-{n}", title=line)


def is_headline_list(lines: list[str]) -> bool:
    """Two or more lines that all read like headlines, of headline length (4+ words on
    average): a list of labels such as "COCOA" or "Crude Oil (CRUDE)" is not news."""
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 2 or not all(map(is_headline_like, lines)):
        return False
    return sum(len(ln.split()) for ln in lines) / len(lines) >= HEADLINE_LIST_MIN_WORDS


def looks_like_word_list(text: str) -> bool:
    """Label or keyword lists shipped beside a corpus (`all-places-strings.lc.txt`):
    many short lines, no sentence punctuation, no headline capitals."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if len(lines) < 20 or re.search(r"[.!?]", text):
        return False
    words_per_line = sum(len(ln.split()) for ln in lines) / len(lines)
    return words_per_line < 3 and not any(map(is_headline_like, lines))


__all__ = ["is_headline_list", "looks_like_word_list", "parse_plain_text"]
