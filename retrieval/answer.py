"""Extractive answers: the few sentences that best answer a question, each cited.

No generative model: every sentence is copied verbatim from an article. From
the best-ranked articles we pick 2-5 sentences by maximal marginal relevance
(relevant, and not repeating each other), then put them in reading order.
When even the best evidence is weak the answer abstains instead of quoting
something unrelated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import light_stem, query_terms
from .search import Retrieval
from .text import words

# Sentences much weaker than the best one are dropped: beyond `min_sentences` anything
# below best - RELATIVE_CUTOFF; up to it, below best - MIN_CUTOFF (never pad with the unrelated).
RELATIVE_CUTOFF = 0.12
MIN_CUTOFF = 0.2
# Near-duplicate sentences (different outlets, same wording) are never both shown.
DUPLICATE_SIM = 0.92
# Weight of the share of question words a sentence contains.
OVERLAP_WEIGHT = 0.15
# How much of the question's content words the best article must contain to add confidence.
COVERAGE_WEIGHT = 0.15


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
    relevance: float


def overlap(terms: set[str], text: str) -> float:
    if not terms:
        return 0.0
    found = {light_stem(w) for w in words(text)}
    return sum(1 for t in terms if light_stem(t) in found) / len(terms)


def relevance(retrieval: Retrieval, terms: set[str]) -> float:
    """How well the corpus covers the question: best sentence similarity plus word coverage."""
    if not retrieval.ranked:
        return 0.0
    table = retrieval.sentences
    best = retrieval.ranked[0]
    text = " ".join(
        t for t, o in zip(table.texts, table.owners, strict=True) if o == best.article_id
    )
    best_sim = max(c.best_sim for c in retrieval.ranked[:3])
    return best_sim + COVERAGE_WEIGHT * overlap(terms, text)


def compose(
    retrieval: Retrieval,
    *,
    max_sentences: int = 5,
    min_sentences: int = 2,
    answer_articles: int = 4,
    abstain_below: float = 0.48,
    mmr_lambda: float = 0.7,
) -> Answer:
    terms = set(query_terms(retrieval.question))
    ranked = [(c.article_id, c.score) for c in retrieval.ranked]
    score = relevance(retrieval, terms)
    if score < abstain_below:
        return Answer(retrieval.question, True, [], ranked, score)
    chosen = select_sentences(
        retrieval, terms, answer_articles, max_sentences, min_sentences, mmr_lambda
    )
    return Answer(retrieval.question, not chosen, chosen, ranked, score)


def select_sentences(
    retrieval: Retrieval,
    terms: set[str],
    answer_articles: int,
    max_sentences: int,
    min_sentences: int,
    mmr_lambda: float,
) -> list[AnswerSentence]:
    table = retrieval.sentences
    rank_of = {c.article_id: r for r, c in enumerate(retrieval.ranked[:answer_articles])}
    has_body = {int(o) for o, p in zip(table.owners, table.positions, strict=True) if p >= 0}
    pool = [
        i
        for i, (owner, pos) in enumerate(zip(table.owners, table.positions, strict=True))
        if int(owner) in rank_of and (pos >= 0 or int(owner) not in has_body)
    ]
    if not pool:
        return []
    idx = np.asarray(pool)
    rel = np.array(
        [
            table.sims[i]
            + OVERLAP_WEIGHT * overlap(terms, table.texts[i])
            - 0.02 * rank_of[int(table.owners[i])]
            for i in pool
        ]
    )
    vecs = table.vectors[idx]
    picked: list[int] = []
    best = float(rel.max())
    while len(picked) < min(max_sentences, len(pool)):
        redundancy = (vecs @ vecs[picked].T).max(axis=1) if picked else np.zeros(len(pool))
        mmr = mmr_lambda * rel - (1 - mmr_lambda) * redundancy
        mmr[picked] = -np.inf
        mmr[redundancy > DUPLICATE_SIM] = -np.inf
        j = int(np.argmax(mmr))
        if not np.isfinite(mmr[j]):
            break
        cutoff = MIN_CUTOFF if len(picked) < min_sentences else RELATIVE_CUTOFF
        if rel[j] < best - cutoff:
            break
        picked.append(j)
    chosen = [
        AnswerSentence(
            table.texts[pool[j]],
            int(table.owners[pool[j]]),
            int(table.positions[pool[j]]),
            float(rel[j]),
        )
        for j in picked
    ]
    chosen.sort(key=lambda s: (rank_of[s.article_id], s.position))
    return chosen
