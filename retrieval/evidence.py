"""Which sentences may stand in an answer, and which need the sentence before them.

Scraped news pages carry lines that are sentences only to a splitter: photo
captions, bylines, "More:" links, sub-headings and the rhetorical questions
that open sections. Quoted as an answer they answer nothing, so they are never
shown. A sentence that opens with a pronoun ("He said…") is shown only with
the sentence it leans on, or not at all.
"""

from __future__ import annotations

import re

QUESTION, CAPTION, BOILERPLATE, HEADING, FRAGMENT = (
    "question",
    "caption",
    "boilerplate",
    "heading",
    "fragment",
)
# Fewer words than this is a label or a fragment, not a statement.
MIN_WORDS = 5
# A line without terminal punctuation this short is a sub-heading; longer ones are
# sentences whose source dropped the full stop.
HEADING_MAX_WORDS = 16

_CAPTION = re.compile(
    r"\bHide Caption\b|\bPhotos?:|\((?:AP|AFP|Reuters|Getty)[^)]*(?:Photo|Images)[^)]*\)"
    r"|\b(?:Getty Images|Photo(?:graph)? by|Image credit|Credit:|Caption:)"
    r"|^\s*(?:Photo|Image|Video|Watch|Gallery|Listen)\s*[:|]",
    re.IGNORECASE,
)
# "By Tuesday morning, it had…" opens a sentence, not a byline.
_WHEN = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March"
    r"|April|May|June|July|August|September|October|November|December|The|Then|Now|Late"
    r"|Early|Midday|Noon|Nightfall|Mid)"
)
_BOILERPLATE = re.compile(
    r"^\s*(?:By\s+(?!" + _WHEN + r"\b)(?-i:[A-Z])[\w.'’-]+(?:\s+(?-i:[A-Z])[\w.'’-]+)*"
    r"\s*(?:,|and|$)"
    r"|More\s*:|Related\s*:"
    r"|Read (?:more|also|next)\b|Sign up\b|Subscribe\b|Click here\b|Follow (?:us|him|her)\b"
    r"|Contributing\s*:|Updated\s+\d|Published\s+\d|Copyright\b|©)"
    # Newsletter plugs anywhere in the line, and related-story links ("Labor laws: 'A
    # victory for workers': Chipotle to pay…").
    r"|\b(?:subscribe to|sign up for|appears in)\b.{0,60}\bnewsletter\b"
    r"|^[A-Z][\w ]{2,30}:\s*['‘\"“][^'’\"”]{3,}['’\"”]\s*:",
    re.IGNORECASE,
)
_TERMINAL = tuple(".!?…\"”’')]")
# Openers that point back to something the previous sentence named.
_LEANS_BACK = re.compile(
    r"^[\"“‘']?(?:He|She|They|It|His|Her|Their|Its|Them|These|Those|This|That|Such|Both"
    r"|The (?:company|group|agency|firm|official|minister|president|ministry|move|decision"
    r"|report|statement|bill|plan|deal|country|city|state|two|latter|former))\b"
)


def unfit(text: str) -> str | None:
    """Why `text` cannot stand in an answer (a reason constant), or None if it can."""
    line = text.strip()
    words = line.split()
    if line.endswith("?") or line.endswith('?"') or line.endswith("?”"):
        return QUESTION
    if _CAPTION.search(line):
        return CAPTION
    if _BOILERPLATE.search(line):
        return BOILERPLATE
    if len(words) < MIN_WORDS:
        return FRAGMENT
    if not line.endswith(_TERMINAL) and len(words) <= HEADING_MAX_WORDS:
        return HEADING
    return None


def leans_back(text: str) -> bool:
    """Whether `text` opens by pointing at something an earlier sentence named."""
    return bool(_LEANS_BACK.match(text.strip()))
