"""A memory-mapped index (`SentenceIndex.load(mapped=True)`, what `Corpus` opens) answers
as the index read into memory does, and can still change: FAISS aborts the process when
mapped codes grow or shrink, so every change must first read the index into memory, from
the file it was mapped from even when that path has been replaced since."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.index import FLAT, HNSW, SentenceIndex

N = 3000


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def frozen(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, np.int64)
    ids.flags.writeable = False  # as Store.admitted hands them out
    return ids


def saved(path: Path, exact_max: int, seed: int = 0) -> np.ndarray:
    v = vectors(N, seed)
    index = SentenceIndex(32, exact_max=exact_max)
    index.add(np.arange(N) + 10, v, np.arange(N) // 3)
    index.save(path)
    return v


def load(path: Path, exact_max: int, mapped: bool) -> SentenceIndex:
    loaded = SentenceIndex.load(path, exact_max=exact_max, mapped=mapped)
    assert loaded is not None
    return loaded[0]


@pytest.mark.parametrize(("exact_max", "kind"), [(10**9, FLAT), (1000, HNSW)])
def test_a_mapped_index_answers_as_one_read_into_memory(tmp_path: Path, exact_max, kind):
    path = tmp_path / "i.faiss"
    v = saved(path, exact_max)
    mapped, read = load(path, exact_max, True), load(path, exact_max, False)
    assert mapped.kind == read.kind == kind and mapped._mapped is not None
    admitted = frozen(np.arange(0, 1000, 10))  # 10% of the articles
    for q in range(0, N, 300):
        for articles in (None, admitted, admitted):  # twice: the filter gets its own index
            a, b = mapped.search(v[q], 40, articles), read.search(v[q], 40, articles)
            assert a.ids.tolist() == b.ids.tolist()
            assert np.array_equal(a.scores, b.scores)
    assert len(mapped._subsets) == len(read._subsets) == 1


@pytest.mark.parametrize("exact_max", [10**9, 1000])
def test_a_mapped_index_grows_from_the_file_it_mapped_even_once_replaced(
    tmp_path: Path, exact_max: int
):
    path = tmp_path / "i.faiss"
    v = saved(path, exact_max)
    index = load(path, exact_max, True)
    saved(path, exact_max, seed=1)  # another process saves a different index there
    new = vectors(1, seed=2)
    index.add(np.array([99_999]), new, np.array([5_000]))
    assert index.ntotal == N + 1 and index._mapped is None
    assert index.search(new[0], 1).ids.tolist() == [99_999]
    assert index.search(v[123], 1).ids.tolist() == [133]  # the vectors it mapped, not seed 1's


@pytest.mark.parametrize("exact_max", [10**9, 1000])
def test_a_mapped_index_removes_and_saves(tmp_path: Path, exact_max: int):
    path = tmp_path / "i.faiss"
    v = saved(path, exact_max)
    index = load(path, exact_max, True)
    assert index.remove(np.arange(10, 1010)) == 1000
    assert index.ntotal == N - 1000
    assert index.search(v[2000], 1).ids.tolist() == [2010]
    assert 10 not in index.search(v[0], 50).ids.tolist()
    index.save(path)
    again = load(path, exact_max, True)
    assert again.ntotal == N - 1000
    assert again.search(v[2500], 1).ids.tolist() == [2510]
