"""How long `ask` takes on hostile questions (issue 17): 6,000 characters, regex bait.

The bot refuses questions over `[discord] max_question_chars` before any work; the
library (and `briefbot ask`) answers them. Prints the median and max of `--repeat`
runs of each question against the usual one, on the corpus of `--data-dir`.

    python bench/hostile_questions.py --data-dir DIR
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUESTIONS = {
    "usual": "Why is Japan objecting to US tariffs?",
    "6000 chars": ("why are tariffs rising " * 300)[:6000],
    "regex bait": (
        "(" * 200 + "a" * 300 + "!" * 100 + " ((((a+)+)+)+$ .*.*.*=.* " + " \\" * 200 + "@" * 500
    ),
    "one 6000-char word": "x" * 6000,
}


def main() -> None:
    from retrieval import Corpus, load_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with Corpus(load_settings(data_dir=args.data_dir)) as corpus:
        corpus.ask("warm up")
        for name, question in QUESTIONS.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                corpus.ask(question)
                times.append(time.perf_counter() - start)
            print(
                f"{name:<20} {len(question):>5} chars  median"
                f" {1000 * statistics.median(times):.0f} ms  max {1000 * max(times):.0f} ms"
            )


if __name__ == "__main__":
    main()
