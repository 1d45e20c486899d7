"""`npzmap.read_ahead`: a background read that warms the OS cache and never fails."""

from __future__ import annotations

import threading

from retrieval.npzmap import read_ahead


def _join_read_aheads() -> None:
    for t in threading.enumerate():
        if t.name.startswith("read-ahead "):
            t.join(timeout=10)
            assert not t.is_alive()


def test_read_ahead_reads_the_file_and_leaves_it_as_it_was(tmp_path):
    path = tmp_path / "index.bin"
    data = bytes(range(256)) * 10_000
    path.write_bytes(data)
    read_ahead(path)
    _join_read_aheads()
    assert path.read_bytes() == data


def test_read_ahead_of_a_missing_file_is_silent(tmp_path):
    read_ahead(tmp_path / "gone.bin")  # the thread swallows the OSError
    _join_read_aheads()
