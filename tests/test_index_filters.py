"""Filtered index search: a repeated filter gets its own small exact index
(`SentenceIndex._subset`); its hits must be exact search's under the same filter."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.index import SentenceIndex


def vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def frozen(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, np.int64)
    ids.flags.writeable = False  # as Store.admitted hands them out
    return ids


def brute(v: np.ndarray, owners: np.ndarray, q: np.ndarray, admitted: np.ndarray, k: int):
    """Exhaustive top k under the filter over `v`: the vectors as the index holds them
    (fp16 exact, 8-bit codes under HNSW), decoded."""
    ok = np.flatnonzero(np.isin(owners, admitted))
    sims = v[ok] @ q
    return ok[np.argsort(-sims, kind="stable")[:k]]


@pytest.mark.parametrize("exact_max", [10**9, 500])  # exact, and HNSW
def test_a_repeated_filter_gets_exact_hits_from_its_own_index(exact_max: int):
    v = vectors(6000)
    owners = np.arange(6000) // 6
    index = SentenceIndex(32, exact_max=exact_max)
    index.add(np.arange(6000) + 100, v, owners)
    admitted = frozen(np.arange(0, 1000, 20))  # 5% of the vectors
    held = index._exact().reconstruct_n(0, index.ntotal)
    for i in range(6):
        hits = index.search(v[i], 20, admitted)
        want = brute(held, owners, v[i], admitted, 20)
        assert set(hits.ids.tolist()) == set((want + 100).tolist())
        exact = brute(v, owners, v[i], admitted, 20)  # float32: all but near ties
        assert len(set(hits.ids.tolist()) & set((exact + 100).tolist())) >= 18
        assert set(hits.articles.tolist()) <= set(admitted.tolist())
    assert len(index._subsets) == 1
    # A vector added under the filter is found: the small index is not served stale.
    index.add(np.array([99_999]), v[:1], np.array([0]))
    hits = index.search(v[0], 2, admitted)
    assert 99_999 in hits.ids.tolist()


def test_a_filter_seen_once_or_a_broad_one_gets_no_index_of_its_own():
    v = vectors(3000)
    owners = np.arange(3000) // 3
    index = SentenceIndex(32)
    index.add(np.arange(3000), v, owners)
    index.search(v[0], 5, frozen(np.arange(0, 50)))
    assert index._subsets == []
    broad = frozen(np.arange(0, 600))  # 60%
    for i in range(3):
        index.search(v[i], 5, broad)
    writable = np.arange(0, 50)  # a caller's array may change: never kept
    for i in range(3):
        index.search(v[i], 5, writable)
    assert index._subsets == []
