"""The one atomic-write routine: whole new file or the old one, never half, no leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.atomic import replacing, write_atomic


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    write_atomic(target, "one")
    write_atomic(target, b"two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "index.faiss"
    target.write_text("old")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.faiss"]


def test_nested_blocks_rename_the_first_entered_last(tmp_path: Path, renames: list[str]) -> None:
    meta, data = tmp_path / "meta", tmp_path / "data"
    with replacing(meta) as m, replacing(data) as d:
        d.write_text("d")
        m.write_text("m")
    assert renames == ["data", "meta"]
    assert meta.read_text() == "m" and data.read_text() == "d"
