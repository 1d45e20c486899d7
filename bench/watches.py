"""Watch matching on public data with relevance labels: the threshold, measured (issue 15).

Two kinds of watches, both matched through the real ingest pipeline and
`retrieval.watches` (the vectors, rarity weights and word gate as the bot computes
them), each (watch, article) pair judged by human labels:

- Specific watches, the kind people write: each AllSides roundup's own headline
  (`issue` in story-clusters-dev, written by its editors, not by the outlets) is a
  watch; the story's articles are relevant, every other article is not. The
  parameters (threshold, lexical weight, word gate) are chosen by micro-F1 over
  all pairs on the stories of ISO weeks 16-18 and reported on weeks 19-22, beside
  a dense-only baseline tuned on the same weeks in the same run.
- Broad watches written from the Reuters category names (cat-descriptions): one per
  frequent topic ("Crude Oil") and topic-and-country pair ("Japan Trade"); relevant
  = Reuters labelled the story with the topic (and the place). Reported at the
  parameters chosen above, not tuned: how a one-word topic fares, and how often a
  pair watch fires on stories of its country with another topic ("Japan Trade" on
  Japan's currency stories).

Also the time to match one article against 1,000 watches (Reuters titles as
descriptions).

    python bench/watches.py --reuters-files 10-10
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from countries import place_to_iso
from data import DEFAULT_DATA, reuters_stories, sentence_case, write_reuters_jsonl
from retrieval_bench import parse_range

from retrieval import Corpus, Filters, load_settings
from retrieval.analysis import content_stems
from retrieval.countries import country_name
from retrieval.embed import load_encoder
from retrieval.search import article_slices
from retrieval.watches import WatchMatcher, WatchQuery, prepare

MIN_TOPIC = 10  # labelled stories a topic needs in a split to get a watch
MIN_PAIR = 5  # ... and a topic and country pair
THRESHOLDS = np.round(np.arange(0.05, 0.95, 0.01), 2)
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def category_names(folder: Path) -> dict[str, str]:
    """topic code -> its name in the category descriptions ("Crude Oil")."""
    text = (folder / "cat-descriptions_120396.txt").read_text(encoding="latin-1")
    names = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(.+?)\s*\(([A-Z0-9-]+)\)\s*$", line)
        if m:
            names.setdefault(m.group(2).lower(), m.group(1).replace("/", " / "))
    return names


def watch_specs(stories: list[dict], names: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(description, topic, place or None) for the frequent topics and pairs of a split."""
    topics = Counter(t for s in stories for t in s["topics"])
    pairs = Counter(
        (t, p) for s in stories for t in s["topics"] for p in s.get("places") or [] if p != "usa"
    )
    specs = [(names[t], t, None) for t, n in topics.items() if n >= MIN_TOPIC and t in names]
    for (t, p), n in pairs.items():
        iso = place_to_iso(p)
        if n >= MIN_PAIR and t in names and iso:
            specs.append((f"{country_name(iso)} {names[t]}", t, p))
    return sorted(specs)


def ingest_split(folder: Path, files: range, encoder, tmp: Path, name: str):
    stories = [s for s in reuters_stories(folder, files) if s.get("title") or s.get("body")]
    export = write_reuters_jsonl(stories, tmp / f"{name}.jsonl")
    corpus = Corpus(load_settings(data_dir=tmp / name), encoder=encoder)
    t = time.perf_counter()
    corpus.ingest([str(export)], progress=False)
    print(
        f"{name}: ingested {len(stories)} stories in {time.perf_counter() - t:.0f}s",
        file=sys.stderr,
    )
    ids = corpus.store.article_ids(Filters(), newest_first=False)
    by_ext = {a.external_id: a for a in corpus.store.articles(ids).values()}
    labelled = [
        (s, by_ext[s["attrs"]["newid"]])
        for s in stories
        if s.get("topics") and s["attrs"]["newid"] in by_ext
    ]
    return corpus, labelled


def story_relevance(label: dict, spec: tuple) -> bool:
    return label["story"] == spec[1]


def label_relevance(story: dict, spec: tuple) -> bool:
    _, topic, place = spec
    return topic in story["topics"] and (place is None or place in (story.get("places") or []))


def components(corpus: Corpus, labelled, specs, relevance):
    """Per (article, watch): dense score, coverage, word gate; and the relevance labels."""
    queries = []
    for i, (description, _, _) in enumerate(specs):
        vector, terms = prepare(description, corpus.encoder, corpus.store)
        queries.append(WatchQuery(i, vector, terms))
    matcher = WatchMatcher(queries)
    arts = [a for _, a in labelled]
    owners, positions, vectors, _ = corpus.store.sentence_vectors([a.id for a in arts])
    slices = article_slices(owners)
    n, m = len(arts), len(queries)
    dense, cov = np.zeros((n, m), np.float32), np.zeros((n, m), np.float32)
    gate, relevant = np.zeros((n, m), bool), np.zeros((n, m), bool)
    for i, (story, art) in enumerate(labelled):
        a, b = slices.get(art.id, (0, 0))
        dense[i] = matcher.dense(positions[a:b], vectors[a:b])
        stems = set(content_stems(f"{art.title}\n{art.body}"))
        cov[i], gate[i] = matcher.lexical(stems, art.countries)
        relevant[i] = [relevance(story, spec) for spec in specs]
    return dense, cov, gate, relevant


