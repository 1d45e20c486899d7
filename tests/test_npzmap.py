"""`mapped_npz` gives the arrays `np.load` would, mapped read-only from the file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from retrieval.npzmap import mapped_npz


def test_every_member_comes_back_equal_read_only_and_backed_by_the_file(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = {
        "ints": rng.integers(0, 10**12, 1000),
        "small": rng.integers(0, 100, 7).astype(np.int32),
        "floats": rng.normal(size=(50, 3)).astype(np.float32),
        "fortran": np.asfortranarray(rng.normal(size=(4, 5))),
        "flags": rng.random(33) > 0.5,
        "bytes": np.frombuffer(b"a\nb\nc", np.uint8),
        "empty": np.zeros(0, np.int64),
    }
    path = tmp_path / "a.npz"
    np.savez(path, **arrays)
    mapped = mapped_npz(path)
    with np.load(path) as z:
        assert sorted(mapped) == sorted(z.files)
        for name in z.files:
            assert mapped[name].dtype == z[name].dtype and mapped[name].shape == z[name].shape
            assert np.array_equal(mapped[name], z[name])
    assert isinstance(mapped["ints"].base, np.memmap)
    with pytest.raises(ValueError):
        mapped["ints"][0] = 1


def test_a_compressed_or_damaged_file_is_refused(tmp_path: Path):
    compressed = tmp_path / "c.npz"
    np.savez_compressed(compressed, a=np.arange(100))
    with pytest.raises(ValueError):
        mapped_npz(compressed)
    damaged = tmp_path / "d.npz"
    damaged.write_bytes(b"not a zip file")
    with pytest.raises(zipfile.BadZipFile):
        mapped_npz(damaged)
