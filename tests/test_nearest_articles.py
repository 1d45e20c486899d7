"""`search.nearest_articles`: the articles of the nearest sentences, found with a short
search first and the long one only when the short one holds too few articles. The
answer must be what the long search alone gives."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.index import Hits, SentenceIndex
from retrieval.search import FIRST_HITS_PER_ARTICLE, nearest_articles


def exact_index(
    seed: int, articles: int, per_article: int, spread: float = 1.0
) -> tuple[SentenceIndex, np.ndarray]:
    """Articles' sentences scattered `spread` around each article's own direction."""
    rng = np.random.default_rng(seed)
    n = articles * per_article
    owners = np.repeat(np.arange(1, articles + 1), per_article)
    centres = rng.normal(size=(articles, 16))
    vectors = (centres[owners - 1] + spread * rng.normal(size=(n, 16))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = SentenceIndex(16)
    index.add(np.arange(1, n + 1), vectors, owners)
    query = rng.normal(size=16).astype(np.float32)
    return index, query / np.linalg.norm(query)


class Counting:
    """An index that records the k of every search."""

    def __init__(self, index: SentenceIndex) -> None:
        self.index, self.asked = index, []

    def search(self, query: np.ndarray, k: int, articles: object = None) -> Hits:
        self.asked.append(k)
        return self.index.search(query, k, articles)


def long_search(index: SentenceIndex, query: np.ndarray, want: int, most: int) -> list[int]:
    return list(dict.fromkeys(index.search(query, most).articles.tolist()))[:want]


@pytest.mark.parametrize("seed", range(5))
def test_one_short_search_when_it_holds_enough_articles(seed: int) -> None:
    index, query = exact_index(seed, articles=300, per_article=2)
    counting = Counting(index)
    got = nearest_articles(counting, query, want=10, most=400, admitted=None)
    assert counting.asked == [FIRST_HITS_PER_ARTICLE * 10]
    assert got == long_search(index, query, 10, 400)


@pytest.mark.parametrize("seed", range(5))
def test_the_long_search_when_long_articles_crowd_the_short_one(seed: int) -> None:
    # 40 close sentences an article: the 30 nearest hold a few articles, not 10.
    index, query = exact_index(seed, articles=50, per_article=40, spread=0.05)
    counting = Counting(index)
    got = nearest_articles(counting, query, want=10, most=400, admitted=None)
    assert counting.asked == [30, 400]
    assert got == long_search(index, query, 10, 400)
    assert len(got) == 10


def test_no_second_search_when_the_first_found_every_sentence() -> None:
    index, query = exact_index(0, articles=3, per_article=4)  # 12 sentences, 3 articles
    counting = Counting(index)
    got = nearest_articles(counting, query, want=10, most=400, admitted=None)
    assert counting.asked == [30]
    assert sorted(got) == [1, 2, 3]


def test_never_more_than_most() -> None:
    index, query = exact_index(1, articles=100, per_article=3)
    counting = Counting(index)
    nearest_articles(counting, query, want=50, most=40, admitted=None)
    assert counting.asked == [40]
