"""Ask latency, cold start and memory at ~100k articles (~800k vectors), past the HNSW line.

We have no 100k-article corpus, so one is grown (`bench/grow.py`) from a real data directory built
by `bench/latency.py`: its SQLite store is copied, then its articles are replicated
until `--articles`. Each copy gets new ids, distinct keys (`#copyN` suffix), the
same tags and FTS row, publication dates shifted back by `SHIFT_DAYS` per copy (date
windows stay selective), and its sentences with their vectors perturbed:
v' = normalise(v + sigma * gaussian), sigma set for a mean cosine of ~0.9 to the
source vector (measured and reported). Copies are near-duplicates, the way wire
stories are, not uniform random vectors. The index files are then deleted so that
opening a `Corpus` rebuilds the index from SQLite (timed; past 250k vectors it is HNSW).

The measurement runs in a fresh child process, so its peak RSS is the serving
process's, not the build's: warm `ask` p50/p95 unfiltered and filtered to JP (a
selective filter: exhaustive under HNSW) and US (broad: a wider graph walk), with
their CPU time, plus the index search, lexical search (postings in memory, and
SQLite FTS5 for reference) and filter SQL alone; a fresh `briefbot ask` process (median
of 3); then the same on an exact fp16 index built in-process from the store and
swapped in (the baseline). Peak RSS is VmHWM, not getrusage's ru_maxrss, which
Linux carries over from the parent when a process is spawned (see `peak_rss_mb`).

    python bench/scale.py --source /tmp/bb-large --data-dir /tmp/bb-100k --articles 100000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# BRIEFBOT_CODE: measure another checkout's library (main's, as the baseline) with this
# same script.
sys.path.insert(0, os.environ.get("BRIEFBOT_CODE") or str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data import DEFAULT_DATA, bbc_headline, bbc_pairs, reuters_stories, sentence_case
from grow import BUILD_INFO, build, index_files, load_avg, rebuild
from procmem import LAUNCHER, mapped_rss_mb, peak_rss_mb, rss_mb

from retrieval import Corpus, Filters, load_settings
from retrieval.corpus import DB_NAME, INDEX_NAME, LEXICAL_NAME
from retrieval.index import SentenceIndex
from retrieval.ingest import rebuild_index
from retrieval.lexical import BM25Search
from retrieval.search import CANDIDATE_ARTICLES, nearest_articles

ROOT = Path(__file__).resolve().parent.parent


def questions(data: Path, n: int) -> list[str]:
    """Reuters titles and BBC headlines, shuffled (the same set as bench/latency.py)."""
    titles = [
        sentence_case(s["title"])
        for s in reuters_stories(data / "reuters21578-dev")
        if s.get("title")
    ]
    titles += [bbc_headline(p["text"]) for p in bbc_pairs(data / "bbc-news-summary-dev")]
    rng = np.random.default_rng(1)
    return [titles[i] for i in rng.permutation(len(titles))[:n]]


def pct(values: list[float]) -> dict:
    return {
        "p50": statistics.median(values),
        "p95": float(np.percentile(values, 95)),
        "mean": statistics.fmean(values),
    }


def measure(args: argparse.Namespace) -> dict:
    qs = questions(args.data, args.queries)
    out = args.data_dir
    filters = {
        "unfiltered": None,
        "JP": Filters(countries=("JP",)),
        "US": Filters(countries=("US",)),
    }

    t = time.perf_counter()
    corpus = Corpus(load_settings(data_dir=out))
    corpus.encoder.encode(["warm up"])
    load_s = time.perf_counter() - t
    stats = corpus.stats()
    corpus.ask("warm up question about trade")
    admitted = {
        name: (len(corpus.store.admitted(f)) if f else stats.articles)
        for name, f in filters.items()
    }

    # Each question's vector, and the article ids each filter admits, for timing stages.
    qvecs = [corpus.encoder.encode([q])[0] for q in qs]
    admits = {name: corpus.store.admitted(f) if f else None for name, f in filters.items()}
    k = corpus.settings.answer.candidate_sentences
    fts5 = BM25Search(corpus.store._connections.get)  # the reference: SQLite FTS5 bm25()

    def stages() -> dict:
        """Per filter, ms: the index search alone, and the SQL parts of an ask around it."""
        out: dict[str, dict] = {}
        for name, f in filters.items():
            search, lexical, lexical_fts5, admitted_sql = [], [], [], []
            for q, v in zip(qs, qvecs, strict=True):
                t = time.perf_counter()
                nearest_articles(corpus.index, v, CANDIDATE_ARTICLES, k, admits[name])  # as ask
                search.append(1000 * (time.perf_counter() - t))
                t = time.perf_counter()
                # as an ask runs it: the admitted ids handed over, postings in memory
                corpus.store.lexical_search(q, 50, f or Filters(), admits[name])
                lexical.append(1000 * (time.perf_counter() - t))
                t = time.perf_counter()
                fts5.search(q, 50, f or Filters())
                lexical_fts5.append(1000 * (time.perf_counter() - t))
                if f is not None:
                    t = time.perf_counter()
                    corpus.store.admitted(f)
                    admitted_sql.append(1000 * (time.perf_counter() - t))
            out[name] = {
                "index_search": pct(search),
                "lexical_search": pct(lexical),
                "lexical_fts5": pct(lexical_fts5),
            }
            if admitted_sql:
                out[name]["admitted_sql"] = pct(admitted_sql)
        return out

    cpu_ms: dict[str, float] = {}

    def timed() -> tuple[dict, dict]:
        """Per filter: ask latencies (ms) and each question's top-5 article ids; the mean
        CPU time of an ask goes to `cpu_ms`."""
        times: dict[str, list[float]] = {name: [] for name in filters}
        tops: dict[str, list[list[int]]] = {name: [] for name in filters}
        cpu: dict[str, float] = dict.fromkeys(filters, 0.0)
        # Interleaved: each question under every filter in turn, so a burst of load from
        # the machine's other jobs falls on all of them alike.
        for q in qs:
            for name, f in filters.items():
                c, t = time.process_time(), time.perf_counter()
                result = corpus.ask(q, f)
                times[name].append(1000 * (time.perf_counter() - t))
                # CPU time of every thread of this process: what the other jobs on a
                # shared machine do not inflate (wall time waits for the cores they hold).
                cpu[name] += time.process_time() - c
                tops[name].append([r.article.id for r in result.articles])
        for name in filters:
            cpu_ms[name] = 1000 * cpu[name] / len(qs)
        return times, tops

    load_before = load_avg()
    kind = corpus.index.kind
    # Pass 1 reads each question's store and index pages from disk when the OS cache is
    # cold (after a restart or a dropped cache); later passes are the steady state.
    first_pass: dict[str, dict] = {}
    for n in range(args.passes):
        hnsw_ms, hnsw_top = timed()
        if n == 0:
            first_pass = {name: pct(ms) for name, ms in hnsw_ms.items()}
    hnsw_cpu = dict(cpu_ms)
    hnsw_stages = stages()
    load_hnsw = load_avg()
    peak_serving, rss_serving = peak_rss_mb(), rss_mb()

    cold, cold_rss = [], []
    for q in qs[:3]:
        cli = [sys.executable, "-m", "bot.cli", "ask", q, "--data-dir", str(out), "--json"]
        run = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, *cli],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        wall, rss = map(float, run.stdout.split())
        cold.append(wall)
        cold_rss.append(rss)
    load_cold = load_avg()

    # The baseline: an exact fp16 index built in-process from the store and swapped in
    # (a second Corpus would load the saved HNSW index whatever exact_max_vectors says).
    t = time.perf_counter()
    flat = SentenceIndex(
        corpus.index.dim,
        corpus.index.model,
        corpus.index.backend,
        exact_max=corpus.index.ntotal + 1,
    )
    rebuild_index(corpus.store, flat)
    flat_build_s = time.perf_counter() - t
    hnsw, corpus.index = corpus.index, flat
    del hnsw
    exact_ms, exact_top = timed()
    exact_cpu = dict(cpu_ms)
    exact_stages = stages()
    load_exact = load_avg()
    corpus.store.close()  # not corpus.close(): nothing may save the swapped-in flat index

    def overlap(a: list[list[int]], b: list[list[int]]) -> float:
        pairs = zip(a, b, strict=True)
        return statistics.fmean(len(set(x) & set(y)) / max(len(x), 1) for x, y in pairs)

    result = {
        "data_dir": str(out),
        "articles": stats.articles,
        "vectors": stats.vectors,
        "index_kind": kind,
        "index": stats.index,
        "encoder": corpus.encoder.backend,
        "queries": len(qs),
        "admitted_articles": admitted,
        "load_seconds": load_s,
        "warm_ask_ms": {
            "hnsw": {name: pct(v) for name, v in hnsw_ms.items()},
            "exact": {name: pct(v) for name, v in exact_ms.items()},
        },
        "passes": args.passes,
        "first_pass_ask_ms": first_pass,
        "ask_cpu_ms_mean": {"hnsw": hnsw_cpu, "exact": exact_cpu},
        "stage_ms": {"hnsw": hnsw_stages, "exact": exact_stages},
        "index_search_hnsw_over_exact_p50": {
            name: hnsw_stages[name]["index_search"]["p50"]
            / exact_stages[name]["index_search"]["p50"]
            for name in filters
        },
        "hnsw_over_exact_p50": {
            name: statistics.median(hnsw_ms[name]) / statistics.median(exact_ms[name])
            for name in filters
        },
        "top5_overlap_hnsw_vs_exact": {
            name: overlap(hnsw_top[name], exact_top[name]) for name in filters
        },
        "exact_baseline": "flat fp16 SentenceIndex rebuilt in-process from SQLite, swapped in",
        "exact_index_build_seconds": flat_build_s,
        "fresh_process_ask_seconds": {"median": statistics.median(cold), "runs": cold},
        "fresh_process_peak_rss_mb": {"max": max(cold_rss), "runs": cold_rss},
        "peak_rss_mb": peak_serving,
        "rss_mb_after_warm_asks": rss_serving,
        "filtered_over_unfiltered_p50": {
            name: statistics.median(hnsw_ms[name]) / statistics.median(hnsw_ms["unfiltered"])
            for name in filters
        },
        "peak_rss_mb_with_exact_baseline": peak_rss_mb(),
        "peak_rss_source": "VmHWM of the measuring process; the CLI's via a small launcher",
        "db_bytes": sum(
            p.stat().st_size for p in out.glob(DB_NAME + "*") if not p.name.endswith("building")
        ),
        "index_bytes": sum(p.stat().st_size for p in index_files(out) if p.exists()),
        "lexical_postings_bytes": (out / LEXICAL_NAME).stat().st_size
        if (out / LEXICAL_NAME).exists()
        else 0,
        "load_avg": {
            "before_warm": load_before,
            "after_hnsw_warm": load_hnsw,
            "after_fresh_process": load_cold,
            "after_exact_warm": load_exact,
        },
    }
    info = out / BUILD_INFO
    if info.exists():
        result["build"] = json.loads(info.read_text())
    return result


def memory(args: argparse.Namespace) -> dict:
    """Resident memory after each load step of a process that only serves, then after
    warm asks under each filter; what the large parts hold; and, with `--profile`, where
    a warm ask's main-thread time goes (cProfile; BM25 runs on its own thread)."""
    import cProfile
    import pstats

    qs = questions(args.data, args.queries)
    filters = [None, Filters(countries=("JP",)), Filters(countries=("US",))]
    steps = [{"step": "imports", **rss_mb()}]
    t = time.perf_counter()
    corpus = Corpus(load_settings(data_dir=args.data_dir))
    open_s = time.perf_counter() - t
    steps.append({"step": "store, index and postings opened", **rss_mb()})
    corpus.encoder.encode(["warm up"])
    steps.append({"step": "encoder loaded", **rss_mb()})
    for q in qs:
        for f in filters:
            corpus.ask(q, f)
    steps.append({"step": f"after {len(qs)} questions x 3 filters", **rss_mb()})
    mapped_files = [args.data_dir / INDEX_NAME, args.data_dir / LEXICAL_NAME]
    postings = corpus.store.lexical.postings
    s = postings._state if postings is not None else None
    arrays = (
        [s.articles, s.lengths, s.alive, s.large.offsets, s.large.rows, s.large.freqs]
        if s is not None
        else []
    )
    out = {
        "code": os.environ.get("BRIEFBOT_CODE") or str(ROOT),
        "index_kind": corpus.index.kind,
        "vectors": corpus.index.ntotal,
        "open_seconds": open_s,
        "steps": steps,
        "peak_rss_mb": peak_rss_mb(),
        "index_file_mb": (args.data_dir / INDEX_NAME).stat().st_size / 2**20,
        "postings_arrays_mb": sum(a.nbytes for a in arrays) / 2**20,
        "mapped_file_rss_mb_after_asks": mapped_rss_mb(mapped_files),
        "load_avg": load_avg(),
    }
    if args.profile:
        prof = cProfile.Profile()
        cpu = {}
        for f in filters:
            name = "unfiltered" if f is None else f.countries[0]
            c = time.thread_time()
            prof.enable()
            for q in qs:
                corpus.ask(q, f)
            prof.disable()
            cpu[name] = 1000 * (time.thread_time() - c) / len(qs)
        out["main_thread_cpu_ms_per_ask"] = cpu
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime")
        rows = []
        for (file, line, fn), (_, calls, tottime, cumtime, _) in stats.stats.items():
            rows.append((tottime, cumtime, calls, f"{Path(file).name}:{line}:{fn}"))
        rows.sort(reverse=True)
        asks = 3 * len(qs)
        out["profile_ms_per_ask_tottime"] = [
            {"fn": r[3], "tottime": 1000 * r[0] / asks, "cumtime": 1000 * r[1] / asks}
            for r in rows[:25]
        ]
    corpus.store.close()
    return out


