"""Embedding backends side by side: speed, fidelity to sentence-transformers fp32, start-up.

Per backend, on the sentences of N Reuters-21578 stories (as ingest embeds
them) and on the N whole bodies (truncated at 256 tokens, the heavy case):
texts/s and tokens/s (median of interleaved repeats), the ratio to the fp32
reference measured in the same run, mean cosine to fp32, top-10 neighbour
agreement (for sample query texts, the share of their 10 nearest texts by the
reference that the backend also puts in its 10 nearest), in-process load time,
and cold start (new interpreter -> first query embedding, with the fidelity
verdict already cached). The machine is shared: the load average is printed,
trust ratios more than absolute numbers.

    python bench/encoders.py --stories 200 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval.embed import BACKENDS, REFERENCE, load_encoder, model_path, unavailable  # noqa: E402
from retrieval.text import clean_body, split_sentences  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "reuters21578-dev"
QUERY = "What did the U.S. say about tariffs on Japanese semiconductors?"


def load_texts(folder: Path, stories: int) -> tuple[list[str], list[str]]:
    """(sentences, bodies) of the first `stories` Reuters stories that have a body."""
    bodies: list[str] = []
    for path in sorted(folder.glob("reut2-*.json")):
        for story in json.loads(path.read_text(encoding="utf-8")):
            body = clean_body(story.get("body") or "")
            if body:
                bodies.append(body)
            if len(bodies) >= stories:
                break
        if len(bodies) >= stories:
            break
    sentences = [body[s:e] for body in bodies for s, e in split_sentences(body)]
    return sentences, bodies


def token_counts(texts: list[str]) -> int:
    """Tokens the model actually sees (with specials, truncated at 256)."""
    from retrieval.backends.wordpiece import WordPiece

    return sum(len(ids) for ids in WordPiece(Path(model_path()), 256).ids(texts))


def neighbour_agreement(ref: np.ndarray, got: np.ndarray, k: int = 10, queries: int = 500) -> float:
    rng = np.random.default_rng(0)
    picked = rng.choice(len(ref), size=min(queries, len(ref)), replace=False)
    shares = []
    for vectors in (ref, got):
        sims = vectors[picked] @ vectors.T
        sims[np.arange(len(picked)), picked] = -np.inf
        shares.append(np.argpartition(-sims, k, axis=1)[:, :k])
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(*shares, strict=True)]))


def cold_start(backend: str, cache_dir: Path, batch_size: int, threads: int) -> float:
    """Seconds from launching a new interpreter to its first query vector."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from retrieval.embed import load_encoder\n"
        f"cache = Path({str(cache_dir)!r})\n"
        f"e = load_encoder({backend!r}, {batch_size}, {threads}, cache_dir=cache)\n"
        f"e.encode([{QUERY!r}])\n"
        "print(time.time() - float(sys.argv[1]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, repr(time.time())],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


