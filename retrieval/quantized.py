"""The FAISS indexes a `SentenceIndex` holds, how each is made, and how one is searched.

Exhaustive search over fp16 codes, and HNSW over 8-bit codes; `retrieval/index.py`
says when each is used and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faiss

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # the least breadth; raised to k when more candidates are asked for


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """FAISS's OpenMP threads off for one question's search (every kind: a graph walk
    for one query has nothing to split, and splitting a scan across the cores costs more
    in start-up and spin-waiting than it saves once other work holds them: the encoder
    and BM25 of the same ask, other asks, other processes; bench/RESULTS.md). OpenMP's
    thread count belongs to the calling thread, so it is restored for its next work."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def flat(dim: int) -> faiss.Index:
    return faiss.IndexScalarQuantizer(
        dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )


def hnsw(dim: int, qtype: int = faiss.ScalarQuantizer.QT_8bit) -> faiss.Index:
    """An empty HNSW index over 8-bit codes (to be trained before adding)."""
    index = faiss.IndexHNSWSQ(dim, qtype, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def emptied(index: faiss.Index) -> faiss.Index:
    """An empty index of the same type and trained quantizer as `index`: its vectors
    re-added are encoded to the same codes (decoding then encoding a code is exact).

    Made new with the trained ranges copied, not cloned and reset: a clone first copies
    every code (the whole index, in memory twice for a moment), and a memory-mapped
    index's codes cannot be reset (FAISS aborts the process)."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexHNSWSQ):
        trained_from = faiss.downcast_index(index.storage)
        empty = hnsw(index.d, trained_from.sq.qtype)
        storage = faiss.downcast_index(empty.storage)
    else:
        empty = storage = faiss.IndexScalarQuantizer(index.d, index.sq.qtype, index.metric_type)
        trained_from = index
    storage.sq.trained = trained_from.sq.trained
    storage.is_trained = empty.is_trained = True
    return empty
