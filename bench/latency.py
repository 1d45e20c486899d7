"""Query latency, cold start and memory on a large real corpus (issues 2 and 6).

Builds (or reuses) a data directory holding every Reuters-21578 and BBC article
available, then measures in one run: warm `ask` p50/p95 in-process (unfiltered,
and filtered to one country), a fresh `briefbot ask` process end to end, and
peak resident memory of the in-process run.

    python bench/latency.py --data-dir /tmp/briefbot-large
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data import (
    DEFAULT_DATA,
    bbc_headline,
    bbc_pairs,
    reuters_stories,
    sentence_case,
    write_reuters_jsonl,
)

from retrieval import Corpus, Filters, load_settings


def build(data_dir: Path, data: Path) -> None:
    export = write_reuters_jsonl(
        reuters_stories(data / "reuters21578-dev"),
        data_dir.parent / f"{data_dir.name}-reuters.jsonl",
    )
    with Corpus(load_settings(data_dir=data_dir)) as corpus:
        t = time.perf_counter()
        report = corpus.ingest(
            [str(export), str(data / "bbc-news-summary-dev" / "articles")], progress=True
        )
        print(f"built: {report.added} articles in {time.perf_counter() - t:.0f}s", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("bench/out/latency.json"))
    args = ap.parse_args()
    if not (args.data_dir / "briefbot.sqlite3").exists():
        build(args.data_dir, args.data)

    titles = [
        sentence_case(s["title"])
        for s in reuters_stories(args.data / "reuters21578-dev")
        if s.get("title")
    ]
    titles += [bbc_headline(p["text"]) for p in bbc_pairs(args.data / "bbc-news-summary-dev")]
    rng = np.random.default_rng(1)
    questions = [titles[i] for i in rng.permutation(len(titles))[: args.queries]]

    t = time.perf_counter()
    corpus = Corpus(load_settings(data_dir=args.data_dir))
    corpus.encoder.encode(["warm up"])
    load_s = time.perf_counter() - t
    stats = corpus.stats()
    corpus.ask("warm up question about trade")

    def timed(filters: Filters | None) -> list[float]:
        out = []
        for q in questions:
            t = time.perf_counter()
            corpus.ask(q, filters)
            out.append(1000 * (time.perf_counter() - t))
        return out

    plain = timed(None)
    japan = timed(Filters(countries=("JP",)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cold = []
    for q in questions[:3]:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "--data-dir", str(args.data_dir), "ask", q, "--json"],
            check=True,
            capture_output=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        cold.append(time.perf_counter() - t)

    result = {
        "articles": stats.articles,
        "vectors": stats.vectors,
        "load_seconds": load_s,
        "warm_ask_ms": {"p50": statistics.median(plain), "p95": float(np.percentile(plain, 95))},
        "warm_ask_country_JP_ms": {
            "p50": statistics.median(japan),
            "p95": float(np.percentile(japan, 95)),
        },
        "filtered_over_unfiltered_p50": statistics.median(japan) / statistics.median(plain),
        "fresh_process_ask_seconds": {"median": statistics.median(cold), "runs": cold},
        "peak_rss_mb": peak_mb,
    }
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
