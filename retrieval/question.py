"""What a question asks for: the kind of answer, the names and numbers it is specific about,
and the time it refers to. Plain English patterns, no model.

An extractive answer is a sentence that offers the kind of thing the question
wants (a year for "what year", a name for "who") beside the question's own
rare words; and a corpus that lacks the question's names or numbers lacks its
story. Both judgements start from this analysis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The answer kinds a sentence can be checked for without a tagger.
YEAR, NUMBER, NAME, PLACE = "year", "number", "name", "place"

_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (YEAR, r"\b(?:what|which|in what|in which) year\b|\bsince when\b|\bsince\s*[:?]\s*$"),
        (
            NUMBER,
            r"\bhow (?:many|much|old|long|far|big|large|high|tall|deep|fast)\b"
            r"|\bwhat (?:percentage|percent|share|number|amount|age|price)\b"
            r"|\bby how\b",
        ),
        (
            PLACE,
            r"\bwhere\b|\b(?:which|what) (?:country|countries|city|cities|state|states|nation"
            r"|island|region|province|capital|county|continent|park)\b",
        ),
        (YEAR, r"^\s*when\b|\bwhen (?:did|was|were|will|is)\b"),
        (
            NAME,
            r"\bwho(?:m|se)?\b|\b(?:titled|called|named|nicknamed|dubbed)\b"
            r"|\b(?:which|what) [a-z]+\b",
        ),
    )
)
# Words that ask for the past: an answer may then mix years.
_HISTORY = re.compile(
    r"\b(?:history|historic(?:al)?|since|first time|ever|decades?|centur(?:y|ies)|"
    r"(?:19|20)\d\d\s*(?:-|–|to)\s*(?:19|20)\d\d|over the years|used to|originally)\b",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\b(today|tonight|yesterday|this (?:week|weekend|month|year)|last (?:week|weekend|month)"
    r"|latest|recent(?:ly)?|newest|most recent|so far this year)\b",
    re.IGNORECASE,
)
_YEAR_TOKEN = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_NUMBER_TOKEN = re.compile(r"\d+(?:[.,]\d+)*")
# A run of capitalised words (names); "of", "de", "the" may sit inside one.
_NAME_RUN = re.compile(
    r"(?:[A-Z][\w'’.-]*|[A-Z]{2,})(?:\s+(?:(?:of|de|la|the|and|von|van|al|bin)\s+)?"
    r"(?:[A-Z][\w'’.-]*|\d+))*"
)
_QUESTION_OPENERS = frozenset(
    [
        "who",
        "whom",
        "whose",
        "what",
        "which",
        "where",
        "when",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "in",
        "on",
        "at",
        "for",
        "by",
        "of",
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "according",
        "after",
        "before",
        "as",
    ]
)


@dataclass(frozen=True)
class Question:
    text: str
    wants: str | None  # YEAR, NUMBER, NAME, PLACE or None
    names: tuple[str, ...]  # capitalised names the question mentions, as written
    numbers: tuple[str, ...]  # numbers and years it mentions
    years: tuple[int, ...]
    relative: str | None  # "this week", "latest", ... (lower case)
    history: bool


def analyse(text: str) -> Question:
    """The kind of answer `text` wants and the specifics it names."""
    wants = next((kind for kind, pattern in _KIND_PATTERNS if pattern.search(text)), None)
    relative = _RELATIVE.search(text)
    return Question(
        text=text,
        wants=wants,
        names=tuple(dict.fromkeys(question_names(text))),
        numbers=tuple(dict.fromkeys(_NUMBER_TOKEN.findall(text))),
        years=tuple(dict.fromkeys(int(y) for y in _YEAR_TOKEN.findall(text))),
        relative=relative.group(1).lower() if relative else None,
        history=bool(_HISTORY.search(text)),
    )


def question_names(text: str) -> list[str]:
    """Capitalised names in a question, without the capital every sentence starts with."""
    out = []
    for match in _NAME_RUN.finditer(text):
        name = match.group(0).strip(" .'’-")
        words = name.split()
        # A sentence's first word is capitalised anyway: keep it only inside a longer run.
        at_start = match.start() == 0 or text[: match.start()].rstrip()[-1:] in '.?!:"“'
        if at_start and words and words[0].lower() in _QUESTION_OPENERS:
            words = words[1:]
            if words and words[0].lower() in ("of", "de", "the", "and"):
                words = words[1:]
        if not words or (at_start and len(words) == 1 and not words[0].isupper()):
            continue
        out.append(" ".join(words))
    return out


def offered(sentence: str, question: Question) -> bool:
    """Whether `sentence` offers something of the kind the question wants that the question
    does not already hold (a restatement of the question is not an answer)."""
    kind = question.wants
    if kind is None:
        return False
    if kind == YEAR:
        return any(int(y) not in question.years for y in _YEAR_TOKEN.findall(sentence))
    if kind == NUMBER:
        return any(n not in question.numbers for n in _NUMBER_TOKEN.findall(sentence)) or bool(
            _NUMBER_WORDS.search(sentence)
        )
    known = {w.lower() for name in question.names for w in name.split()}
    known |= {w.lower() for w in re.findall(r"\w+", question.text)}
    return any(
        any(w.lower().strip(".'’") not in known for w in name.split())
        for name in question_names(sentence)
    )


_NUMBER_WORDS = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|half|percent)\b",
    re.IGNORECASE,
)
