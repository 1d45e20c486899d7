"""The FAISS index of sentence vectors: ids and vectors only, never text.

Vectors are L2-normalised, so inner product is cosine similarity. They are held
as fp16 (a scalar-quantizer index): exhaustive search reads half the memory of
fp32 — measured 3× faster at 125k vectors — with the same top-10 (recall@10 1.0).
The index is a cache of what SQLite holds: it is saved atomically beside the
database with a small metadata file, and `reconcile` checks both agree.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexMeta:
    model: str
    backend: str
    dim: int
    count: int
    id_sum: int
    kind: str = "flat"


KIND = "sq-fp16"
DESCRIPTION = "faiss IndexScalarQuantizer fp16 (exhaustive inner product)"


class SentenceIndex:
    """Exact inner-product search over sentence vectors keyed by sentence id."""

    def __init__(self, dim: int, model: str = "", backend: str = "") -> None:
        self.dim = dim
        self.model = model
        self.backend = backend
        self._index = faiss.IndexIDMap2(
            faiss.IndexScalarQuantizer(
                dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        )
        # Feeds add vectors while the bot searches: FAISS is not safe for that, so one lock.
        self._lock = threading.RLock()

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            with self._lock:
                self._index.add_with_ids(
                    np.ascontiguousarray(vectors, dtype=np.float32),
                    np.asarray(ids, dtype=np.int64),
                )

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best vectors; `allowed` restricts the search itself."""
        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
        with self._lock:
            scores, ids = self._index.search(q, min(k, self.ntotal), params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def meta(self) -> IndexMeta:
        ids = self.ids()
        return IndexMeta(self.model, self.backend, self.dim, self.ntotal, int(ids.sum()), KIND)

    def save(self, path: Path) -> None:
        """Write to a temporary file and rename, so a crash never leaves half an index."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with self._lock:
            faiss.write_index(self._index, str(tmp))
        meta_tmp = meta_path(path).with_suffix(".tmp")
        meta_tmp.write_text(json.dumps(asdict(self.meta()), indent=1))
        os.replace(tmp, path)
        os.replace(meta_tmp, meta_path(path))

    @classmethod
    def load(cls, path: Path) -> tuple[SentenceIndex, IndexMeta] | None:
        """The saved index and its metadata, or None when missing or unreadable."""
        mpath = meta_path(path)
        if not path.exists() or not mpath.exists():
            return None
        try:
            meta = IndexMeta(**json.loads(mpath.read_text()))
            raw = faiss.read_index(str(path))
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            log.warning("index at %s is unreadable (%s); it will be rebuilt", path, exc)
            return None
        index = cls(meta.dim, meta.model, meta.backend)
        index._index = raw
        return index, meta


def meta_path(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json")
