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
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.index import FILTER_EXACT_BELOW, SentenceIndex

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


def timed(index: SentenceIndex, queries: np.ndarray, k: int, articles=None):
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, k, articles)
        times.append(time.perf_counter() - t)
        found.append(hits.ids)
    return 1000 * statistics.median(times), found


def recall(found: list[np.ndarray], truth: list[set[int]]) -> float:
    return float(
        np.mean([len(set(f[:10].tolist()) & t) / 10 for f, t in zip(found, truth, strict=True)])
    )


def build(vectors: np.ndarray, exact_max: int) -> tuple[SentenceIndex, float]:
    index = SentenceIndex(vectors.shape[1], exact_max=exact_max)
    ids = np.arange(len(vectors))
    t = time.perf_counter()
    for start in range(0, len(vectors), 20_000):
        part = slice(start, start + 20_000)
        index.add(ids[part], vectors[part], ids[part] // SENTENCES_PER_ARTICLE)
    return index, time.perf_counter() - t


def size_on_disk(index: SentenceIndex) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "i.faiss"
        index.save(path)
        return sum(p.stat().st_size for p in Path(tmp).iterdir())


def measure(vectors: np.ndarray, queries: np.ndarray) -> dict:
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
    for kind, exact_max in (("exact", n + 1), ("hnsw", 0)):
        index, build_s = build(vectors, exact_max)
        assert index.kind == ("flat-fp16" if kind == "exact" else "hnsw-fp16")
        p50_400, found = timed(index, queries, 400)
        p50_10, found10 = timed(index, queries, 10)
        row[kind] = {
            "build_s": build_s,
            "bytes": size_on_disk(index),
            "p50_ms_k400": p50_400,
            "p50_ms_k10": p50_10,
            "recall@10_k400": recall(found, truth),
            "recall@10_k10": recall(found10, truth),
        }
        for name, subset in subsets.items():
            p50, found = timed(index, queries, 400, subset)
            row[kind][f"filter{name}_p50_ms"] = p50
            row[kind][f"filter{name}_recall@10"] = recall(found, sub_truth[name])
        del index
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, required=True, help="a data dir with real vectors")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("bench/out/index.json"))
    args = ap.parse_args()
    base = real_vectors(args.source, 200_000)
    queries = noisy(base[np.random.default_rng(2).choice(len(base), args.queries)], args.queries, 9)
    cos = float(np.mean(np.sum(noisy(base[:2000], 2000, 3) * base[:2000], axis=1)))
    print(f"{len(base)} real vectors; noisy copies have mean cosine {cos:.3f} to their source")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = noisy(base, n, 0) if n > len(base) else base[:n].copy()
        row = measure(vectors, queries)
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