def table(r: dict) -> str:
    kind = r["index_kind"]
    lines = [
        f"{r['articles']} articles, {r['vectors']} vectors, index {kind},"
        f" encoder {r['encoder']}, {r['queries']} questions; ms, p50/p95",
        f"{'':<11}{'ask ' + kind:>16}{'ask exact':>14}{'ratio':>7}{'top5':>6}"
        f"{'search ' + kind:>19}{'search exact':>14}{'lexical':>9}{'FTS5':>7}{'filter':>8}"
        f"{'/unfilt.':>9}",
    ]
    for name in r["warm_ask_ms"]["hnsw"]:
        h, e = r["warm_ask_ms"]["hnsw"][name], r["warm_ask_ms"]["exact"][name]
        sh, se = r["stage_ms"]["hnsw"][name], r["stage_ms"]["exact"][name]
        hs, es = sh["index_search"], se["index_search"]
        sql = sh.get("admitted_sql", {}).get("p50")
        lines.append(
            f"{name:<11}{h['p50']:>9.1f}/{h['p95']:<6.1f}{e['p50']:>7.1f}/{e['p95']:<6.1f}"
            f"{r['hnsw_over_exact_p50'][name]:>7.2f}{r['top5_overlap_hnsw_vs_exact'][name]:>6.2f}"
            f"{hs['p50']:>12.1f}/{hs['p95']:<6.1f}{es['p50']:>7.1f}/{es['p95']:<6.1f}"
            f"{sh['lexical_search']['p50']:>9.1f}{sh['lexical_fts5']['p50']:>7.1f}"
            f"{'-' if sql is None else f'{sql:.1f}':>8}"
            f"{r['filtered_over_unfiltered_p50'][name]:>9.2f}"
        )
    if r.get("passes", 1) > 1:
        first = ", ".join(
            f"{name} {v['p50']:.1f}/{v['p95']:.1f}" for name, v in r["first_pass_ask_ms"].items()
        )
        lines.append(
            f"ask {kind} above: pass {r['passes']} of {r['passes']};"
            f" pass 1 (pages read from disk when the OS cache is cold): {first}"
        )
    fresh = r["fresh_process_ask_seconds"]
    cpu = r["ask_cpu_ms_mean"]
    lines += [
        "ask CPU ms (all threads, mean): "
        + ", ".join(f"{n} {cpu['hnsw'][n]:.1f} / exact {cpu['exact'][n]:.1f}" for n in cpu["hnsw"]),
        f"fresh `briefbot ask`: {fresh['median']:.2f} s median of 3"
        f" ({', '.join(f'{x:.2f}' for x in fresh['runs'])});"
        f" its peak RSS {r['fresh_process_peak_rss_mb']['max']:.0f} MB",
        f"serving RSS after the warm asks {r['rss_mb_after_warm_asks']} MB;"
        f" peak RSS in-process: {r['peak_rss_mb']:.0f} MB"
        f" ({r['peak_rss_mb_with_exact_baseline']:.0f} MB with the exact baseline loaded too)",
        f"DB {r['db_bytes'] / 2**30:.2f} GiB, index {r['index_bytes'] / 2**20:.0f} MiB,"
        f" load average {r['load_avg']}",
    ]
    b = r.get("build")
    if b:
        ix = b.get("index_rebuild", {})
        lines.append(
            f"build {b['build_seconds']:.0f} s ({b['copies']} copies, mean cosine"
            f" {b['mean_cosine_copy_to_source']:.3f}); index rebuild"
            f" {ix.get('seconds', float('nan')):.0f} s -> {ix.get('kind')}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, help="a data dir built by bench/latency.py")
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument(
        "--passes",
        type=int,
        default=1,
        help="ask the questions this many times; the last pass is reported (the first too)",
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Reuters/BBC for questions")
    ap.add_argument("--out", type=Path, default=Path("bench/out/scale.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--rebuild-index", action="store_true", help="delete and re-time the index rebuild"
    )
    ap.add_argument(
        "--measure-only", action="store_true", help="measure DATA_DIR as it is (the child run)"
    )
    ap.add_argument("--build-only", action="store_true", help="build DATA_DIR, measure nothing")
    ap.add_argument(
        "--memory-only",
        action="store_true",
        help="resident memory by load step in this process (run it in a fresh one)",
    )
    ap.add_argument("--profile", action="store_true", help="with --memory-only: cProfile asks")
    args = ap.parse_args()
    if args.source is not None and (args.source / "models").is_dir():
        # A source from before the machine-wide model cache: its export, no export needed
        # (and none written into the source when it has none).
        os.environ.setdefault("BRIEFBOT_MODEL_CACHE", str(args.source / "models"))
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("retrieval.index").setLevel(logging.INFO)

    if not (args.measure_only or args.memory_only):
        info_path = args.data_dir / BUILD_INFO
        built = not (args.data_dir / DB_NAME).exists()
        if built:
            if args.source is None:
                ap.error(f"{args.data_dir} has no store: --source is needed to build one")
            info = build(args.source, args.data_dir, args.articles, args.seed)
            print(
                f"built {info['articles']} articles / {info['sentences']} sentences in"
                f" {info['build_seconds']:.0f} s; mean cosine copy-source"
                f" {info['mean_cosine_copy_to_source']:.4f}; load {info['load_avg_after']}",
                file=sys.stderr,
            )
            info_path.write_text(json.dumps(info, indent=1))
        if built or args.rebuild_index:
            ix = rebuild(args.data_dir)
            print(
                f"index rebuilt from SQLite: {ix['vectors']} vectors, {ix['kind']},"
                f" {ix['seconds']:.1f} s; load {ix['load_avg_after']}",
                file=sys.stderr,
            )
            info = json.loads(info_path.read_text()) if info_path.exists() else {}
            info_path.write_text(json.dumps(info | {"index_rebuild": ix}, indent=1))
        if args.build_only:
            return
        # Measure in a fresh process: its peak RSS is serving memory, not the build's.
        child = [sys.executable, __file__, *sys.argv[1:], "--measure-only"]
        sys.exit(subprocess.run(child, check=False).returncode)

    if args.memory_only:
        result = memory(args)
        print(json.dumps(result, indent=1))
        return
    result = measure(args)
    print(json.dumps(result, indent=1))
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
