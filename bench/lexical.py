"""Lexical search: BM25 from postings in memory against SQLite FTS5, in one run.

Opens a data directory (e.g. the 100k-article one bench/scale.py grows), then asks
the same questions (Reuters titles and BBC headlines, as bench/scale.py) of both
engines, interleaved question by question: FTS5's bm25() (the reference, through a
`BM25Search` without postings) and `retrieval.postings` (what a `Corpus` serves).
Unfiltered and filtered to JP and US. Prints per engine the p50/p95 wall time and the
CPU time per search (`time.process_time`, which the other jobs on a shared machine
do not inflate), the ratio, and how often the two return the same top 10 and top 50
(ids in order); identical rankings mean identical known-item MRR.

With `--asks N`, then whole warm `Corpus.ask` calls for N questions, each asked
unfiltered, JP and US with the postings and with FTS5 (swapped in the same process,
interleaved): ask p50 per engine, filtered over unfiltered, postings over FTS5.

    python bench/lexical.py --data-dir /tmp/bb-100k [--asks 150]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data import DEFAULT_DATA, bbc_headline, bbc_pairs, reuters_stories, sentence_case

from retrieval import Corpus, Filters, load_settings
from retrieval.corpus import DB_NAME, LEXICAL_NAME
from retrieval.lexical import BM25Search
from retrieval.store import Store


def questions(data: Path, n: int) -> list[str]:
    """Reuters titles and BBC headlines, shuffled (the same set as bench/scale.py)."""
    titles = [
        sentence_case(s["title"])
        for s in reuters_stories(data / "reuters21578-dev")
        if s.get("title")
    ]
    titles += [bbc_headline(p["text"]) for p in bbc_pairs(data / "bbc-news-summary-dev")]
    rng = np.random.default_rng(1)
    return [titles[i] for i in rng.permutation(len(titles))[:n]]


def pct(values: list[float]) -> dict:
    return {"p50": statistics.median(values), "p95": float(np.percentile(values, 95))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--limit", type=int, default=50, help="articles per search, as `ask`")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=Path("bench/out/lexical.json"))
    ap.add_argument("--asks", type=int, default=0, help="then time N whole asks per engine")
    args = ap.parse_args()

    store = Store(args.data_dir / DB_NAME)
    t = time.perf_counter()
    postings = store.lexical.use_postings(args.data_dir / LEXICAL_NAME)
    open_s = time.perf_counter() - t
    fts5 = BM25Search(store._connections.get)
    qs = questions(args.data, args.queries)
    filters = {
        "unfiltered": Filters(),
        "JP": Filters(countries=("JP",)),
        "US": Filters(countries=("US",)),
    }
    for q in qs:  # warm both: word tokens, common-word verdicts, the OS cache
        store.lexical_search(q, args.limit, Filters())
        fts5.search(q, args.limit, Filters())

    result: dict = {
        "data_dir": str(args.data_dir),
        "articles": postings.articles,
        "queries": len(qs),
        "postings_open_seconds": open_s,
        "load_avg_before": os.getloadavg(),
        "filters": {},
    }
    for name, f in filters.items():
        wall: dict[str, list[float]] = {"fts5": [], "postings": []}
        cpu: dict[str, list[float]] = {"fts5": [], "postings": []}
        same10 = same50 = 0
        worst = 0.0
        for q in qs:
            runs = {}
            for engine in ("fts5", "postings") if len(wall["fts5"]) % 2 else ("postings", "fts5"):
                t, c = time.perf_counter(), time.process_time()
                if engine == "fts5":
                    got = fts5.search(q, args.limit, f)
                else:
                    got = store.lexical_search(q, args.limit, f)  # admitted SQL included
                cpu[engine].append(1000 * (time.process_time() - c))
                wall[engine].append(1000 * (time.perf_counter() - t))
                runs[engine] = got
            a, b = runs["fts5"], runs["postings"]
            same10 += [x for x, _ in a[:10]] == [x for x, _ in b[:10]]
            same50 += [x for x, _ in a] == [x for x, _ in b]
            for (_, sa), (_, sb) in zip(a, b, strict=False):
                worst = max(worst, abs(sa - sb) / max(abs(sa), 1e-12))
        result["filters"][name] = {
            "wall_ms": {e: pct(v) for e, v in wall.items()},
            "cpu_ms_mean": {e: statistics.fmean(v) for e, v in cpu.items()},
            "postings_over_fts5_wall_p50": statistics.median(wall["postings"])
            / statistics.median(wall["fts5"]),
            "postings_over_fts5_cpu": sum(cpu["postings"]) / sum(cpu["fts5"]),
            "same_top10": same10 / len(qs),
            "same_top50": same50 / len(qs),
            "max_relative_score_difference": worst,
        }
    result["load_avg_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    print(f"{result['articles']} articles, {len(qs)} questions, limit {args.limit}; ms")
    print(
        f"{'':<11}{'FTS5 p50/p95':>15}{'postings p50/p95':>19}{'ratio':>7}"
        f"{'cpu FTS5':>10}{'cpu post.':>10}{'same@10':>9}{'same@50':>9}"
    )
    for name, r in result["filters"].items():
        fw, pw = r["wall_ms"]["fts5"], r["wall_ms"]["postings"]
        print(
            f"{name:<11}{fw['p50']:>8.2f}/{fw['p95']:<6.2f}{pw['p50']:>11.2f}/{pw['p95']:<7.2f}"
            f"{r['postings_over_fts5_wall_p50']:>7.3f}{r['cpu_ms_mean']['fts5']:>10.2f}"
            f"{r['cpu_ms_mean']['postings']:>10.2f}{r['same_top10']:>9.3f}{r['same_top50']:>9.3f}"
        )
    print(f"load average before/after: {result['load_avg_before']} / {result['load_avg_after']}")
    store.close()
    if args.asks:
        result["asks"] = asks(args.data_dir, qs[: args.asks], filters)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


def asks(data_dir: Path, qs: list[str], filters: dict[str, Filters]) -> dict:
    """Warm asks with the postings and with FTS5, interleaved question by question."""
    corpus = Corpus(load_settings(data_dir=data_dir))
    corpus.encoder.encode(["warm up"])
    postings = corpus.store.lexical.postings
    for q in qs[:20]:
        for f in filters.values():
            corpus.ask(q, f)
    ms: dict[tuple[str, str], list[float]] = {(n, e): [] for n in filters for e in ENGINES}
    for i, q in enumerate(qs):
        for name, f in filters.items():
            for engine in ENGINES if i % 2 else ENGINES[::-1]:
                corpus.store.lexical.postings = postings if engine == "postings" else None
                t = time.perf_counter()
                corpus.ask(q, f)
                ms[(name, engine)].append(1000 * (time.perf_counter() - t))
    corpus.store.lexical.postings = postings
    corpus.close()
    p50 = {n: {e: statistics.median(ms[(n, e)]) for e in ENGINES} for n in filters}
    out = {
        "questions": len(qs),
        "ask_p50_ms": p50,
        "filtered_over_unfiltered_p50": {
            e: {n: p50[n][e] / p50["unfiltered"][e] for n in filters} for e in ENGINES
        },
        "postings_over_fts5_p50": {n: p50[n]["postings"] / p50[n]["fts5"] for n in filters},
        "load_avg_after": os.getloadavg(),
    }
    print(f"warm asks, {len(qs)} questions, p50 ms (postings / FTS5):")
    for n in filters:
        print(
            f"  {n:<11}{p50[n]['postings']:>8.1f} /{p50[n]['fts5']:>7.1f}"
            f"  ratio {out['postings_over_fts5_p50'][n]:.3f}; over unfiltered"
            f" {out['filtered_over_unfiltered_p50']['postings'][n]:.2f}"
            f" / {out['filtered_over_unfiltered_p50']['fts5'][n]:.2f}"
        )
    print(f"  load average after: {out['load_avg_after']}")
    return out


ENGINES = ("postings", "fts5")

if __name__ == "__main__":
    main()
