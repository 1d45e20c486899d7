"""What a question asks for: the kind of answer, the names and numbers it is specific about,
and the time it refers to. Plain English patterns, no model.

An extractive answer is a sentence that offers the kind of thing the question
wants (a year for "what year", a name for "who") beside the question's own
rare words; and a corpus that lacks the question's names or numbers lacks its
story. Both judgements start from this analysis.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .aliases import fold
from .mentions import matcher

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
    # The clause that asks ("What year did it debut?" after the sentence that sets the
    # scene) and the words naming what is asked for ("which *dinosaur*", "who was the
    # *designer*"): an answer sentence holds them beside the thing it offers.
    ask_clause: str = ""
    focus: tuple[str, ...] = ()
    # The content words just before the question word and just after what it asks
    # about ("led [which national team] to victory"): the answer stands between them.
    slot: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


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
        ask_clause=ask_clause(text),
        focus=focus_words(text),
        slot=slot_words(text),
    )


_WORD = re.compile(r"[\w’'-]+")


def slot_words(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Up to two content words (lower case) either side of the asking phrase."""
    clause = ask_clause(text)
    match = _WH.search(clause)
    if not match:
        return ((), ())
    before = [w for w in _WORD.findall(clause[: match.start()].lower()) if w not in _STOP_ALL]
    rest = _WORD.findall(clause[match.end() :].lower())
    focus = set(focus_words(text))
    after = [w for w in rest if w not in _STOP_ALL and w not in focus and w not in _VAGUE]
    return (tuple(before[-2:]), tuple(after[:2]))


_CLAUSES = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z\"“‘'])")
_WH = re.compile(r"\b(?:who|whom|whose|what|which|where|when|how)\b", re.IGNORECASE)


def ask_clause(text: str) -> str:
    """The sentence of a question that holds its question word (the last such), else its
    last sentence: quiz questions often set the scene first."""
    clauses = [c for c in _CLAUSES.split(text.strip()) if c]
    asking = [c for c in clauses if _WH.search(c)]
    return (asking or clauses or [text])[-1]


# Words between a question word and what it asks about ("what *was the* name").
_SKIP = frozenset(
    [
        "is",
        "was",
        "are",
        "were",
        "be",
        "been",
        "did",
        "does",
        "do",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "the",
        "a",
        "an",
        "its",
        "their",
        "his",
        "her",
        "this",
        "that",
        "these",
        "those",
        "of",
    ]
)
# Words that say "a thing" without saying what kind.
_VAGUE = frozenset(
    ["name", "names", "one", "kind", "type", "thing", "things", "term", "word", "title", "called"]
)
_FOCUS = re.compile(
    r"\b(?:which|what|whose|who (?:is|was|are|were|will be)(?: the| a| an)?)\s+([^?.,:;]*)",
    re.IGNORECASE,
)


def focus_words(text: str) -> tuple[str, ...]:
    """The words naming the kind of thing asked for, lower case: "which national park" ->
    ("national", "park"); "what was the name of the mission" -> ("mission",)."""
    match = _FOCUS.search(ask_clause(text))
    if not match:
        return ()
    out: list[str] = []
    for word in re.findall(r"[\w’'-]+", match.group(1).lower()):
        if word in _SKIP and not out:
            continue
        if word in _VAGUE and not out:
            continue
        if word in _SKIP or word in _STOP or word in _VAGUE or len(out) == 3:
            break
        out.append(word)
    return tuple(out)


_STOP_ALL = _SKIP | frozenset(
    [
        "and",
        "as",
        "at",
        "being",
        "but",
        "by",
        "for",
        "from",
        "he",
        "here",
        "how",
        "i",
        "in",
        "it",
        "not",
        "on",
        "or",
        "she",
        "so",
        "than",
        "them",
        "then",
        "there",
        "they",
        "to",
        "we",
        "week",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "with",
        "you",
    ]
)
_STOP = frozenset(
    [
        "in",
        "on",
        "at",
        "for",
        "by",
        "to",
        "from",
        "with",
        "as",
        "after",
        "before",
        "about",
        "into",
        "over",
        "under",
        "during",
        "since",
        "did",
        "does",
        "do",
        "is",
        "was",
        "are",
        "were",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "recently",
        "this",
        "week",
    ]
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


def name_runs(text: str) -> list[str]:
    """Every run of capitalised words in `text`, a sentence's first word included,
    without a possessive ("South Korea’s" -> "South Korea")."""
    out = []
    for match in _NAME_RUN.finditer(text):
        name = re.sub(r"['’]s$", "", match.group(0).strip(" .'’-")).strip()
        if name:
            out.append(name)
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
    if kind == PLACE:  # a place the country tables know, which the question does not name
        return any(any(w not in known for w in key.split()) for key in places(sentence))
    return any(
        any(w.lower().strip(".'’") not in known for w in name.split())
        for name in question_names(sentence)
    )


_NUMBER_WORDS = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|half|percent)\b",
    re.IGNORECASE,
)


# Entries of the country tables that are places (not people, demonyms or institutions).
_PLACE_KINDS = frozenset({"name", "alias", "city", "region", "derived"})


@functools.lru_cache(maxsize=4096)
def places(text: str) -> frozenset[str]:
    """The places `text` names that the country tables know (countries, states, cities),
    lower-cased: what a "where" or "which state" question is answered with."""
    folded = fold(text)
    found = matcher().scan(folded, "sentence", folded)
    return frozenset(m.key for m in found if m.kind in _PLACE_KINDS)
