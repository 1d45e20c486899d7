"""Atomic file replacement: readers see the old file or the whole new one, never half.

Every file briefbot rewrites in place (the FAISS index and its sidecars, the model
export, fidelity verdicts, the command-sync state) goes through `replacing`, so a
crash or a full disk mid-write leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on a clean exit it is synced and renamed over it.

    The temporary file lives in the same directory (a rename is only atomic within one
    file system) and is removed if the block raises. `mode` is applied because mkstemp
    makes files private, and the model cache may be shared by the bot and the CLI.
    Nested blocks replace in reverse order of entry: enter the file that vouches for
    the others (metadata) first, and it is renamed last.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(mode)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path, mode=mode) as tmp:
        tmp.write_bytes(payload)
