"""Digest story grouping and speed on busy Reuters days (issue 5).

For the busiest days in the corpus, builds the day's digest (all topics, and the
default trade + geopolitics topics) and reports articles covered vs sections,
for several grouping thresholds, with the grouped headlines printed so a person
can check that grouped articles are the same story. Also times a warm digest
build over a window of about 1,000 articles.

    python bench/digest.py --data-dir /tmp/briefbot-large   # built by bench/latency.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval import Corpus, Filters, load_settings
from retrieval.digest import DigestBuilder


def busiest_days(corpus: Corpus, n: int) -> list[tuple[str, int]]:
    rows = corpus.store._db.execute(
        "SELECT substr(published, 1, 10) AS day, count(*) FROM articles"
        " WHERE published IS NOT NULL GROUP BY day ORDER BY 2 DESC LIMIT ?",
        (n,),
    ).fetchall()
    return [(d, c) for d, c in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--show", type=int, default=8, help="multi-article stories to print per day")
    ap.add_argument("--out", type=Path, default=Path("bench/out/digest.json"))
    args = ap.parse_args()
    corpus = Corpus(load_settings(data_dir=args.data_dir))
    result: dict = {"days": []}
    for day, count in busiest_days(corpus, args.days):
        start = datetime.fromisoformat(day + "T00:00:00+00:00")
        window = Filters(since=start, until=start + timedelta(days=1))
        row = {"day": day, "articles": count, "sections": {}}
        for threshold, shared in [(t, 0.0) for t in (0.7, 0.75, 0.8, 0.85)] + [
            (0.75, s) for s in (0.2, 0.35, 0.5)
        ]:
            d = DigestBuilder(
                corpus.store, threshold=threshold, min_shared=shared, max_stories=10_000
            ).build(window)
            sizes = Counter(len(s.articles) for s in d.stories)
            row["sections"][f"cos>={threshold} shared>={shared}"] = {
                "sections": len(d.stories),
                "multi_article_sections": sum(v for k, v in sizes.items() if k > 1),
                "largest": max(sizes),
            }
        default = DigestBuilder(corpus.store, max_stories=10_000).build(
            replace(window, topics=("trade", "geopolitics"))
        )
        row["trade_geopolitics"] = {
            "articles": sum(len(s.articles) for s in default.stories),
            "sections": len(default.stories),
        }
        print(f"\n== {day}: {count} articles")
        for t, v in row["sections"].items():
            print(
                f"  {t}: {v['sections']} sections, {v['multi_article_sections']}"
                f" grouped, largest {v['largest']}"
            )
        print(f"  trade+geopolitics (default topics): {row['trade_geopolitics']}")
        d = DigestBuilder(corpus.store, max_stories=10_000).build(window)
        shown = 0
        for story in d.stories:
            if len(story.articles) > 1 and shown < args.show:
                shown += 1
                print(f"  * {story.title}")
                for a in story.articles:
                    print(f"      - {a.title}")
        result["days"].append(row)

    # Speed: a window of ~1,000 articles, warm (second build).
    window = Filters(after_id=corpus.store.max_article_id() - 1000)  # the last 1,000 ingested
    builder = DigestBuilder(corpus.store, max_stories=15)
    builder.build(window)
    t = time.perf_counter()
    d = builder.build(window)
    elapsed = time.perf_counter() - t
    covered = len(corpus.store.article_ids(window))
    result["speed"] = {"articles": covered, "seconds": elapsed, "stories": len(d.stories)}
    print(f"\nwarm digest over {covered} articles: {elapsed:.2f}s")
    print("\nsample digest (the busiest day, default topics):")
    day = result["days"][0]["day"]
    start = datetime.fromisoformat(day + "T00:00:00+00:00")
    sample = DigestBuilder(corpus.store, max_stories=5).build(
        Filters(since=start, until=start + timedelta(days=1), topics=("trade", "geopolitics"))
    )
    for story in sample.stories:
        print(f"## {story.title} [{', '.join(story.countries)}] ({len(story.articles)} articles)")
        for sentence in story.summary:
            print(f"   {sentence}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
