"""Index by size: exact fp16 search against HNSW at 10k, 100k and 1M vectors (issue 6).

Vectors are synthetic but shaped like real ones: real sentence vectors from a
data directory (built by `bench/latency.py`), each repeated with Gaussian noise
(mean cosine ~0.9 to its source) until the size is reached; uniformly random
vectors would say little about real corpora. Queries are other perturbed real
vectors. Every figure goes through `retrieval.index.SentenceIndex`, the class
the bot uses, and recall@10 is measured against exact fp32 search in numpy.

Per size: p50 of one search for the k=400 candidates `ask` asks for and for
k=10, HNSW build time, index bytes on disk, recall@10 of HNSW at the breadth
`ask` uses, and under filters admitting 5% and 40% of articles (exhaustive
under the first, a wider graph walk under the second).

    python bench/index.py --source /tmp/briefbot-large --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faiss

from retrieval import quantized
from retrieval.index import FILTER_EXACT_BELOW, SentenceIndex
from retrieval.quantized import HNSW_EF_CONSTRUCTION, HNSW_M

SENTENCES_PER_ARTICLE = 8
NOISE = 0.025  # per dimension: mean cosine ~0.9 between a vector and its noisy copy


def real_vectors(source: Path, limit: int) -> np.ndarray:
    db = sqlite3.connect(source / "briefbot.sqlite3")
    rows = db.execute("SELECT vector FROM sentences ORDER BY id LIMIT ?", (limit,)).fetchall()
    db.close()
    return np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), -1)


def noisy(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` vectors: `base` cycled, each with noise, re-normalised; built in chunks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        rows = np.arange(start, min(n, start + 100_000)) % len(base)
        chunk = base[rows] + NOISE * rng.standard_normal((len(rows), base.shape[1]), np.float32)
        out[start : start + len(rows)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, rows=None) -> list[set[int]]:
    """True top-k positions per query (fp32, numpy), optionally among `rows` only."""
    out = []
    for q in queries:
        sims = vectors @ q if rows is None else vectors[rows] @ q
        top = np.argpartition(-sims, k)[:k]
        out.append(set((top if rows is None else rows[top]).tolist()))
    return out


def timed(indexes: dict[str, SentenceIndex], queries: np.ndarray, k: int, articles=None):
    """Per index: p50 ms and the hits of each query; the indexes interleaved per query, so
    a burst of load from the machine's other jobs falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in indexes}
    found: dict[str, list[np.ndarray]] = {name: [] for name in indexes}
    for q in queries:
        for name, index in indexes.items():
            t = time.perf_counter()
            hits = index.search(q, k, articles)
            times[name].append(time.perf_counter() - t)
            found[name].append(hits.ids)
    return {name: (1000 * statistics.median(times[name]), found[name]) for name in indexes}


def threads_compared(indexes: dict[str, SentenceIndex], queries: np.ndarray) -> dict:
    """k=400 search p50 per index, on one thread (as shipped) and on FAISS's OpenMP
    threads (as unfiltered searches ran before), interleaved per query."""
    shipped = quantized.one_thread
    times: dict[str, list[float]] = {}
    for q in queries:
        for name, index in indexes.items():
            for mode in ("one_thread", "openmp"):
                if mode == "openmp":
                    quantized.one_thread = contextlib.nullcontext
                t = time.perf_counter()
                try:
                    index.search(q, 400)
                finally:
                    quantized.one_thread = shipped
                times.setdefault(f"{name}_{mode}", []).append(1000 * (time.perf_counter() - t))
    return {key: statistics.median(v) for key, v in times.items()}


def fp16_hnsw(dim: int, qtype: int = faiss.ScalarQuantizer.QT_fp16) -> faiss.Index:
    """The HNSW index of earlier versions (fp16 codes): the baseline of the 8-bit one."""
    qt, ip = faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexHNSWSQ(dim, qt, HNSW_M, ip)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    return index


def recall(found: list[np.ndarray], truth: list[set[int]]) -> float:
    return float(
        np.mean([len(set(f[:10].tolist()) & t) / 10 for f, t in zip(found, truth, strict=True)])
    )


