"""Extractive single-article summaries: the N most central sentences, in reading order.

A sentence is central when it is similar (in embedding space and in shared
words) to the rest of the article; news also front-loads, so early sentences
get a small prior. Sentences are copied verbatim.
"""

from __future__ import annotations

import math

import numpy as np

from .store import STOPWORDS
from .text import words

POSITION_WEIGHT = 0.1
LEXICAL_WEIGHT = 0.5


def summary_length(n_sentences: int, ratio: float, lo: int, hi: int) -> int:
    return max(1, min(n_sentences, max(lo, min(hi, math.ceil(n_sentences * ratio)))))


def _lexical_similarity(texts: list[str]) -> np.ndarray:
    """Cosine similarity of content-word count vectors (stopwords removed)."""
    vocab: dict[str, int] = {}
    rows = []
    for text in texts:
        counts: dict[int, int] = {}
        for w in words(text):
            if w not in STOPWORDS and len(w) > 2:
                j = vocab.setdefault(w, len(vocab))
                counts[j] = counts.get(j, 0) + 1
        rows.append(counts)
    mat = np.zeros((len(texts), max(1, len(vocab))), np.float32)
    for i, counts in enumerate(rows):
        for j, c in counts.items():
            mat[i, j] = c
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    mat /= np.where(norms == 0, 1, norms)
    return mat @ mat.T


def rank_sentences(texts: list[str], vectors: np.ndarray) -> np.ndarray:
    """A centrality score per sentence (higher is more summary-worthy)."""
    n = len(texts)
    if n == 0:
        return np.zeros(0)
    sim = vectors @ vectors.T + LEXICAL_WEIGHT * _lexical_similarity(texts)
    np.fill_diagonal(sim, 0)
    centrality = sim.sum(axis=1) / max(1, n - 1)
    position = POSITION_WEIGHT * (1 - np.arange(n) / max(1, n))
    return centrality + position


def summarize(texts: list[str], vectors: np.ndarray, n: int) -> list[int]:
    """Indexes of the `n` best sentences, in reading order."""
    if n >= len(texts):
        return list(range(len(texts)))
    scores = rank_sentences(texts, vectors)
    return sorted(int(i) for i in np.argsort(-scores)[:n])
