"""Extractive single-article summaries: the N most central sentences, in reading order.

Centrality is PageRank over the TextRank sentence graph (Mihalcea & Tarau
2004): two sentences are linked by the stemmed content words they share,
normalised by the log of their lengths. Measured on BBC News Summary
(`bench/summaries.py`), this beat sumy's TextRank and LexRank and Lead-N, and
mixing in embedding centrality or a lead prior did not help, so neither is used.
Sentences are copied verbatim.
"""

from __future__ import annotations

import math

import numpy as np

from .analysis import content_stems

DAMPING = 0.85
ITERATIONS = 50


def summary_length(n_sentences: int, ratio: float, lo: int, hi: int) -> int:
    """Default length: `ratio` of the article, clamped to [lo, hi] and to the article."""
    return max(1, min(n_sentences, max(lo, min(hi, math.ceil(n_sentences * ratio)))))


def similarity_graph(sentences: list[list[str]]) -> np.ndarray:
    """TextRank edge weights: shared stems / (log |a| + log |b|)."""
    n = len(sentences)
    sets = [set(s) for s in sentences]
    logs = [math.log(len(s)) if len(s) > 1 else 0.0 for s in sentences]
    graph = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            denom = logs[i] + logs[j]
            shared = len(sets[i] & sets[j])
            if shared and denom > 0:
                graph[i, j] = graph[j, i] = shared / denom
    return graph


def pagerank(graph: np.ndarray) -> np.ndarray:
    n = len(graph)
    out = graph.sum(axis=1, keepdims=True)
    transition = np.divide(graph, out, out=np.full_like(graph, 1.0 / n), where=out > 0)
    rank = np.full(n, 1.0 / n)
    for _ in range(ITERATIONS):
        rank = (1 - DAMPING) / n + DAMPING * transition.T @ rank
    return rank


def summarize(texts: list[str], n: int) -> list[int]:
    """Indexes of the `n` most central sentences, in reading order (ties go to the earlier)."""
    if n >= len(texts):
        return list(range(len(texts)))
    rank = pagerank(similarity_graph([content_stems(t) for t in texts]))
    order = sorted(range(len(texts)), key=lambda i: (-rank[i], i))
    return sorted(order[:n])
