"""SentenceIndex.save replaces its three files atomically, the metadata last."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval import index as index_module
from retrieval.index import SentenceIndex, ids_path, meta_path


def small_index(n: int) -> SentenceIndex:
    rng = np.random.default_rng(n)
    vecs = rng.normal(size=(n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = SentenceIndex(16)
    index.add(np.arange(n), vecs, np.arange(n))
    return index


def test_save_renames_the_metadata_last_and_leaves_no_temporaries(
    tmp_path: Path, renames: list[str]
) -> None:
    path = tmp_path / "i.faiss"
    small_index(20).save(path)
    assert renames == [path.name, ids_path(path).name, meta_path(path).name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(renames)
    loaded, meta = SentenceIndex.load(path)
    assert meta.count == loaded.ntotal == 20


def test_a_failed_save_keeps_the_previous_index_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "i.faiss"
    small_index(20).save(path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_module.np, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        small_index(30).save(path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert SentenceIndex.load(path)[1].count == 20
