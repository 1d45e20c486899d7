"""What a command answers, before it is drawn as a Discord embed or as console text.

The reply model holds raw article text; each renderer escapes it for its medium.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["answer", "abstain", "headlines", "digest", "about", "help", "error", "article"]


@dataclass
class Source:
    number: int
    title: str
    url: str | None = None
    outlet: str | None = None
    published: str | None = None
    countries: list[str] = field(default_factory=list)


@dataclass
class Line:
    """A sentence (or headline) copied from an article, with the sources it cites."""

    text: str
    cites: list[int] = field(default_factory=list)


@dataclass
class Section:
    """One digest story: its headline, the sources it cites, and summary sentences."""

    heading: str
    lines: list[Line]
    countries: list[str] = field(default_factory=list)
    cites: list[int] = field(default_factory=list)
    note: str = ""  # e.g. "developing: 3rd day, 5 articles"


@dataclass
class Reply:
    kind: Kind
    title: str
    lines: list[Line] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # our own words, not article text
    footer: str | None = None
    ephemeral: bool = False


def flag(code: str) -> str:
    """The emoji flag of an ISO 3166-1 alpha-2 code (regional indicator pair)."""
    if len(code) != 2 or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code.upper())
