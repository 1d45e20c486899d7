"""Which sentences answer: features of each candidate sentence, a fitted score, and the
set of sentences shown under a word budget.

A sentence answers when it offers the kind of thing asked for (a year, a number,
a name) *beside* the question's own words: "the famed designer Bob Mackie" for
"who was the designer", "the zodiac sign Cancer" for "what sign". Similarity
alone finds the sentence that restates the question. So each sentence of the
best articles is described by its similarity, the question's words and word
pairs it holds (those of the asking clause apart), what it offers that the
question lacks and how near that stands to the question's words and to the
words naming what is asked for, its article's rank and its depth, and how it
stands among its own article's sentences (`within_article`); a logistic
model fitted on which sentences hold the gold answer of news-quiz questions
(`python bench/fit_sentences.py`, cross-validated by question) turns them into
the chance that the sentence holds the answer.

The answer then takes the likeliest sentences in turn while they fit the word
budget, shown in reading order. A sentence that opens by pointing back ("He said…")
brings the sentence before it, and both count against the budget.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np

from .analysis import STOPWORDS, QuestionWords, stem
from .evidence import leans_back, unfit
from .question import NAME, NUMBER, PLACE, YEAR, Question, offered, question_names
from .scope import off_filter
from .search import Candidate, Retrieval, SentenceTable, rows
from .text import words
from .within_article import ARTICLE_FEATURES, article_features

SENTENCE_FEATURES = (
    "sim",
    "sim_gap",
    "share",
    "ask_share",
    "pairs",
    "share_before",
    "share_after",
    "offered",
    "novel",
    "near",
    "focus",
    "focus_near",
    "lead",
    "depth",
    "leans",
    "length",
    "share_gap",
    "country",
    "redundant",
    "slot",
    *ARTICLE_FEATURES,
)
# Fitted by `python bench/fit_sentences.py` (a softmax over each question's candidate
# sentences, labelled by whether they hold a gold answer). Refit when a feature changes.
SENTENCE_WEIGHTS = (
    0.940, 0.846, -2.196, 1.864, 0.879, 0.350, 2.394, 1.591, 0.910, -0.191,
    -0.225, 1.343, -0.472, -1.394, -0.485, 0.105, -1.010, 2.514, 0.023, 2.306,
    1.863, -0.675, 2.823, -0.819, 2.385, -0.388,
)  # fmt: skip
# Candidates the answer set is chosen from, and the most sentences it holds.
SHORTLIST = 10
MAX_SET = 4
# Near-duplicate sentences (different outlets, same wording) are never both shown.
DUPLICATE_SIM = 0.92
# A novel name or number this many words from a question word stands beside it.
NEAR_WORDS = 6
_TOKEN = re.compile(r"[\w’'.-]+")
_NUMBERISH = re.compile(r"\d")


@dataclass
class AnswerSentence:
    text: str
    article_id: int
    position: int
    score: float


def same_story_era(
    candidates: list[Candidate], years: dict[int, int], question: Question
) -> list[Candidate]:
    """The candidates, without those dated to another year than the best one: another
    year's summit is another story. A question about history may mix years."""
    if question.history or not candidates or candidates[0].article_id not in years:
        return candidates
    year = years[candidates[0].article_id]
    return [c for c in candidates if years.get(c.article_id, year) == year]


def candidate_pool(table: SentenceTable, candidates: list[Candidate]) -> list[int]:
    """Table rows that may stand in an answer: body sentences fit to be shown (a
    headline-only item answers with its headline)."""
    pool: list[int] = []
    for c in candidates:
        span = rows(table, c.article_id)
        body = [i for i in span if table.positions[i] >= 0]
        if body:
            pool.extend(i for i in body if not unfit(table.texts[i]))
        else:
            pool.extend(span)
    return pool


