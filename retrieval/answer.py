"""Extractive answers: the sentence that holds the answer, each cited, or an honest abstention.

No generative model: every sentence is copied verbatim from an article.

*Whether to answer* is a judgement over the whole retrieval, not one similarity
cut: how close the best sentences are, how much of the question (its words,
its names, its numbers) the best article covers, whether lexical and dense
evidence agree on it, and its margin over the next story. They are combined
by a logistic model fitted on news-quiz questions with and without their story
in the corpus (`bench/fit_confidence.py`); `[answer] abstain_below` is the confidence
under which the answer abstains.

*Which sentences* answer: `retrieval.selection` scores the fit sentences of the
best article (what the question asks for and where, its words, the novel names
and numbers beside them) and shows the set most likely to hold the answer under
the word budget. Before that, `Corpus.ask` reorders the candidates by the time
the question names (`retrieval.timeframe`) and by the countries it names
(`retrieval.scope`); a `--country` filter's answer must be about that country.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .analysis import query_terms, stem
from .question import Question, analyse
from .search import Retrieval, rows
from .selection import AnswerSentence, select_sentences
from .text import words

__all__ = ["Answer", "AnswerSentence", "compose", "confidence", "confidence_features"]

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
    "in_window",
)
# `in_window` is computed but weighs 0: refitted with it, the cross-validated off-corpus
# abstention fell (bench/RESULTS.md), so the former weights stand until a refit beats them.
CONFIDENCE_WEIGHTS = (1.702, 5.341, 1.514, 2.171, 1.196, 0.764, 2.673, -0.218, 0.0)
CONFIDENCE_BIAS = -8.157


@dataclass
class Answer:
    question: str
    abstained: bool
    sentences: list[AnswerSentence]
    ranked: list[tuple[int, float]]  # (article id, score), best first
    relevance: float  # the confidence that the corpus answers the question (0-1)
    note: str | None = None  # e.g. that the year asked about has nothing, so all years were


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


def _article_text(retrieval: Retrieval, article_ids: list[int]) -> str:
    table = retrieval.sentences
    return " ".join(table.texts[i] for aid in article_ids for i in rows(table, aid))


def confidence_features(
    retrieval: Retrieval, question: Question, terms: set[str], in_window: bool = True
) -> list[float]:
    """The evidence that the corpus holds the question's story (see CONFIDENCE_FEATURES).
    `in_window`: whether the best article is dated inside the time the question names
    ("this week"), True when it names none (`retrieval.timeframe`)."""
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
        float(in_window),
    ]


def confidence(features: list[float]) -> float:
    z = CONFIDENCE_BIAS + sum(w * f for w, f in zip(CONFIDENCE_WEIGHTS, features, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def compose(
    retrieval: Retrieval,
    *,
    max_sentences: int = 5,
    min_sentences: int = 1,
    answer_articles: int = 1,
    abstain_below: float = 0.42,
    mmr_lambda: float = 0.7,
    max_words: int = 65,
    years: dict[int, int] | None = None,
    countries: tuple[str, ...] = (),
    in_window: bool = True,
) -> Answer:
    """`years`: the publication year of the articles whose year is known; an answer then
    keeps to the best article's year unless the question asks for history.
    `min_sentences` and `mmr_lambda` are accepted for older configs: the answer set is
    now chosen whole (`retrieval.selection.best_set`). `countries`: a country filter's
    codes; the answer must be about one of them, or it abstains."""
    terms = set(query_terms(retrieval.question))
    ranked = [(c.article_id, c.score) for c in retrieval.ranked]
    if not retrieval.ranked:
        return Answer(retrieval.question, True, [], ranked, 0.0)
    question = analyse(retrieval.question)
    score = confidence(confidence_features(retrieval, question, terms, in_window))
    if score < abstain_below:
        return Answer(retrieval.question, True, [], ranked, score)
    chosen = select_sentences(
        retrieval,
        question,
        answer_articles=answer_articles,
        max_sentences=max_sentences,
        max_words=max_words,
        years=years,
        countries=countries,
    )
    return Answer(retrieval.question, not chosen, chosen, ranked, score)
