"""Digests made of stories, read on the busiest dev days (issue 15, issue 5).

- `--gold DIR` (story-clusters-dev): the digest of its busiest day, every topic, checked
  against the gold stories: how many gold stories are split across sections, and how
  many sections mix gold stories. The sections are printed to be read.
- `--reuters DIR` (Reuters-21578): of the busiest two consecutive wire days, the first
  is ingested and digested, then the second, so its digest (the next period) shows
  which stories are developing; the grouped and developing sections are printed to be read, and a
  warm digest build of that day is timed (median of `--repeats`).

    python bench/digest.py --gold ../shared/data/story-clusters-dev \
        --reuters ../shared/data/reuters21578-dev
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.data import reuters_stories, write_reuters_jsonl
from bot.handlers import with_digest_defaults
from retrieval import Corpus, Filters, load_settings
from retrieval.digest import Digest, DigestBuilder


def show(digest: Digest, only_grouped: bool = False, limit: int = 40) -> None:
    shown = 0
    for story in digest.stories:
        if only_grouped and len(story.articles) < 2 and not story.developing:
            continue
        if shown == limit:
            break
        shown += 1
        note = f" (developing: day {story.days}, {story.total} articles)"
        note = note if story.developing else ""
        print(f"## {story.title}{note}")
        for a in story.articles:
            print(f"     - [{a.source or ''} {(a.published or '')[:10]}] {a.title}")
        for s in story.summary:
            print(f"     > {s}")


def gold_day(gold_dir: Path, work: Path) -> dict:
    gold = {r["id"]: r["story"] for r in map(json.loads, (gold_dir / "gold.jsonl").open())}
    corpus = Corpus(load_settings(data_dir=work / "gold"))
    corpus.ingest([str(gold_dir / "articles.jsonl")], progress=False)
    rows = corpus.store._db.execute(
        "SELECT substr(dated, 1, 10), count(*) FROM articles GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    day, count = rows
    start = datetime.fromisoformat(day + "T00:00:00+00:00")
    window = Filters(since=start, until=start + timedelta(days=1))
    digest = DigestBuilder(corpus.store, max_stories=10_000).build(window)
    sections: dict[str, set[int]] = defaultdict(set)
    mixed = 0
    for n, story in enumerate(digest.stories):
        stories = {gold[a.external_id] for a in story.articles}
        mixed += len(stories) > 1
        for s in stories:
            sections[s].add(n)
    split = sum(len(v) > 1 for v in sections.values())
    print(f"\n== story-clusters-dev, busiest day {day}: {count} articles, {len(sections)} gold")
    print(f"   stories -> {len(digest.stories)} sections; {split} gold stories split across")
    print(f"   sections, {mixed} sections mixing gold stories")
    show(digest)
    corpus.close()
    return {
        "day": day,
        "articles": count,
        "gold_stories": len(sections),
        "sections": len(digest.stories),
        "split": split,
        "mixed": mixed,
    }


def reuters_day(reuters: Path, work: Path, repeats: int) -> dict:
    by_day: dict[str, list[dict]] = defaultdict(list)
    for story in reuters_stories(reuters):
        if story.get("date"):
            day = datetime.strptime(story["date"].split()[0], "%d-%b-%Y").date()
            by_day[day.isoformat()].append(story)

    def previous(day: str) -> str:
        return (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()

    # The busiest pair of consecutive days: the second day's digest follows the first's.
    busiest = max(by_day, key=lambda d: len(by_day[d]) + len(by_day.get(previous(d), [])))
    before = previous(busiest)
    corpus = Corpus(load_settings(data_dir=work / "reuters"))
    corpus.ingest([str(write_reuters_jsonl(by_day[before], work / "before.jsonl"))], False)
    first = corpus.digest(Filters(), max_stories=10_000)
    corpus.ingest([str(write_reuters_jsonl(by_day[busiest], work / "busiest.jsonl"))], False)
    window = Filters(after_id=first.last_article_id)
    builder = DigestBuilder(corpus.store, max_stories=10_000)
    digest = builder.build(window)
    sizes = Counter(len(s.articles) for s in digest.stories)
    developing = sum(s.developing for s in digest.stories)
    n = sum(len(s.articles) for s in digest.stories)
    print(f"\n== Reuters {busiest}: {n} articles after {before} ({len(by_day[before])})")
    grouped = sum(v for k, v in sizes.items() if k > 1)
    print(f"   {len(digest.stories)} sections; {grouped} grouped,")
    print(f"   largest {max(sizes)}; {developing} developing from {before}")
    show(digest, only_grouped=True, limit=60)
    posted = with_digest_defaults(corpus, window)  # the configured topics: what is posted
    default = corpus.digest(posted)
    print("\n-- as posted (trade + geopolitics, 15 stories):")
    show(default)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        corpus.digest(posted)
        times.append(time.perf_counter() - t)
    corpus.close()
    return {
        "day": busiest,
        "articles": n,
        "sections": len(digest.stories),
        "grouped": sum(v for k, v in sizes.items() if k > 1),
        "largest": max(sizes),
        "developing": developing,
        "digest_seconds": times,
        "digest_median": statistics.median(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", type=Path)
    ap.add_argument("--reuters", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/out/digest.json"))
    args = ap.parse_args()
    result: dict = {"measured": datetime.now(UTC).isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.gold:
            result["gold_day"] = gold_day(args.gold, Path(tmp))
        if args.reuters:
            result["reuters_day"] = reuters_day(args.reuters, Path(tmp), args.repeats)
            median = result["reuters_day"]["digest_median"]
            print(f"\nwarm digest of that day (as posted): median {median:.2f}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