def sentence_features(retrieval: Retrieval, question: Question, pool: list[int]) -> np.ndarray:
    """One row of SENTENCE_FEATURES per pool sentence."""
    table = retrieval.sentences
    whole, asking = (
        QuestionWords(question.text),
        QuestionWords(question.ask_clause or question.text),
    )
    known = {w.lower() for w in re.findall(r"\w+", question.text)}
    focus = {stem(w) for w in question.focus}
    qpairs = {
        (stem(a), stem(b))
        for a, b in itertools.pairwise(words(question.text))
        if a not in STOPWORDS and b not in STOPWORDS
    }
    found_cache: dict[int, set[str]] = {}
    token_cache: dict[int, list[str]] = {}

    def tokens(i: int) -> list[str]:
        if i not in token_cache:
            token_cache[i] = words(table.texts[i])
        return token_cache[i]

    def found(i: int) -> set[str]:
        if i not in found_cache:
            toks = tokens(i)
            found_cache[i] = {stem(t) for t, m in zip(toks, whole.marks(toks), strict=True) if m}
        return found_cache[i]

    def neighbour_share(i: int, step: int) -> float:
        j = i + step
        if 0 <= j < len(table.texts) and table.owners[j] == table.owners[i]:
            return whole.share(found(j))
        return 0.0

    best_sim = max(float(table.sims[i]) for i in pool)
    best_share = max(whole.share(found(i)) for i in pool)
    novel = {i: _novel_positions(table.texts[i], tokens(i), question, known) for i in pool}
    offers = {i: {tokens(i)[k] for k in novel[i]} for i in pool}
    counts: dict[str, int] = {}
    for found_here in offers.values():
        for token in found_here:
            counts[token] = counts.get(token, 0) + 1
    most = max(counts.values(), default=1)
    left, right = ({stem(w) for w in side} for side in question.slot)
    prefixes = whole.prefixes | {w[:3] for w in focus | left | right}
    countries = _country_mentions if question.wants == PLACE else None
    out = np.zeros((len(pool), len(SENTENCE_FEATURES) - len(ARTICLE_FEATURES)), dtype=np.float64)
    for row, i in enumerate(pool):
        text = table.texts[i]
        toks = tokens(i)
        # Only words that may be a question's are stemmed: stemming is most of the cost.
        stems = [stem(t) if t[:3] in prefixes else t for t in toks]
        marks = whole.marks(toks)
        novel_at = novel[i]
        focus_at = [k for k, s in enumerate(stems) if s in focus]
        term_at = [k for k, m in enumerate(marks) if m]
        position = int(table.positions[i])
        out[row] = (
            float(table.sims[i]),
            float(table.sims[i]) - best_sim,
            whole.share(found(i)),
            asking.share(found(i)),
            len(set(itertools.pairwise(stems)) & qpairs) / len(qpairs) if qpairs else 0.0,
            neighbour_share(i, -1),
            neighbour_share(i, 1),
            float(offered(text, question)),
            min(len(novel_at), 3) / 3,
            nearness(novel_at, term_at),
            float(bool(focus_at)),
            nearness(novel_at, focus_at),
            float(position == 0),
            min(max(position, 0), 20) / 20,
            float(leans_back(text)),
            min(len(text.split()), 60) / 60,
            whole.share(found(i)) - best_share,
            float(bool(countries and countries(text, question.text.lower()))),
            max((counts[t] for t in offers[i]), default=0) / most,
            slotted(novel_at, stems, left, right),
        )
    return np.hstack([out, article_features(table, question, pool)])


def _country_mentions(text: str, question: str) -> bool:
    """Whether `text` names a country the question (lower case) does not."""
    names = _country_names()
    return any(n.lower() in names and n.lower() not in question for n in question_names(text))


@functools.cache
def _country_names() -> frozenset[str]:
    """Lower-case country names from pycountry ("Moldova" from "Moldova, Republic of").
    Not the tagger's matcher: building that costs a fresh `briefbot ask` seconds, and a
    place question only needs to know that a name is a country's."""
    import pycountry

    out = set()
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name:
                out.add(name.lower())
                out.add(name.split(",")[0].lower())
    return frozenset(out)


def _novel_positions(
    text: str, tokens: list[str], question: Question, known: set[str]
) -> list[int]:
    """Word positions (in `tokens`, the words of `text`) of what the sentence offers of
    the kind asked for that the question does not hold: names (a capitalised word the
    question lacks), numbers or years."""
    kind = question.wants
    out: list[int] = []
    if kind in (YEAR, NUMBER):
        numbers = set(question.numbers)
        out = [k for k, t in enumerate(tokens) if _NUMBERISH.search(t) and t not in numbers]
        if out or kind == YEAR:
            return out
    names = {w.lower() for n in question_names(text) for w in n.split()} - known
    if not names or kind not in (None, NAME, PLACE, NUMBER):
        return out
    folded = {w for n in names for w in words(n)}
    return [k for k, t in enumerate(tokens) if t in folded]


def slotted(novel_at: list[int], stems: list[str], left: set[str], right: set[str]) -> float:
    """How well something novel fills the question's slot: half for a question word just
    before it (within 4 words), half for one just after."""
    if not novel_at:
        return 0.0
    lefts = [k for k, s in enumerate(stems) if s in left]
    rights = [k for k, s in enumerate(stems) if s in right]
    best = 0.0
    for k in novel_at:
        score = 0.5 * any(0 < k - j <= 4 for j in lefts) + 0.5 * any(0 < j - k <= 4 for j in rights)
        best = max(best, score)
    return best


