"""Where a whole `briefbot ingest` spends its time: stage timers around one real run.

Runs `briefbot ingest EXPORT --data-dir DIR` in this process (the CLI's own entry
point) with wall-clock and thread-CPU timers wrapped around each stage: imports,
model load, parsing and splitting, tokenising, the embedding thread, tagger set-up,
tagging, SQLite writes, index add and save, postings catch-up and refresh, story
assignment.
A stage's thread CPU is what its Python thread spent; the encoder's arithmetic runs on
the runtime's own threads, so it is the process CPU left over once the Python stages
are counted. The process CPU is the figure to trust on a shared machine: wall time
there is mostly waiting for a core.

    python bench/ingest_stages.py EXPORT.jsonl NEW_DATA_DIR
(an export as bench/ingest.py writes one: `write_export`)
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import time
from pathlib import Path

STARTED, CPU_STARTED = time.perf_counter(), time.process_time()
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import bot.cli as cli  # noqa: E402
import retrieval.backends.wordpiece as wordpiece  # noqa: E402
import retrieval.corpus as corpus  # noqa: E402
import retrieval.embed as embed  # noqa: E402
import retrieval.index as index  # noqa: E402
import retrieval.ingest as ingest  # noqa: E402
import retrieval.lexical as lexical  # noqa: E402
import retrieval.store as store  # noqa: E402
import retrieval.stories as stories  # noqa: E402
import retrieval.tagging as tagging  # noqa: E402

TIMES: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])


def timed(owner: object, name: str, label: str) -> None:
    """Replace `owner.name` with a wrapper adding its wall and thread-CPU time to `label`."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            row = TIMES[label]
            row[0] += time.perf_counter() - wall
            row[1] += time.thread_time() - cpu
            row[2] += 1

    setattr(owner, name, wrapper)


def main() -> None:
    export, data_dir = sys.argv[1], sys.argv[2]
    imports = (time.perf_counter() - STARTED, time.process_time() - CPU_STARTED)
    timed(embed, "load_encoder", "model load")
    corpus.load_encoder = embed.load_encoder  # the name corpus imported
    timed(corpus.Corpus, "_open_index", "open index")
    timed(ingest, "prepare", "parse+split+windows (prepare thread)")
    timed(store.Store, "match", "dedupe lookups (store.match)")
    timed(wordpiece.WordPiece, "ids", "tokenise")
    timed(ingest, "_embed", "embedding thread (Python side)")
    timed(tagging.ArticleTagger, "__init__", "tagger set-up (topic prototypes)")
    timed(tagging.ArticleTagger, "__call__", "tagging")
    timed(store.Store, "add_batch", "SQLite writes")
    timed(index.SentenceIndex, "add", "index add")
    timed(stories, "assign_new", "story assignment")
    timed(index.SentenceIndex, "save", "index save")
    timed(lexical.BM25Search, "catch_up", "postings catch-up (each batch)")
    timed(lexical.BM25Search, "save", "postings refresh + save")
    sys.argv = ["briefbot", "ingest", export, "--data-dir", data_dir]
    with contextlib.suppress(SystemExit):  # the CLI exits with its status
        cli.main()
    wall, cpu = time.perf_counter() - STARTED, time.process_time() - CPU_STARTED
    python = imports[1] + sum(row[1] for row in TIMES.values())
    print(f"\nwhole process: {wall:.1f} s wall, {cpu:.1f} s CPU; load {os.getloadavg()}")
    print("| stage | wall s | thread CPU s | share of process CPU | calls |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| imports | {imports[0]:.2f} | {imports[1]:.2f} | {imports[1] / cpu:.1%} | 1 |")
    for label, (w, c, n) in sorted(TIMES.items(), key=lambda kv: -kv[1][1]):
        print(f"| {label} | {w:.2f} | {c:.2f} | {c / cpu:.1%} | {n} |")
    rest = cpu - python
    label = "encoder runtime threads (process CPU minus the above)"
    print(f"| {label} | | {rest:.2f} | {rest / cpu:.1%} | |")


if __name__ == "__main__":
    main()