class Worker:
    """One backend in its own process, as in production: runtimes sharing a process (torch's
    OpenMP pool spinning next to ONNX Runtime's) slow each other down on two cores."""

    def __init__(self, backend: str, args: argparse.Namespace, cache_dir: Path, out: Path):
        command = [
            sys.executable,
            __file__,
            "--worker",
            backend,
            "--data",
            str(args.data),
            "--stories",
            str(args.stories),
            "--batch-size",
            str(args.batch_size),
            "--threads",
            str(args.threads),
            "--cache-dir",
            str(cache_dir),
        ]
        self.backend = backend
        self.out = out
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = self._reply()

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the {self.backend} worker died (see its stderr above)")
        return json.loads(line)

    def encode(self, name: str, limit: int = 0) -> float:
        self.proc.stdin.write(f"{name} {limit} {self.out / f'{self.backend}-{name}.npy'}\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return float(self._reply()["seconds"])

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait()


def worker(args: argparse.Namespace) -> None:
    """Load one backend, then encode the named text set on each request from stdin."""
    sets = dict(zip(("sentences", "bodies"), load_texts(args.data, args.stories), strict=True))
    started = time.perf_counter()
    encoder = load_encoder(args.worker, args.batch_size, args.threads, cache_dir=args.cache_dir)
    info = {"load": time.perf_counter() - started, "precision": getattr(encoder, "precision", "")}
    print(json.dumps(info), flush=True)
    for line in sys.stdin:
        name, limit, target = line.split(maxsplit=2)
        texts = sets[name][: int(limit) or None]
        started = time.perf_counter()
        vectors = encoder.encode(texts)
        seconds = time.perf_counter() - started
        np.save(target.strip(), vectors)
        print(json.dumps({"seconds": seconds}), flush=True)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--stories", type=int, default=200)
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--cache-dir", type=Path, help="model cache (default: a temporary one)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="briefbot-bench-models-"))
    sentences, bodies = load_texts(args.data, args.stories)
    sets = {"sentences": sentences, "bodies": bodies}
    tokens = {name: token_counts(texts) for name, texts in sets.items()}
    print(
        f"{len(bodies)} stories: {len(sentences)} sentences ({tokens['sentences']} tokens), "
        f"{len(bodies)} bodies ({tokens['bodies']} tokens); batch {args.batch_size}, "
        f"threads {args.threads or os.cpu_count()}; load average at start {loadavg()}",
        flush=True,
    )
    # Export and the auto fidelity check happen here, once, so later starts are the cached path.
    auto_first = cold_start("auto", cache_dir, args.batch_size, args.threads)

    backends = [REFERENCE] + [b for b in args.backends if b != REFERENCE]
    out = Path(tempfile.mkdtemp(prefix="briefbot-bench-vectors-"))
    workers = {}
    for backend in backends:
        reason = unavailable(backend)
        if reason and backend != "st-bf16":
            print(f"skipping {backend}: {reason}")
            continue
        workers[backend] = Worker(backend, args, cache_dir, out)

    seconds: dict[tuple[str, str], list[float]] = {}
    try:
        for name in sets:
            for w in workers.values():
                w.encode(name, 2 * args.batch_size)  # warm-up
            for _ in range(args.repeats):  # interleaved, so load changes hit every backend alike
                for backend, w in workers.items():
                    seconds.setdefault((backend, name), []).append(w.encode(name))
    finally:
        for w in workers.values():
            w.close()

    cold = {
        b: statistics.median(
            cold_start(b, cache_dir, args.batch_size, args.threads) for _ in range(args.cold_runs)
        )
        for b in [*workers, "auto"]
    }
    auto = load_encoder("auto", args.batch_size, args.threads, cache_dir=cache_dir)

    print()
    print(
        "| backend | texts | texts/s | tokens/s | × ST fp32 | mean cosine | top-10 agreement "
        "| load (in-process) | cold start |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for backend, w in workers.items():
        label = f"{backend} ({w.info['precision']})"
        for name, texts in sets.items():
            median = statistics.median(seconds[backend, name])
            ref_median = statistics.median(seconds[REFERENCE, name])
            ref = np.load(out / f"{REFERENCE}-{name}.npy")
            got = np.load(out / f"{backend}-{name}.npy")
            cosine = float(np.sum(ref * got, axis=1).mean())
            print(
                f"| {label} | {name} | {len(texts) / median:,.0f} | {tokens[name] / median:,.0f} "
                f"| {ref_median / median:.2f}× | {cosine:.5f} "
                f"| {neighbour_agreement(ref, got):.3f} | {w.info['load']:.2f} s "
                f"| {cold[backend]:.2f} s |"
            )
    print(f"| auto → {auto.backend} | | | | | | | | {cold['auto']:.2f} s |")
    print(
        f"\nload average at end {loadavg()}. Cold start = new interpreter to first query vector"
        f" (imports included). First-ever auto start (export + fidelity check): {auto_first:.1f} s"
        " (with --cache-dir already populated, just a cached start)."
    )


if __name__ == "__main__":
    main()