def nearness(a: list[int], b: list[int]) -> float:
    """1 when something of `a` stands right beside something of `b`, falling to 0 at
    NEAR_WORDS words apart (or when either is absent)."""
    if not a or not b:
        return 0.0
    gap = min(abs(x - y) for x in a for y in b)
    return max(0.0, 1.0 - (gap - 1) / NEAR_WORDS)


def sentence_chances(
    features: np.ndarray, weights: np.ndarray | tuple[float, ...] = SENTENCE_WEIGHTS
) -> np.ndarray:
    """The chance that each sentence holds the answer: the fitted scores as a softmax
    over the pool (the model is fitted that way: one question's sentences compete)."""
    z = features @ np.asarray(weights)
    e = np.exp(z - z.max())
    return e / e.sum()


def select_sentences(
    retrieval: Retrieval,
    question: Question,
    *,
    answer_articles: int,
    max_sentences: int,
    max_words: int,
    years: dict[int, int] | None = None,
    countries: tuple[str, ...] = (),
) -> list[AnswerSentence]:
    """`countries`: a country filter's codes; a sentence naming only other countries
    cannot answer (`retrieval.scope`)."""
    table = retrieval.sentences
    candidates = same_story_era(retrieval.ranked[:answer_articles], years or {}, question)
    pool = candidate_pool(table, candidates)
    if not pool:
        return []
    chance = sentence_chances(sentence_features(retrieval, question, pool))
    if countries:
        chance = _on_filter(table, pool, chance, countries)
        if not chance.any():
            return []
    chosen = best_set(table, pool, chance, max_sentences=max_sentences, max_words=max_words)
    rank_of = {c.article_id: r for r, c in enumerate(candidates)}
    out = [
        AnswerSentence(table.texts[i], int(table.owners[i]), int(table.positions[i]), s)
        for i, s in chosen.items()
    ]
    out.sort(key=lambda s: (rank_of[s.article_id], s.position))
    return out


def _on_filter(
    table: SentenceTable, pool: list[int], chance: np.ndarray, countries: tuple[str, ...]
) -> np.ndarray:
    """`chance` with the sentences that name only unfiltered countries set to 0; only
    the likeliest 2 * SHORTLIST are looked at (the rest could not be chosen anyway)."""
    out = np.zeros_like(chance)
    for j in np.argsort(-chance)[: 2 * SHORTLIST]:
        if not off_filter(table.texts[pool[j]], countries):
            out[j] = chance[j]
    return out


def _with_antecedent(table: SentenceTable, i: int) -> tuple[int, ...]:
    """The sentence, with the one before it when it opens by pointing back."""
    before = i - 1
    if (
        leans_back(table.texts[i])
        and before >= 0
        and table.owners[before] == table.owners[i]
        and table.positions[before] >= 0
        and not unfit(table.texts[before])
    ):
        return (before, i)
    return (i,)


def best_set(
    table: SentenceTable,
    pool: list[int],
    chance: np.ndarray,
    *,
    max_sentences: int,
    max_words: int,
) -> dict[int, float]:
    """Table rows to show (row -> chance): the SHORTLIST likeliest sentences taken in
    order while they fit in `max_words` (antecedents included), a near-duplicate of one
    taken passed over, at most MAX_SET. The likeliest sentence is shown alone when none
    fits. Taking the likeliest first beat the set with the most chance in sum, which
    fills the budget with short unlikely sentences (`bench/rank_experiments.py`)."""
    order = [j for j in np.argsort(-chance)[:SHORTLIST] if chance[j] > 0]
    limit = max(1, min(MAX_SET, max_sentences))
    chosen: dict[int, float] = {}
    taken: list[np.ndarray] = []
    used = 0
    for j in order:
        rows_ = _with_antecedent(table, pool[j])
        cost = sum(len(table.texts[i].split()) for i in rows_ if i not in chosen)
        vec = table.vectors[pool[j]]
        if used + cost > max_words or any(float(vec @ t) > DUPLICATE_SIM for t in taken):
            continue
        for i in rows_:
            chosen.setdefault(i, float(chance[j]))
        taken.append(vec)
        used += cost
        if len(taken) == limit:
            break
    if not chosen and order:  # the likeliest sentence alone is over the budget
        for i in _with_antecedent(table, pool[order[0]]):
            chosen[i] = float(chance[order[0]])
    return chosen