def build(vectors: np.ndarray, exact_max: int, fp16: bool = False) -> tuple[SentenceIndex, float]:
    index = SentenceIndex(vectors.shape[1], exact_max=exact_max)
    ids = np.arange(len(vectors))
    shipped = quantized.hnsw
    if fp16:
        quantized.hnsw = fp16_hnsw
    t = time.perf_counter()
    try:
        for start in range(0, len(vectors), 20_000):
            part = slice(start, start + 20_000)
            index.add(ids[part], vectors[part], ids[part] // SENTENCES_PER_ARTICLE)
    finally:
        quantized.hnsw = shipped
    return index, time.perf_counter() - t


def size_on_disk(index: SentenceIndex) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "i.faiss"
        index.save(path)
        return sum(p.stat().st_size for p in Path(tmp).iterdir())


def measure(
    vectors: np.ndarray, queries: np.ndarray, fp16_baseline: bool, threads: bool = False
) -> dict:
    n = len(vectors)
    articles = n // SENTENCES_PER_ARTICLE
    rng = np.random.default_rng(1)
    subsets = {
        "5%": np.sort(rng.choice(articles, articles // 20, replace=False)),
        "40%": np.sort(rng.choice(articles, articles * 2 // 5, replace=False)),
    }
    owners = np.arange(n) // SENTENCES_PER_ARTICLE
    truth = exact_top(vectors, queries, 10)
    sub_truth = {
        name: exact_top(vectors, queries, 10, np.flatnonzero(np.isin(owners, subset)))
        for name, subset in subsets.items()
    }
    row: dict = {"vectors": n}
    kinds = [("exact", n + 1, False), ("hnsw", 0, False)]
    if fp16_baseline:
        kinds.append(("hnsw_fp16", 0, True))
    indexes = {}
    for kind, exact_max, fp16 in kinds:
        index, build_s = build(vectors, exact_max, fp16)
        assert index.kind == ("flat-fp16" if kind == "exact" else "hnsw-sq8")
        indexes[kind] = index
        row[kind] = {"build_s": build_s, "bytes": size_on_disk(index)}
    if threads:
        row["threads_p50_ms_k400"] = threads_compared(indexes, queries)
    k400, k10 = timed(indexes, queries, 400), timed(indexes, queries, 10)
    for kind in indexes:
        row[kind] |= {
            "p50_ms_k400": k400[kind][0],
            "p50_ms_k10": k10[kind][0],
            "recall@10_k400": recall(k400[kind][1], truth),
            "recall@10_k10": recall(k10[kind][1], truth),
        }
    for name, subset in subsets.items():
        subset.flags.writeable = False  # as Store.admitted hands them out (kept bitmaps)
        filtered = timed(indexes, queries, 400, subset)
        for kind in indexes:
            row[kind][f"filter{name}_p50_ms"] = filtered[kind][0]
            row[kind][f"filter{name}_recall@10"] = recall(filtered[kind][1], sub_truth[name])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, required=True, help="a data dir with real vectors")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("bench/out/index.json"))
    ap.add_argument("--threads", action="store_true", help="also: one thread per search vs OpenMP")
    ap.add_argument(
        "--fp16-baseline", action="store_true", help="also HNSW over fp16 codes (earlier versions)"
    )
    args = ap.parse_args()
    base = real_vectors(args.source, 200_000)
    queries = noisy(base[np.random.default_rng(2).choice(len(base), args.queries)], args.queries, 9)
    cos = float(np.mean(np.sum(noisy(base[:2000], 2000, 3) * base[:2000], axis=1)))
    print(f"{len(base)} real vectors; noisy copies have mean cosine {cos:.3f} to their source")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = noisy(base, n, 0) if n > len(base) else base[:n].copy()
        row = measure(vectors, queries, args.fp16_baseline, args.threads)
        rows.append(row)
        e, h = row["exact"], row["hnsw"]
        print(
            f"\n{n:>9,} vectors   exact: k400 {e['p50_ms_k400']:.2f} ms, k10"
            f" {e['p50_ms_k10']:.2f} ms, {e['bytes'] / 1e6:.0f} MB\n"
            f"{'':>19}hnsw: k400 {h['p50_ms_k400']:.2f} ms"
            f" ({e['p50_ms_k400'] / h['p50_ms_k400']:.1f}x faster), recall@10"
            f" {h['recall@10_k400']:.3f}; k10 {h['p50_ms_k10']:.2f} ms, recall@10"
            f" {h['recall@10_k10']:.3f}; build {h['build_s']:.1f}s, {h['bytes'] / 1e6:.0f} MB"
        )
        if "threads_p50_ms_k400" in row:
            th = row["threads_p50_ms_k400"]
            print(
                f"{'':>19}k400 p50, one thread vs OpenMP threads: "
                + ", ".join(f"{key} {value:.2f} ms" for key, value in th.items())
            )
        if "hnsw_fp16" in row:
            b = row["hnsw_fp16"]
            print(
                f"{'':>14}hnsw fp16: k400 {b['p50_ms_k400']:.2f} ms, recall@10"
                f" {b['recall@10_k400']:.3f}, {b['bytes'] / 1e6:.0f} MB; 8-bit/fp16 bytes"
                f" {h['bytes'] / b['bytes']:.2f},"
                f" k400 time {h['p50_ms_k400'] / b['p50_ms_k400']:.2f}x"
            )
        for name in ("5%", "40%"):
            how = "exhaustive" if float(name[:-1]) / 100 < FILTER_EXACT_BELOW else "graph, wider"
            print(
                f"{'':>19}filter {name:>3}: exact {e[f'filter{name}_p50_ms']:.2f} ms;"
                f" hnsw ({how}) {h[f'filter{name}_p50_ms']:.2f} ms,"
                f" recall@10 {h[f'filter{name}_recall@10']:.3f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"noisy_copy_cosine": cos, "sizes": rows}, indent=1))


if __name__ == "__main__":
    main()
