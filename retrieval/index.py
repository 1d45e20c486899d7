"""The FAISS index of sentence vectors: vectors, their sentence ids and owning articles.

Vectors are L2-normalised, so inner product is cosine similarity. Which index depends
on size (`bench/index.py` measures both):

- up to `exact_max` vectors, exhaustive search over fp16 codes (`IndexScalarQuantizer`):
  half the memory of fp32, the same top-10, and a few milliseconds at that size;
- past it, HNSW over 8-bit codes (`IndexHNSWSQ`, QT_8bit: per dimension, the range
  trained on the vectors held when the corpus crosses the line), built once then
  (logged, with a progress line) and grown incrementally after. A quarter of fp32:
  at 100k articles (~840k vectors) it is what keeps a serving process under 1 GB.
  Search breadth (efSearch) is never below the number of candidates asked for; for
  the 400 that `ask` asks for, HNSW keeps nearly all of exact search's top ten at a
  fraction of its cost, and the gap grows with size (figures in bench/RESULTS.md).
  The codes only choose candidates: `search.retrieve` scores every candidate
  article's sentences again from the float32 vectors in the store, so the 8-bit
  rounding never reaches a ranking score. An fp16 HNSW index saved by an earlier
  version is moved to 8-bit codes when loaded, keeping its graph (no rebuild).

A filter (a country, a date range) restricts the search inside FAISS with a
bitmap of admitted positions, built from the article of each vector held here
(no SQL per sentence). On HNSW a selective filter would silently lose half the
right answers at the usual breadth, so a filter admitting under
`FILTER_EXACT_BELOW` of the vectors is searched exhaustively (exact, and cheap
because only admitted vectors are scored); a broad one searches the graph with
the breadth raised by 1/selectivity, which keeps recall close to exact search at
a fraction of an exhaustive scan's cost.

The index is a cache of what SQLite holds: it is saved atomically beside the
database with its ids and a metadata file, and `Corpus` checks they agree.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from . import quantized, wording
from .atomic import replacing
from .npzmap import read_ahead
from .progress import StepProgress
from .quantized import HNSW_EF_SEARCH, HNSW_M

log = logging.getLogger(__name__)

EXACT_MAX = 250_000  # vectors; past this, exhaustive fp16 search costs more than HNSW saves
FILTER_EXACT_BELOW = 0.25  # share of vectors a filter admits under which HNSW scans exactly
SUBSET_MAX_SHARE = 0.10  # a filter admitting at most this share may get its own index
SUBSETS_KEPT = 2  # such indexes kept (each at most SUBSET_MAX_SHARE of the vectors' memory)
BITMAPS_KEPT = 4  # filters whose bitmaps are kept (an eighth of a byte per vector each)
TRAIN_SAMPLE = 100_000  # vectors the 8-bit ranges are trained on (evenly spaced)
FLAT, HNSW, HNSW_FP16 = "flat-fp16", "hnsw-sq8", "hnsw-fp16"  # the last: earlier versions
KINDS = (FLAT, HNSW, HNSW_FP16)


@dataclass(frozen=True)
class IndexMeta:
    model: str
    backend: str
    dim: int
    count: int
    id_sum: int
    kind: str = FLAT


@dataclass
class Hits:
    """Best first: similarity, sentence id and owning article id of each hit."""

    scores: np.ndarray
    ids: np.ndarray
    articles: np.ndarray

    @classmethod
    def empty(cls) -> Hits:
        return cls(np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))


class _Column:
    """A growable int64 array: FAISS positions -> sentence ids, or -> article ids."""

    def __init__(self, values: np.ndarray | None = None) -> None:
        self._data = np.zeros(0, np.int64) if values is None else values.astype(np.int64)
        self._size = len(self._data)
        self.max = int(self._data.max()) if self._size else 0  # kept, not rescanned per search

    def extend(self, values: np.ndarray) -> None:
        if len(values):
            self.max = max(self.max, int(values.max()))
        need = self._size + len(values)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data), 1024), np.int64)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : need] = values
        self._size = need

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._size]


def describe(kind: str) -> str:
    if kind in (HNSW, HNSW_FP16):
        codes = "8-bit" if kind == HNSW else "fp16"
        return f"faiss HNSW (M={HNSW_M}) over {codes} vectors (approximate; exact under filters)"
    return "faiss IndexScalarQuantizer fp16 (exhaustive inner product)"


class SentenceIndex:
    """Inner-product search over sentence vectors; exact or HNSW by size."""

    def __init__(
        self, dim: int, model: str = "", backend: str = "", *, exact_max: int = EXACT_MAX
    ) -> None:
        self.dim = dim
        self.model = model
        self.backend = backend
        self.exact_max = exact_max
        self.kind = FLAT
        self._index: faiss.Index = quantized.flat(dim)
        self._ids = _Column()
        self._articles = _Column()
        # Feeds add vectors while the bot searches: FAISS is not safe for that, so one lock.
        self._lock = threading.RLock()
        self._bitmaps: list[tuple[np.ndarray, int, np.ndarray, int]] = []  # see _bitmap
        self._subsets: list[tuple[np.ndarray, int, np.ndarray, faiss.Index]] = []  # _kept_subset
        self._seen_filter: np.ndarray | None = None
        self._filling: StepProgress | None = None  # see filling
        self._mapped: BinaryIO | None = None  # the file a memory-mapped index was read from

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return self._ids.values.copy()

    def add(self, ids: np.ndarray, vectors: np.ndarray, articles: np.ndarray) -> None:
        """Add vectors with their sentence ids and the id of the article each belongs to."""
        if not len(ids):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.kind == FLAT and self.ntotal + len(ids) > self.exact_max:
            self._to_hnsw(vectors)
        with self._lock:
            self._own()
            self._index.add(vectors)
            self._ids.extend(np.asarray(ids, dtype=np.int64))
            self._articles.extend(np.asarray(articles, dtype=np.int64))
        if self._filling is not None:
            self._filling.update(self.ntotal)

    @contextlib.contextmanager
    def filling(self, total: int) -> Iterator[None]:
        """A progress line while `total` vectors are added in one go (the whole index
        rebuilt from the store: minutes at 100k articles)."""
        self._filling = StepProgress(
            lambda done, total, seconds: wording.text(
                "cli.progress.vectors", done=done, total=total, seconds=seconds
            ),
            total,
        )
        try:
            yield
        finally:
            self._filling.close()
            self._filling = None

    def remove(self, ids: np.ndarray) -> int:
        """Drop the vectors of these sentence ids (an article removed or replaced); returns
        how many were held. The exact index deletes them in place (later positions shift
        down, in order, as the id columns do); HNSW cannot delete, so its graph is rebuilt
        from the vectors kept."""
        with self._lock:
            held = self._ids.values
            gone = np.isin(held, np.asarray(ids, dtype=np.int64))
            count = int(gone.sum())
            if not count:
                return 0
            self._own()
            keep = ~gone
            if self.kind == FLAT:
                self._index.remove_ids(np.flatnonzero(gone).astype(np.int64))
            else:
                kept = self._index.reconstruct_n(0, self.ntotal)[keep]
                self._index = quantized.emptied(self._index)  # the same trained 8-bit ranges
                self._index.add(kept)
            self._ids = _Column(held[keep])
            self._articles = _Column(self._articles.values[keep])
            self._drop_kept()  # positions moved: a later add could bring the count back
        return count

    def fit_size(self) -> bool:
        """Exact or HNSW as the current size and `exact_max` say (after loading, or a
        changed `[index] exact_max_vectors`); True when that changed the index."""
        if self.kind == FLAT and self.ntotal > self.exact_max:
            self._to_hnsw()
            return True
        if self.kind != FLAT and self.ntotal <= self.exact_max:
            log.info("index: %d vectors fit exact search: leaving HNSW", self.ntotal)
            self._rebuild(quantized.flat(self.dim), FLAT)
            return True
        if self.kind == HNSW_FP16:
            self._to_sq8()
            return True
        return False

    def _to_hnsw(self, incoming: np.ndarray | None = None) -> None:
        """Move every vector so far into an HNSW graph (once, when the corpus outgrows exact)."""
        log.info(
            "index: past %d vectors, switching from exact search to HNSW (M=%d); building",
            self.exact_max,
            HNSW_M,
        )
        t = time.perf_counter()
        target = quantized.hnsw(self.dim)
        sample = self._sample()
        if incoming is not None and len(sample) < TRAIN_SAMPLE:  # about to be added
            sample = np.concatenate([sample, incoming[: TRAIN_SAMPLE - len(sample)]])
        target.train(sample)
        self._rebuild(
            target,
            HNSW,
            lambda done, total, seconds: wording.text(
                "cli.progress.hnsw", done=done, total=total, seconds=seconds
            ),
        )
        log.info("index: HNSW over %d vectors built in %.1fs", self.ntotal, time.perf_counter() - t)

    def _to_sq8(self) -> None:
        """An fp16 HNSW index (earlier versions) onto 8-bit codes, keeping its graph: the
        codes are re-encoded (seconds), the graph is not rebuilt (minutes)."""
        t = time.perf_counter()
        with self._lock:
            self._own()  # the graph is copied, not rebuilt: a mapped one could not grow
            old = self._index
            target = quantized.hnsw(self.dim)
            target.storage.train(self._sample())
            for start in range(0, self.ntotal, 50_000):
                target.storage.add(old.reconstruct_n(start, min(50_000, self.ntotal - start)))
            target.hnsw = old.hnsw  # copies the graph (a C++ value)
            target.ntotal, target.is_trained = old.ntotal, True
            self._index, self.kind = target, HNSW
            self._drop_kept()
        log.info(
            "index: %d vectors moved from fp16 to 8-bit codes in %.1fs (graph kept)",
            self.ntotal,
            time.perf_counter() - t,
        )

    def _sample(self) -> np.ndarray:
        """Up to TRAIN_SAMPLE vectors held, evenly spaced: what the 8-bit ranges are
        trained on (a per-dimension min and max, which a sample of this size pins)."""
        n = self.ntotal
        if n <= TRAIN_SAMPLE:
            return self._index.reconstruct_n(0, n)
        picks = np.linspace(0, n - 1, TRAIN_SAMPLE).astype(np.int64)
        return self._exact().reconstruct_batch(picks)

    def _rebuild(
        self,
        target: faiss.Index,
        kind: str,
        line: Callable[[int, int, float], str] | None = None,
    ) -> None:
        """Copy every vector into `target`, then serve from it.

        The copy runs without the lock, chunk by chunk, so questions are answered by the
        old index meanwhile (an HNSW build over a large corpus takes tens of seconds,
        shown with a progress line worded by `line`).
        """
        done = 0
        shown = StepProgress(line, self.ntotal) if line is not None else None
        try:
            while True:
                with self._lock:
                    n = self.ntotal
                    if done == n:
                        self._index, self.kind = target, kind
                        self._drop_kept()
                        self._unmap()
                        return
                    chunk = self._index.reconstruct_n(done, min(50_000, n - done))
                target.add(chunk)
                done += len(chunk)
                if shown is not None:
                    shown.update(done, n)
        finally:
            if shown is not None:
                shown.close()

    def _own(self) -> None:
        """Before a memory-mapped index changes: read it into memory. FAISS cannot grow or
        shrink mapped codes (it aborts the process), so the first vector a feed adds pays
        the read that loading skipped. Read from the file kept open since loading: the
        path may hold another process's newer index by now. The mapping goes first, so the
        pages it holds and the copy are never resident together (should the read fail, the
        index is left empty, which the next start repairs from SQLite)."""
        if self._mapped is None:
            return
        self._mapped.seek(0)
        self._index = quantized.flat(self.dim)  # frees the mapped index
        self._index = faiss.read_index(faiss.PyCallbackIOReader(self._mapped.read))
        self._unmap()

    def _unmap(self) -> None:
        if self._mapped is not None:
            self._mapped.close()
            self._mapped = None

    def _drop_kept(self) -> None:
        """Forget the bitmaps and per-filter indexes of the index being replaced."""
        self._bitmaps, self._subsets, self._seen_filter = [], [], None

    def search(self, query: np.ndarray, k: int, articles: np.ndarray | None = None) -> Hits:
        """The k most similar vectors; `articles` (ids) restricts the search to their vectors."""
        if self.ntotal == 0 or k <= 0:
            return Hits.empty()
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        with self._lock, quantized.one_thread():
            n = self.ntotal
            subset = self._kept_subset(articles) if articles is not None else None
            if subset is not None:
                positions, small = subset
                scores, local = small.search(q, min(k, len(positions)))
                pos = np.where(local >= 0, positions[np.maximum(local, 0)], -1)
            elif articles is None:
                scores, pos = self._index.search(q, min(k, n), params=self._breadth(k, 1.0))
            else:
                bitmap, admitted = self._bitmap(articles)  # must outlive the search
                if admitted == 0:
                    return Hits.empty()
                k = min(k, admitted)
                selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
                if self.kind == FLAT or admitted < FILTER_EXACT_BELOW * n:
                    self._remember_filter(articles, admitted)
                    exact = self._exact()
                    params = faiss.SearchParameters(sel=selector)
                    scores, pos = exact.search(q, k, params=params)
                else:
                    params = self._breadth(k, admitted / n)
                    params.sel = selector
                    scores, pos = self._index.search(q, k, params=params)
            pos = pos[0]
            keep = pos >= 0
            pos = pos[keep]
            return Hits(scores[0][keep], self._ids.values[pos], self._articles.values[pos])

    def _breadth(self, k: int, share: float) -> faiss.SearchParameters | None:
        if self.kind == FLAT:
            return None
        params = faiss.SearchParametersHNSW()
        params.efSearch = math.ceil(max(HNSW_EF_SEARCH, k) / share)
        return params

    def _exact(self) -> faiss.Index:
        """The exhaustive index over the same vectors (HNSW keeps its vectors in one)."""
        return self._index if self.kind == FLAT else faiss.downcast_index(self._index.storage)

    def _kept_subset(self, articles: np.ndarray) -> tuple[np.ndarray, faiss.Index] | None:
        """The exact index of only the vectors `articles` admits, if one is kept for it."""
        for kept in self._subsets:
            if kept[0] is articles and kept[1] == self.ntotal:
                return kept[2], kept[3]
        return None

    def _remember_filter(self, articles: np.ndarray, admitted: int) -> None:
        """A filter scanned exhaustively under a bitmap: the second time it comes, its
        admitted vectors get an exact index of their own (`_kept_subset`). Scanning the
        whole index under a bitmap costs about an unfiltered exact search; the admitted
        vectors alone are a small scan. One question does not pay for the copy. Only for
        filters admitting at most SUBSET_MAX_SHARE of the vectors, and not for a caller's
        array that could change; the last SUBSETS_KEPT are kept while the index is
        unchanged."""
        if articles.flags.writeable or admitted > SUBSET_MAX_SHARE * self.ntotal:
            return
        if self._seen_filter is not articles:
            self._seen_filter = articles
            return
        positions = np.flatnonzero(self._admits(articles)).astype(np.int64)
        exact = self._exact()
        small = quantized.emptied(exact)  # the same codes: no more memory a vector than the index
        for start in range(0, len(positions), 50_000):
            small.add(exact.reconstruct_batch(positions[start : start + 50_000]))
        kept = (articles, self.ntotal, positions, small)
        self._subsets = [*self._subsets[-(SUBSETS_KEPT - 1) :], kept]

    def _bitmap(self, articles: np.ndarray) -> tuple[np.ndarray, int]:
        """The FAISS bitmap of the positions `articles` admits, and how many. The last few
        are kept while the index is unchanged: the store hands out the same read-only
        array while a filter's ids stand, and a bot's questions repeat their filters."""
        for kept in self._bitmaps:
            if kept[0] is articles and kept[1] == self.ntotal:
                return kept[2], kept[3]
        mask = self._admits(articles)
        bitmap, admitted = np.packbits(mask, bitorder="little"), int(mask.sum())
        if not articles.flags.writeable:  # a caller's array could change under us
            kept = (articles, self.ntotal, bitmap, admitted)
            self._bitmaps = [*self._bitmaps[-(BITMAPS_KEPT - 1) :], kept]
        return bitmap, admitted

    def _admits(self, articles: np.ndarray) -> np.ndarray:
        """Bool per position: does its article belong to `articles`?"""
        owners = self._articles.values
        top = self._articles.max
        lookup = np.zeros(top + 1, dtype=bool)
        wanted = np.asarray(articles, dtype=np.int64)
        lookup[wanted[(wanted >= 0) & (wanted <= top)]] = True
        return lookup[owners]

    def meta(self) -> IndexMeta:
        ids = self._ids.values
        return IndexMeta(self.model, self.backend, self.dim, self.ntotal, int(ids.sum()), self.kind)

    def save(self, path: Path) -> None:
        """Replace the index, its ids and its metadata, each atomically (`replacing`).

        The metadata is entered first so it is renamed last: it vouches for the other two
        (count and id sum), so a crash between the renames is caught by `load`.
        """
        with (
            replacing(meta_path(path)) as meta_tmp,
            replacing(ids_path(path)) as ids_tmp,
            replacing(path) as index_tmp,
            self._lock,
        ):
            faiss.write_index(self._index, str(index_tmp))
            with ids_tmp.open("wb") as fh:
                np.save(fh, np.stack([self._ids.values, self._articles.values]))
            meta_tmp.write_text(json.dumps(asdict(self.meta()), indent=1))

    @classmethod
    def load(
        cls, path: Path, *, exact_max: int = EXACT_MAX, mapped: bool = False
    ) -> tuple[SentenceIndex, IndexMeta] | None:
        """The saved index and its metadata, or None when missing, unreadable or inconsistent.

        `mapped`: the index's codes and graph stay in the file, memory-mapped (FAISS's
        IO_FLAG_MMAP_IFC), and are paged in as searches touch them: a process that only
        reads starts without reading the whole index, and its pages are the OS's file
        cache (shared between processes, dropped under memory pressure) rather than the
        process's own memory. Read into memory when it first changes (`_own`)."""
        mpath = meta_path(path)
        if not (path.exists() and mpath.exists() and ids_path(path).exists()):
            return None
        source: BinaryIO | None = None
        try:
            meta = IndexMeta(**json.loads(mpath.read_text()))
            if meta.kind not in KINDS:
                raise ValueError(f"index kind {meta.kind!r} is from another version")
            if mapped:
                source = path.open("rb")
                raw = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
                if not os.path.samestat(os.fstat(source.fileno()), os.stat(path)):
                    # Replaced meanwhile (by a writer's save): the file opened, in memory.
                    raw = faiss.read_index(faiss.PyCallbackIOReader(source.read))
                    source.close()
                    source = None
                else:
                    read_ahead(path)  # the mapping is kept: warm the OS cache under it
            else:
                raw = faiss.read_index(str(path))
            columns = np.load(ids_path(path))
            if columns.shape != (2, raw.ntotal) or raw.ntotal != meta.count:
                raise ValueError("the index and its ids disagree")
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            if source is not None:
                source.close()
            log.warning("index at %s is unreadable (%s); it will be rebuilt", path, exc)
            return None
        index = cls(meta.dim, meta.model, meta.backend, exact_max=exact_max)
        index._index, index.kind, index._mapped = raw, meta.kind, source
        index._ids, index._articles = _Column(columns[0]), _Column(columns[1])
        return index, meta


def meta_path(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json")


def ids_path(path: Path) -> Path:
    return path.with_name(path.stem + ".ids.npy")
