"""Past `exact_max` the index is HNSW over 8-bit codes (a quarter of fp32, what keeps a
100k-article process under 1 GB); an fp16 HNSW index saved by an earlier version is
moved onto 8-bit codes when loaded, keeping its graph. Both must keep exact search's
answers (recall against float32 brute force), and the long builds say how far they are."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

import retrieval.postings as postings_module
from retrieval.index import FLAT, HNSW, HNSW_FP16, HNSW_M, SentenceIndex, meta_path
from retrieval.postings import Postings
from retrieval.progress import StepProgress


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    v = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def recall_at_10(index: SentenceIndex, v: np.ndarray, ids: np.ndarray, queries: range) -> float:
    found = []
    for q in queries:
        want = set(ids[np.argsort(-(v @ v[q]))[:10]].tolist())
        found.append(len(want & set(index.search(v[q], 10).ids.tolist())) / 10)
    return float(np.mean(found))


def test_hnsw_holds_8_bit_codes_and_keeps_recall_through_save_and_load(tmp_path: Path):
    v, ids = clustered(5000), np.arange(1, 5001)
    index = SentenceIndex(32, exact_max=2000)
    for start in range(0, 5000, 1000):  # crosses the line on the third batch
        index.add(ids[start : start + 1000], v[start : start + 1000], ids[start : start + 1000])
    assert index.kind == HNSW
    storage = faiss.downcast_index(index._index.storage)
    assert storage.sq.qtype == faiss.ScalarQuantizer.QT_8bit and storage.code_size == 32
    assert recall_at_10(index, v, ids, range(0, 5000, 50)) >= 0.95
    index.save(tmp_path / "i.faiss")
    loaded, meta = SentenceIndex.load(tmp_path / "i.faiss", exact_max=2000)
    assert meta.kind == loaded.kind == HNSW and not loaded.fit_size()
    assert list(loaded.search(v[7], 10).ids) == list(index.search(v[7], 10).ids)
    # Removing rebuilds the graph with the same trained ranges: what stays is still found.
    loaded.remove(ids[:2500])
    assert faiss.downcast_index(loaded._index.storage).sq.qtype == faiss.ScalarQuantizer.QT_8bit
    kept = slice(2500, 5000)
    assert recall_at_10(loaded, v[kept], ids[kept], range(0, 2500, 50)) >= 0.95


def test_an_fp16_hnsw_index_from_an_earlier_version_moves_to_8_bit_codes_keeping_its_graph(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    v, ids = clustered(3000), np.arange(10, 3010)
    old = faiss.IndexHNSWSQ(32, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    old.add(v)
    path = tmp_path / "i.faiss"
    legacy = SentenceIndex(32, exact_max=1000)
    legacy.add(ids[:500], v[:500], ids[:500])  # flat, then its innards swapped for `old`
    legacy._index, legacy.kind = old, HNSW_FP16
    legacy._ids.extend(ids[500:])
    legacy._articles.extend(ids[500:])
    legacy.save(path)
    assert json.loads(meta_path(path).read_text())["kind"] == HNSW_FP16
    before = [legacy.search(v[q], 10).ids for q in range(0, 3000, 100)]
    links = faiss.vector_to_array(old.hnsw.neighbors).copy()

    loaded, _ = SentenceIndex.load(path, exact_max=1000)
    assert loaded.kind == HNSW_FP16
    with caplog.at_level(logging.INFO, logger="retrieval.index"):
        assert loaded.fit_size()
    assert "graph kept" in caplog.text
    assert loaded.kind == HNSW and loaded.ntotal == 3000
    storage = faiss.downcast_index(loaded._index.storage)
    assert storage.sq.qtype == faiss.ScalarQuantizer.QT_8bit
    np.testing.assert_array_equal(faiss.vector_to_array(loaded._index.hnsw.neighbors), links)
    after = [loaded.search(v[q], 10).ids for q in range(0, 3000, 100)]
    assert np.mean([len(set(a) & set(b)) for a, b in zip(after, before, strict=True)]) >= 9
    assert recall_at_10(loaded, v, ids, range(0, 3000, 100)) >= 0.95
    loaded.add(np.array([9999]), v[:1], np.array([9999]))  # still trained: adds work
    assert 9999 in loaded.search(v[0], 2).ids.tolist()
    assert not loaded.fit_size()


def test_leaving_hnsw_for_exact_search_keeps_the_answers():
    v, ids = clustered(1500), np.arange(1500)
    index = SentenceIndex(32, exact_max=1000)
    index.add(ids, v, ids)
    assert index.kind == HNSW
    index.exact_max = 10_000
    assert index.fit_size() and index.kind == FLAT
    assert recall_at_10(index, v, ids, range(0, 1500, 30)) >= 0.97


def test_a_step_progress_is_silent_when_quick_and_writes_plain_lines_when_long():
    def line(done: int, total: int, seconds: float) -> str:
        return f"step: {done} of {total}"

    quiet = io.StringIO()
    shown = StepProgress(line, 10, stream=quiet)  # plain (not a terminal), 10 s interval
    shown.update(5)
    shown.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    shown = StepProgress(line, 10, stream=loud, interval=0.0)
    for done in (4, 8, 10):
        shown.update(done)
    shown.close()
    assert loud.getvalue().splitlines() == [
        "step: 4 of 10",
        "step: 8 of 10",
        "step: 10 of 10",
        "step: 10 of 10",
    ]


def test_rebuilding_postings_and_the_hnsw_graph_say_how_far_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    import retrieval.progress as progress_module

    monkeypatch.setattr(progress_module, "PLAIN_INTERVAL", 0.0)
    monkeypatch.setattr(postings_module, "CHUNK", 4)
    db = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY)")
    db.execute(
        "CREATE VIRTUAL TABLE articles_fts USING fts5(title, lead, body,"
        " tokenize='porter unicode61')"
    )
    for i in range(1, 11):
        db.execute("INSERT INTO articles (id) VALUES (?)", (i,))
        db.execute(
            "INSERT INTO articles_fts (rowid, title, lead, body) VALUES (?, ?, '', ?)",
            (i, f"tariff story {i}", "talks went on"),
        )
    postings = Postings(lambda: db, (2.0, 1.0, 1.0))
    assert postings.catch_up() == 10
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("lexical")]
    assert lines[0].startswith("lexical postings: 4 of 10 articles")
    assert lines[-1].startswith("lexical postings: 10 of 10 articles")
    assert postings.search(["tariff"], 3) is not None

    v = clustered(1200)
    index = SentenceIndex(32, exact_max=500)
    with index.filling(1200):
        index.add(np.arange(400), v[:400], np.arange(400))  # flat
        index.add(np.arange(400, 1200), v[400:], np.arange(400, 1200))  # past the line
    assert index.kind == HNSW
    err = capsys.readouterr().err.splitlines()
    # The elapsed seconds depend on the machine's load: only the count is checked.
    graph = re.compile(r"HNSW index: 400 of 400 vectors in the graph \(\d+ s\)")
    assert any(graph.fullmatch(line) for line in err)
    assert err[-1].startswith("sentence index: 1,200 of 1,200 vectors")