def prf(fired: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    tp = int((fired & relevant).sum())
    fp = int((fired & ~relevant).sum())
    fn = int((~fired & relevant).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def fired(parts, threshold: float, weight: float, use_gate: bool) -> np.ndarray:
    dense, cov, gate, _ = parts
    out = dense + weight * cov >= threshold
    return out & gate if use_gate else out


def tune(parts, weights=WEIGHTS, gates=(True, False)) -> tuple[dict, list[dict]]:
    """The best (threshold, weight, gate) by F1; on a tie the first, so the word gate (a
    country alone never makes a match) is kept unless leaving it out measures better."""
    relevant = parts[3]
    curve = []
    for weight, use_gate, threshold in itertools.product(weights, gates, THRESHOLDS):
        m = prf(fired(parts, float(threshold), weight, use_gate), relevant)
        curve.append({"threshold": float(threshold), "weight": weight, "gate": use_gate, **m})
    return max(curve, key=lambda r: r["f1"]), curve


def same_country_false_alarms(parts, labelled, specs, params) -> dict[str, float]:
    """Pair watches on stories of their place without their topic: the share that fires."""
    fire = fired(parts, params["threshold"], params["weight"], params["gate"])
    hits = total = 0
    for j, (_, topic, place) in enumerate(specs):
        if place is None:
            continue
        for i, (story, _) in enumerate(labelled):
            if place in (story.get("places") or []) and topic not in story["topics"]:
                total += 1
                hits += bool(fire[i, j])
    return {"stories": total, "fired": hits, "share": hits / total if total else 0.0}


def timing(corpus: Corpus, labelled, watches: int, articles: int) -> dict[str, float]:
    """Milliseconds to match one article against `watches` watches (titles as descriptions)."""
    arts = [a for _, a in labelled][:articles]
    titles = [sentence_case(a.title) for _, a in labelled][:watches]
    while len(titles) < watches:
        titles += titles[: watches - len(titles)]
    queries = [
        WatchQuery(i, *prepare(t, corpus.encoder, corpus.store)) for i, t in enumerate(titles)
    ]
    matcher = WatchMatcher(queries)
    owners, positions, vectors, texts = corpus.store.sentence_vectors([a.id for a in arts])
    slices = article_slices(owners)
    wall, cpu, matched = [], [], 0
    load = os.getloadavg()[0]
    for art in arts:
        a, b = slices.get(art.id, (0, 0))
        t, c = time.perf_counter(), time.thread_time()
        matched += len(matcher.match_article(art, positions[a:b], vectors[a:b], texts[a:b]))
        cpu.append((time.thread_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
    wall.sort()
    cpu.sort()
    return {
        "watches": len(queries),
        "articles": len(arts),
        "matches": matched,
        "load_average": load,
        "p50_ms": statistics.median(wall),
        "p95_ms": wall[int(0.95 * len(wall)) - 1],
        "max_ms": wall[-1],
        "cpu_p50_ms": statistics.median(cpu),
        "cpu_p95_ms": cpu[int(0.95 * len(cpu)) - 1],
        "cpu_max_ms": cpu[-1],
    }


def cluster_split(data: Path, encoder, tmp: Path):
    """The story-clusters corpus, and per split (dev/test weeks) its stories' watches."""
    folder = data / "story-clusters-dev"
    corpus = Corpus(load_settings(data_dir=tmp / "clusters"), encoder=encoder)
    corpus.ingest([str(folder / "articles.jsonl")], progress=False)
    gold = {g["id"]: g for g in map(json.loads, (folder / "gold.jsonl").open())}
    ids = corpus.store.article_ids(Filters(), newest_first=False)
    arts = [a for a in corpus.store.articles(ids).values() if a.external_id in gold]
    arts.sort(key=lambda a: a.id)
    labelled = [({"story": gold[a.external_id]["story"]}, a) for a in arts]
    weeks: dict[str, int] = {}
    for a in arts:
        week = date.fromisoformat((a.published or "")[:10]).isocalendar()[1]
        story = gold[a.external_id]["story"]
        weeks[story] = min(week, weeks.get(story, week))
    issues = {g["story"]: g["issue"] for g in gold.values()}
    split = {
        name: sorted((issues[st], st, None) for st, w in weeks.items() if test == (w >= 19))
        for name, test in (("dev", False), ("test", True))
    }
    return corpus, labelled, split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--reuters-files", type=parse_range, default=parse_range("10-10"))
    ap.add_argument("--timing-watches", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("bench/out/watches.json"))
    args = ap.parse_args()
    encoder = load_encoder()
    encoder.encode(["warm up"])
    tmp = Path(tempfile.mkdtemp(prefix="briefbot-watches-"))
    result: dict = {"encoder": f"{encoder.name} ({encoder.backend})"}

    corpus, labelled, split = cluster_split(args.data, encoder, tmp)
    parts = {
        name: components(corpus, labelled, specs, story_relevance) for name, specs in split.items()
    }
    best, curve = tune(parts["dev"])
    dense_best, _ = tune(parts["dev"], weights=(0.0,), gates=(False,))
    result["chosen_on_dev"], result["dense_only_on_dev"] = best, dense_best
    result["dev_curve"] = curve
    for name in ("dev", "test"):
        result[name] = {
            "articles": len(labelled),
            "watches": len(split[name]),
            "relevant_pairs": int(parts[name][3].sum()),
        }
    test = parts["test"]
    for key, params in (("briefbot", best), ("dense_only", dense_best)):
        result["test"][key] = prf(fired(test, *point(params)), test[3])
    result["test"]["curve_at_chosen_weight"] = [
        {"threshold": float(t), **prf(fired(test, float(t), best["weight"], best["gate"]), test[3])}
        for t in THRESHOLDS
        if abs(t - best["threshold"]) <= 0.101
    ]

    folder = args.data / "reuters21578-dev"
    rcorpus, rlabelled = ingest_split(folder, args.reuters_files, encoder, tmp, "reuters")
    specs = watch_specs([s for s, _ in rlabelled], category_names(folder))
    rparts = components(rcorpus, rlabelled, specs, label_relevance)
    pairs = [j for j, spec in enumerate(specs) if spec[2] is not None]
    topics = [j for j, spec in enumerate(specs) if spec[2] is None]
    reuters: dict = {
        "files": f"{args.reuters_files.start}-{args.reuters_files.stop - 1}",
        "stories": len(rlabelled),
        "watches": len(specs),
    }
    for key, params in (("briefbot", best), ("dense_only", dense_best)):
        fire = fired(rparts, *point(params))
        reuters[key] = {
            "topic_watches": prf(fire[:, topics], rparts[3][:, topics]),
            "pair_watches": prf(fire[:, pairs], rparts[3][:, pairs]),
            "same_country_other_topic": same_country_false_alarms(rparts, rlabelled, specs, params),
        }
    result["reuters"] = reuters
    result["timing"] = timing(rcorpus, rlabelled, args.timing_watches, 1000)
    report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


def point(params: dict) -> tuple[float, float, bool]:
    return params["threshold"], params["weight"], params["gate"]


def report(r: dict) -> None:
    b, d = r["chosen_on_dev"], r["dense_only_on_dev"]
    print(f"encoder {r['encoder']}")
    print(
        f"story-clusters, chosen on weeks 16-18 ({r['dev']['watches']} watches x"
        f" {r['dev']['articles']} articles): threshold {b['threshold']:.2f}, lexical weight"
        f" {b['weight']}, word gate {b['gate']} (dev F1 {b['f1']:.3f}); dense-only threshold"
        f" {d['threshold']:.2f} (dev F1 {d['f1']:.3f})"
    )
    t = r["test"]
    print(f"held out, weeks 19-22 ({t['watches']} watches, {t['relevant_pairs']} relevant pairs):")
    for key in ("briefbot", "dense_only"):
        m = t[key]
        print(
            f"  {key:<10} P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}"
            f"  (tp {m['tp']}, fp {m['fp']}, fn {m['fn']})"
        )
    print("  threshold  P      R      F1   (held out, chosen weight and gate)")
    for row in t["curve_at_chosen_weight"]:
        print(
            f"  {row['threshold']:.2f}       {row['precision']:.3f}  {row['recall']:.3f}"
            f"  {row['f1']:.3f}"
        )
    rr = r["reuters"]
    print(
        f"Reuters files {rr['files']} ({rr['stories']} labelled stories, {rr['watches']}"
        " category watches), at the parameters above:"
    )
    for key in ("briefbot", "dense_only"):
        m = rr[key]
        fa = m["same_country_other_topic"]
        print(
            f"  {key:<10} topic watches F1 {m['topic_watches']['f1']:.3f}"
            f" (P {m['topic_watches']['precision']:.3f}, R {m['topic_watches']['recall']:.3f});"
            f" country+topic F1 {m['pair_watches']['f1']:.3f}"
            f" (P {m['pair_watches']['precision']:.3f}, R {m['pair_watches']['recall']:.3f});"
            f" same country, other topic: {fa['fired']}/{fa['stories']} fired"
        )
    tm = r["timing"]
    print(
        f"matching one article against {tm['watches']} watches ({tm['articles']} articles,"
        f" {tm['matches']} matches): wall p50 {tm['p50_ms']:.2f} ms, p95 {tm['p95_ms']:.2f} ms,"
        f" max {tm['max_ms']:.2f} ms; CPU time p50 {tm['cpu_p50_ms']:.2f} ms,"
        f" p95 {tm['cpu_p95_ms']:.2f} ms, max {tm['cpu_max_ms']:.2f} ms"
        f" (load average {tm['load_average']:.1f} on this machine's cores)"
    )


if __name__ == "__main__":
    main()
