"""Extractive answers: the sentence that holds the answer, each cited, or an honest abstention.

No generative model: every sentence is copied verbatim from an article.

*Whether to answer* is a judgement over the whole retrieval, not one similarity
cut: how close the best sentences are, how much of the question (its words,
its names, its numbers) the best article covers, whether lexical and dense
evidence agree on it, and its margin over the next story. They are combined
by a logistic model fitted on news-quiz questions with and without their story
in the corpus (`bench/answers.py`); `[answer] abstain_below` is the confidence
under which the answer abstains.

*Which sentences* answer: from the best articles, sentences that can stand
alone (`retrieval.evidence`), scored by similarity to the question, the
question's words and word pairs they hold, whether they offer the kind of thing
asked for (a year for "what year", a name for "who": `retrieval.question`),
their article's rank and their depth in it. One sentence may be the whole
answer; more are added, without repeating each other, while they stay close to
the best and the answer fits a word budget. A chosen sentence that opens by
pointing back ("He said…") brings the sentence before it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .analysis import query_terms, stem
from .evidence import leans_back, unfit
from .question import Question, analyse, offered
from .search import Candidate, Retrieval, SentenceTable
from .text import words

# Confidence model: logistic weights over `confidence_features`, in that order, fitted by
# `python bench/fit_confidence.py` on two corpora (news-quiz questions with and without
# their story; Reuters titles against BBC headlines). Refit when a feature changes.
CONFIDENCE_FEATURES = (
    "best_sim",
    "dense",
    "coverage",
    "name_coverage",
    "number_coverage",
    "agreement",
    "margin",
    "lexical",
)
CONFIDENCE_WEIGHTS = (1.702, 5.341, 1.514, 2.171, 1.196, 0.764, 2.673, -0.218)
CONFIDENCE_BIAS = -8.157

# Sentence score: similarity plus these (fitted the same way on which sentences hold the
# gold answer, then scaled so similarity has weight 1).
WORDS_WEIGHT = 0.12  # share of the question's content words in the sentence
PAIRS_WEIGHT = 0.49  # share of the question's adjacent word pairs in the sentence
NEXT_WEIGHT = 0.18  # the next sentence's share: answers often follow the matching line
OFFERED_WEIGHT = 0.68  # offers the kind of answer asked for
RANK_BONUS = (0.88, 0.23)  # first and second article
DEPTH_WEIGHT = 0.26  # per 20 sentences of depth
LEANS_WEIGHT = 0.30  # opens with a pronoun
LENGTH_WEIGHT = 0.57  # per 60 words: a longer sentence says more
ARTICLE_WEIGHT = 0.44  # the article's fused retrieval score
# Further sentences only while they score within this of the best one.
RELATIVE_CUTOFF = 0.35
# Near-duplicate sentences (different outlets, same wording) are never both shown.
DUPLICATE_SIM = 0.92


@dataclass
class AnswerSentence:
    text: str
    article_id: int
    position: int
    score: float


@dataclass
class Answer:
    question: str
    abstained: bool
    sentences: list[AnswerSentence]
    ranked: list[tuple[int, float]]  # (article id, score), best first
    relevance: float  # the confidence that the corpus answers the question (0-1)


def overlap(terms: set[str], text: str) -> float:
    """Share of `terms` (content words) found in `text`, compared by stem."""
    if not terms:
        return 0.0
    wanted = {stem(t) for t in terms}
    found = {s for s in _stems(text, {w[:3] for w in wanted}) if s is not None}
    return len(wanted & found) / len(wanted)


def _stems(text: str, prefixes: set[str]) -> list[str | None]:
    """The stem of each word of `text` that may match one of the question's (its first
    three letters among `prefixes`: Snowball keeps a word's first letters), None for the
    rest. Stemming is the cost of composing an answer; most words need none."""
    return [stem(w) if w[:3] in prefixes else None for w in words(text)]


def _rows(table: SentenceTable, article_id: int) -> range:
    """The table rows of one article (the table is sorted by article: search, don't scan)."""
    start = int(np.searchsorted(table.owners, article_id, side="left"))
    return range(start, int(np.searchsorted(table.owners, article_id, side="right")))


def _article_text(retrieval: Retrieval, article_ids: list[int]) -> str:
    table = retrieval.sentences
    return " ".join(table.texts[i] for aid in article_ids for i in _rows(table, aid))


def confidence_features(retrieval: Retrieval, question: Question, terms: set[str]) -> list[float]:
    """The evidence that the corpus holds the question's story (see CONFIDENCE_FEATURES)."""
    ranked = retrieval.ranked
    top = ranked[0]
    first = _article_text(retrieval, [top.article_id])
    both = _article_text(retrieval, [c.article_id for c in ranked[:2]]).lower()
    by_lexical = sorted(ranked, key=lambda c: -c.lexical)
    lexical_rank = next(i for i, c in enumerate(by_lexical) if c is top)
    agreement = 1.0 if lexical_rank == 0 and top.lexical > 0 else 0.5 if lexical_rank < 3 else 0.0
    names = [n.lower() for n in question.names]
    return [
        max(c.best_sim for c in ranked[:3]),
        top.dense,
        overlap(terms, first),
        sum(n in both for n in names) / len(names) if names else 1.0,
        sum(n in both for n in question.numbers) / len(question.numbers)
        if question.numbers
        else 1.0,
        agreement,
        top.score - (ranked[1].score if len(ranked) > 1 else 0.0),
        top.lexical,
    ]


def confidence(features: list[float]) -> float:
    z = CONFIDENCE_BIAS + sum(w * f for w, f in zip(CONFIDENCE_WEIGHTS, features, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def compose(
    retrieval: Retrieval,
    *,
    max_sentences: int = 5,
    min_sentences: int = 1,
    answer_articles: int = 2,
    abstain_below: float = 0.42,
    mmr_lambda: float = 0.7,
    max_words: int = 78,
    years: dict[int, int] | None = None,
) -> Answer:
    """`years`: the publication year of the articles whose year is known; an answer then
    keeps to the best article's year unless the question asks for history."""
    terms = set(query_terms(retrieval.question))
    ranked = [(c.article_id, c.score) for c in retrieval.ranked]
    if not retrieval.ranked:
        return Answer(retrieval.question, True, [], ranked, 0.0)
    question = analyse(retrieval.question)
    score = confidence(confidence_features(retrieval, question, terms))
    if score < abstain_below:
        return Answer(retrieval.question, True, [], ranked, score)
    chosen = select_sentences(
        retrieval,
        question,
        terms,
        answer_articles=answer_articles,
        max_sentences=max_sentences,
        min_sentences=min_sentences,
        mmr_lambda=mmr_lambda,
        max_words=max_words,
        years=years,
    )
    return Answer(retrieval.question, not chosen, chosen, ranked, score)


def _pairs(stems: list[str | None]) -> set[tuple[str | None, str | None]]:
    return {p for p in itertools.pairwise(stems) if None not in p}


def select_sentences(
    retrieval: Retrieval,
    question: Question,
    terms: set[str],
    *,
    answer_articles: int,
    max_sentences: int,
    min_sentences: int,
    mmr_lambda: float,
    max_words: int,
    years: dict[int, int] | None = None,
) -> list[AnswerSentence]:
    table = retrieval.sentences
    candidates = _same_story_era(retrieval.ranked[:answer_articles], years or {}, question)
    rank_of = {c.article_id: r for r, c in enumerate(candidates)}
    article_score = {c.article_id: c.score for c in candidates}
    pool: list[int] = []
    for c in candidates:
        rows = _rows(table, c.article_id)
        body = [i for i in rows if table.positions[i] >= 0]
        if body:
            pool.extend(i for i in body if not unfit(table.texts[i]))
        else:  # a headline-only item answers with its headline
            pool.extend(rows)
    if not pool:
        return []
    wanted = {stem(t) for t in terms}
    prefixes = {w[:3] for w in wanted}
    question_pairs = _pairs([stem(w) for w in words(question.text)])
    stems = {i: _stems(table.texts[i], prefixes) for i in pool}

    def share(i: int) -> float:
        if i not in stems:
            stems[i] = _stems(table.texts[i], prefixes)
        return len(wanted.intersection(stems[i])) / len(wanted) if wanted else 0.0

    def share_after(i: int) -> float:
        j = i + 1
        if j < len(table.texts) and table.owners[j] == table.owners[i]:
            return share(j)
        return 0.0

    rel = np.array(
        [
            _sentence_score(
                float(table.sims[i]),
                table.texts[i],
                int(table.positions[i]),
                rank_of[int(table.owners[i])],
                article_score[int(table.owners[i])],
                share(i),
                share_after(i),
                len(_pairs(stems[i]) & question_pairs) / len(question_pairs)
                if question_pairs
                else 0.0,
                question,
            )
            for i in pool
        ]
    )
    picked = _pick(
        table.vectors[np.asarray(pool)],
        rel,
        table.texts,
        pool,
        max_sentences,
        min_sentences,
        mmr_lambda,
        max_words,
    )
    chosen = {pool[j]: float(rel[j]) for j in picked}
    for i in list(chosen):
        before = i - 1
        if (
            leans_back(table.texts[i])
            and before >= 0
            and table.owners[before] == table.owners[i]
            and table.positions[before] >= 0
            and not unfit(table.texts[before])
        ):
            chosen.setdefault(before, chosen[i])
    out = [
        AnswerSentence(table.texts[i], int(table.owners[i]), int(table.positions[i]), s)
        for i, s in chosen.items()
    ]
    out.sort(key=lambda s: (rank_of[s.article_id], s.position))
    return out


def _same_story_era(
    candidates: list[Candidate], years: dict[int, int], question: Question
) -> list[Candidate]:
    """The candidates, without those dated to another year than the best one: another
    year's summit is another story. A question about history may mix years."""
    if question.history or not candidates or candidates[0].article_id not in years:
        return candidates
    year = years[candidates[0].article_id]
    return [c for c in candidates if years.get(c.article_id, year) == year]


def _sentence_score(
    sim: float,
    text: str,
    position: int,
    rank: int,
    article_score: float,
    share: float,
    share_after: float,
    pairs: float,
    question: Question,
) -> float:
    return (
        sim
        + WORDS_WEIGHT * share
        + PAIRS_WEIGHT * pairs
        + NEXT_WEIGHT * share_after
        + OFFERED_WEIGHT * offered(text, question)
        + (RANK_BONUS[rank] if rank < len(RANK_BONUS) else 0.0)
        - DEPTH_WEIGHT * min(max(position, 0), 20) / 20
        - LEANS_WEIGHT * leans_back(text)
        + LENGTH_WEIGHT * min(len(text.split()), 60) / 60
        + ARTICLE_WEIGHT * article_score
    )


def _pick(
    vecs: np.ndarray,
    rel: np.ndarray,
    texts: list[str],
    pool: list[int],
    max_sentences: int,
    min_sentences: int,
    mmr_lambda: float,
    max_words: int,
) -> list[int]:
    """Indices into the pool: by maximal marginal relevance, within the word budget."""
    picked: list[int] = []
    used = 0
    best = float(rel.max())
    blocked = np.zeros(len(rel), dtype=bool)
    while len(picked) < min(max_sentences, len(rel)):
        redundancy = (vecs @ vecs[picked].T).max(axis=1) if picked else np.zeros(len(rel))
        mmr = mmr_lambda * rel - (1 - mmr_lambda) * redundancy
        mmr[picked] = -np.inf
        mmr[blocked | (redundancy > DUPLICATE_SIM)] = -np.inf
        j = int(np.argmax(mmr))
        if not np.isfinite(mmr[j]):
            break
        if len(picked) >= min_sentences and rel[j] < best - RELATIVE_CUTOFF:
            break
        n = len(texts[pool[j]].split())
        if picked and used + n > max_words:
            blocked[j] = True  # too long to add; a shorter one may still fit
            continue
        picked.append(j)
        used += n
    return picked
