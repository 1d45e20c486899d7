"""The answer's sentence set (`selection.best_set`) and the within-article features
(`within_article`), on hand-made sentence tables."""

from __future__ import annotations

import numpy as np

from retrieval.question import analyse
from retrieval.search import SentenceTable
from retrieval.selection import MAX_SET, best_set
from retrieval.within_article import ARTICLE_FEATURES, article_features, longest_run


def table(texts: list[str], owners=None, positions=None, vectors=None, sims=None):
    n = len(texts)
    if vectors is None:
        vectors = np.eye(max(n, 4), dtype=np.float32)[:n]  # all different
    return SentenceTable(
        np.asarray(owners if owners is not None else [1] * n),
        np.asarray(positions if positions is not None else list(range(n))),
        np.asarray(vectors, np.float32),
        texts,
        np.asarray(sims if sims is not None else [0.5] * n, np.float32),
    )


def words(n: int, w: str = "word") -> str:
    return " ".join([w] * n)


def test_the_likeliest_sentence_comes_first_even_when_short_ones_sum_to_more():
    # 0: likeliest, 40 words; 1-3: three short, less likely ones whose sum beats it.
    t = table([words(40), words(10), words(10), words(10)])
    chance = np.array([0.4, 0.2, 0.2, 0.2])
    chosen = best_set(t, [0, 1, 2, 3], chance, max_sentences=5, max_words=60)
    assert 0 in chosen  # a best-sum rule would take 1, 2, 3 (0.6 > 0.4 + 0.2)
    assert len(chosen) == 3 and sum(len(t.texts[i].split()) for i in chosen) <= 60


def test_a_sentence_over_the_budget_is_passed_over_not_the_end():
    t = table([words(50), words(30), words(20)])
    chance = np.array([0.5, 0.3, 0.2])
    chosen = best_set(t, [0, 1, 2], chance, max_sentences=5, max_words=60)
    assert list(chosen) == [0]  # 30 more words would not fit; 20 would not either (70)
    t = table([words(30), words(40), words(20)])
    chosen = best_set(t, [0, 1, 2], np.array([0.5, 0.3, 0.2]), max_sentences=5, max_words=60)
    assert sorted(chosen) == [0, 2]  # 1 does not fit after 0; 2 does


def test_near_duplicates_are_never_both_shown_and_max_set_holds():
    same = np.tile(np.eye(4, dtype=np.float32)[0], (2, 1))
    vectors = np.vstack([same, np.eye(4, dtype=np.float32)[1:3]])
    t = table([words(5, "a"), words(5, "b"), words(5, "c"), words(5, "d")], vectors=vectors)
    chosen = best_set(t, [0, 1, 2, 3], np.array([0.4, 0.3, 0.2, 0.1]), max_sentences=5,
                      max_words=60)  # fmt: skip
    assert 0 in chosen and 1 not in chosen and {2, 3} <= set(chosen)
    many = table([words(3)] * 8, vectors=np.eye(8, dtype=np.float32))
    chosen = best_set(many, list(range(8)), np.full(8, 1 / 8), max_sentences=9, max_words=60)
    assert len(chosen) == MAX_SET


def test_a_sentence_pointing_back_brings_its_antecedent_within_the_budget():
    texts = ["The minister Ana Ruiz resigned on Monday.", "She said the talks had failed."]
    t = table(texts)
    chosen = best_set(t, [0, 1], np.array([0.1, 0.9]), max_sentences=5, max_words=60)
    assert sorted(chosen) == [0, 1]
    chosen = best_set(t, [0, 1], np.array([0.1, 0.9]), max_sentences=5, max_words=8)
    assert sorted(chosen) == [0]  # the pair (13 words) does not fit: another sentence does
    chosen = best_set(t, [0, 1], np.array([0.1, 0.9]), max_sentences=5, max_words=5)
    assert sorted(chosen) == [0, 1]  # nothing fits: the likeliest alone, with what it needs


def test_nothing_fits_shows_the_likeliest_alone():
    t = table([words(80), words(90)])
    assert list(best_set(t, [0, 1], np.array([0.3, 0.7]), max_sentences=5, max_words=60)) == [1]


def test_within_article_features_place_a_sentence_among_its_own_article():
    question = analyse("Which company agreed to buy the steel maker Nippon Foundry?")
    texts = [
        "Steel deal reshapes the industry",  # the headline (position -1)
        "Markets were calm on Tuesday.",
        "Acme Corp agreed to buy the steel maker Nippon Foundry for $2 billion.",
        "Analysts expect approval next year.",
    ]
    sims = [0.3, 0.1, 0.8, 0.2]
    t = table(texts, positions=[-1, 0, 1, 2], sims=sims)
    x = article_features(t, question, [1, 2, 3])
    col = {name: x[:, k] for k, name in enumerate(ARTICLE_FEATURES)}
    assert col["bm25"][1] == 1.0 and col["bm25"][0] == 0.0  # the article's best BM25
    assert col["bm25_rank"][1] == 1.0 and col["sim_rank"][1] == 1.0  # ranked first
    assert col["span"][1] == 1.0  # "to buy the steel maker Nippon Foundry": capped at 6
    assert col["dist_best"].tolist() == [1 / 6, 0.0, 1 / 6]  # one sentence from the best
    assert col["title"][1] > 0 and col["title"][0] == 0  # repeats the headline's "steel"


def test_longest_run():
    assert longest_run(["a", "b", "c", "d"], ["x", "b", "c", "d", "y"]) == 3
    assert longest_run(["a"], ["b"]) == 0
    assert longest_run([], ["a"]) == 0
