"""`search.dense_scores` scores every candidate article at once; each score must be, to
the last bit, the per-article definition: the mean of the best sentence less its depth
penalty and the best lead sentence (the best sentence when there is no lead)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.search import (
    DEPTH_CAP,
    DEPTH_PENALTY,
    LEAD_POSITIONS,
    SentenceTable,
    article_slices,
    dense_scores,
)


def per_article(table: SentenceTable) -> tuple[list[int], list[float], list[float]]:
    ids, dense, best = [], [], []
    for aid, (start, end) in article_slices(table.owners).items():
        s, pos = table.sims[start:end], table.positions[start:end]
        depth = np.minimum(np.maximum(pos, 0), DEPTH_CAP) * DEPTH_PENALTY
        lead = s[pos <= LEAD_POSITIONS]
        ids.append(aid)
        dense.append((float((s - depth).max()) + float(lead.max() if len(lead) else s.max())) / 2)
        best.append(float(s.max()))
    return ids, dense, best


def table(seed: int) -> SentenceTable:
    rng = np.random.default_rng(seed)
    owners, positions = [], []
    for aid in sorted(rng.choice(10_000, 60, replace=False)):
        first = int(rng.integers(-1, 6))  # some articles hold no lead sentence
        n = int(rng.integers(1, 12))
        owners += [aid] * n
        positions += list(range(first, first + n))
    sims = rng.uniform(-0.2, 0.9, len(owners)).astype(np.float32)
    o, p = np.array(owners, np.int64), np.array(positions, np.int64)
    return SentenceTable(o, p, np.zeros((len(o), 0), np.float32), [""] * len(o), sims)


@pytest.mark.parametrize("seed", range(5))
def test_dense_scores_are_the_per_article_definition_bit_for_bit(seed: int):
    t = table(seed)
    assert dense_scores(t) == per_article(t)
    slices = article_slices(t.owners).values()
    assert any(t.positions[a:b].min() > LEAD_POSITIONS for a, b in slices)  # leadless too


def test_an_empty_table_scores_nothing():
    empty = np.zeros(0, np.int64)
    t = SentenceTable(empty, empty, np.zeros((0, 0), np.float32), [], np.zeros(0, np.float32))
    assert dense_scores(t) == ([], [], [])
