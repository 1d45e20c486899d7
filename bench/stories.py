"""Story clustering quality per week on gold story labels, and its speed (issue 15).

Quality: the AllSides roundups (`../shared/data/story-clusters-dev`) are ingested
into a fresh data dir; every method clusters all of them and is scored with B-cubed
precision/recall/F1 per ISO week (articles of that week only). Every parameter,
ours included, is chosen leave-one-week-out: for the week reported, the value best
on the other weeks' mean F1. Everything runs twice: with the dates as published, and
with every date moved to noon of its day. The roundups' three articles share one
timestamp that no other roundup has, so with published dates time alone is a label
(the `date-alone` row scores 1.000) and a large day penalty wins by reading the clock;
dated to the day, what groups them is what they say. Methods, all in the same run:

- `stories`: `retrieval.stories.cluster` (lead vectors + shared names + whole-text
  TF-IDF + days, single pass then moves), the clustering that assigns stored story
  ids at ingest, run a day at a time into the stories of the days before (as after a
  daily ingest); `stories-no-text` the same grid without the whole-text TF-IDF,
  `stories-single-pass` without the moves; `stories-one-batch` all days in one call;
- `tfidf-single-pass`: TF-IDF of title and body, join the nearest centroid above t;
  `+time` the same less a day penalty, from the same penalties `stories` tries;
- `embedding-agglomerative`: average-link agglomerative clustering of the lead
  vectors (cosine distance below t), per week;
- `digest-v1`: the grouping digests used before stories (lead cosine 0.75 and shared
  headline words 0.35, fixed);
- `date-alone`: one cluster per date (a check of what the dates give away).

Speed: `--reuters DIR` synthesises three days from Reuters-21578 (title and lead of
each story, dates rewritten): 2,000 articles already assigned, then a day of 1,000
new ones; times `assign_new` (read, cluster, store) on a copy of the store, median of
`--repeats`.

    python bench/stories.py --gold ../shared/data/story-clusters-dev \
        --reuters ../shared/data/reuters21578-dev
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from retrieval import Corpus, load_settings
from retrieval.analysis import content_stems
from retrieval.ingest import ingest
from retrieval.records import RawArticle
from retrieval.store import Store
from retrieval.stories import Params, assign_new, cluster, features

# Day penalties tried by `stories` and by the TF-IDF + time baseline alike.
DAY_PENALTIES = (0.2, 0.3, 0.6, 1.0)


def bcubed(pred: dict[str, int], gold: dict[str, str]) -> tuple[float, float, float]:
    by_pred, by_gold = defaultdict(set), defaultdict(set)
    for item, c in pred.items():
        by_pred[c].add(item)
    for item in pred:
        by_gold[gold[item]].add(item)
    p = r = 0.0
    for item in pred:
        mine, theirs = by_pred[pred[item]], by_gold[gold[item]]
        both = len(mine & theirs)
        p += both / len(mine)
        r += both / len(theirs)
    p, r = p / len(pred), r / len(pred)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def per_week(labels: dict[str, int], weeks: dict[str, str], gold: dict[str, str]) -> dict:
    out = {}
    for week in sorted(set(weeks.values())):
        out[week] = bcubed({a: c for a, c in labels.items() if weeks[a] == week}, gold)
    return out


def loo(scores_by_param: dict, weeks: list[str]) -> dict[str, tuple]:
    """For each week: (chosen param, its P/R/F1 there), chosen on the other weeks' mean F1."""
    out = {}
    for week in weeks:
        best = max(
            scores_by_param,
            key=lambda k: statistics.mean(scores_by_param[k][w][2] for w in weeks if w != week),
        )
        out[week] = (best, scores_by_param[best][week])
    return out


def tfidf_single_pass(
    texts: list[str], order: list[int], t: float, days: list[float] | None = None, d: float = 0.0
) -> list[int]:
    """Join the nearest centroid above t; with `days`, less d when a day or more apart
    from the cluster's latest article (the penalty `stories` uses)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    x = x.toarray().astype(np.float32)
    labels = [-1] * len(texts)
    sums: list[np.ndarray] = []
    last: list[float] = []
    for i in order:
        best, score = -1, t
        for c, s in enumerate(sums):
            sim = float(x[i] @ s) / (np.linalg.norm(s) or 1.0)
            if days is not None:
                sim -= d * min(1.0, abs(days[i] - last[c]))
            if sim >= score:
                best, score = c, sim
        if best < 0:
            sums.append(np.zeros(x.shape[1], np.float32))
            last.append(0.0)
            best = len(sums) - 1
        sums[best] += x[i]
        if days is not None:
            last[best] = max(last[best], days[i])
        labels[i] = best
    return labels


def agglomerative(vecs: np.ndarray, t: float) -> list[int]:
    from sklearn.cluster import AgglomerativeClustering

    if len(vecs) < 2:
        return [0] * len(vecs)
    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=t
    )
    return list(model.fit_predict(vecs))


# --- digest-v1: the grouping digests used before stories (retrieval/digest.py at 1753173) ---
def _headline_terms(
    owners: np.ndarray, positions: np.ndarray, texts: list[str], ids: list[int]
) -> dict[int, set[str]]:
    """article id -> stemmed content words of its headline (or first sentence if untitled)."""
    out: dict[int, set[str]] = {}
    for owner, pos, text in zip(owners, positions, texts, strict=True):
        aid = int(owner)
        if pos <= 0 and aid not in out:  # rows are in reading order: title (-1) comes first
            out[aid] = set(content_stems(text))
    return {aid: out.get(aid, set()) for aid in ids}


def shared_names(a: set[str], b: set[str], idf: dict[str, float], rare: float) -> float:
    """IDF-weighted overlap of two term sets, relative to the smaller one; 0 unless they
    share at least one rare term (idf >= `rare`).

    Templated items (earnings tables, monthly sales) read alike to the embedding;
    it is the rare words two headlines share - the company, the country, the deal -
    that make them the same story.
    """
    shared = a & b
    if not shared or max(idf.get(t, 0.0) for t in shared) < rare:
        return 0.0
    weight = sum(idf.get(t, 0.0) for t in shared)
    return weight / min(sum(idf.get(t, 0.0) for t in a), sum(idf.get(t, 0.0) for t in b))


def group(
    ids: list[int],
    leads: dict[int, np.ndarray],
    threshold: float,
    terms: dict[int, set[str]] | None = None,
    min_shared: float = 0.0,
) -> list[list[int]]:
    """Greedy single-pass grouping: join the most similar story if close enough, else start one.

    Close enough = lead-vector cosine to the story's centroid >= `threshold` and, when
    `terms` are given, an IDF-weighted share of headline words with the story's first
    article >= `min_shared`.
    """
    idf: dict[str, float] = {}
    if terms:
        df: dict[str, int] = {}
        for words in terms.values():
            for t in words:
                df[t] = df.get(t, 0) + 1
        idf = {t: math.log(len(terms) / n) for t, n in df.items()}
    # "Rare" = in at most 1% of the window's headlines (and at least two of them).
    rare = math.log(len(terms) / max(2.0, 0.01 * len(terms))) if terms else 0.0
    groups: list[list[int]] = []
    story_terms: list[set[str]] = []
    dim = next((len(v) for v in leads.values()), 1)
    centroids = np.zeros((len(ids), dim), np.float32)  # one row per story, filled in order
    sums = np.zeros((len(ids), dim), np.float32)
    for aid in ids:
        vec = leads.get(aid)
        mine = terms.get(aid, set()) if terms else set()
        best = -1
        if vec is not None and groups:
            sims = centroids[: len(groups)] @ vec
            for g in np.argsort(-sims):
                if sims[g] < threshold:
                    break
                if not terms or shared_names(mine, story_terms[g], idf, rare) >= min_shared:
                    best = int(g)
                    break
        if best < 0:
            best = len(groups)
            groups.append([])
            story_terms.append(set(mine))
        groups[best].append(aid)
        if vec is not None:
            sums[best] += vec
            centroids[best] = sums[best] / (np.linalg.norm(sums[best]) or 1.0)
    return groups


GRID = {
    # threshold, name weight, text weight, day penalty, rare share, refine rounds
    "stories": list(
        itertools.product(
            (0.3, 0.4, 0.5), (0.2, 0.4), (0.0, 0.5), DAY_PENALTIES, (0.0, 0.02), (0, 2)
        )
    ),
    "tfidf-single-pass": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
    "embedding-agglomerative": [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6],
}


def daily(feats: list, params: Params) -> dict[int, int]:
    """article id -> story number, clustered a day at a time into the stories of the days
    before (what `assign_new` does after each day's ingest, stored stories passed in)."""
    by_day: dict[int, list] = defaultdict(list)
    for f in feats:
        by_day[math.floor(f.day)].append(f)
    stories: list = []
    labels: dict[int, int] = {}
    ids = itertools.count(1)
    for day in sorted(by_day):
        for s in stories:
            s.members = []  # stored: only this day's articles are new
        stories = cluster(by_day[day], stories, params)
        for s in stories:
            if s.id is None:
                s.id = next(ids)  # stored: it gets an id
            labels.update((a, s.id) for a in s.members)
    return labels


def quality(gold_dir: Path, work: Path) -> dict:
    """Every method's per-week B-cubed, with dates as published and to the day only."""
    articles = [json.loads(line) for line in (gold_dir / "articles.jsonl").open()]
    gold = {r["id"]: r["story"] for r in map(json.loads, (gold_dir / "gold.jsonl").open())}
    corpus = Corpus(load_settings(data_dir=work / "gold"))
    corpus.ingest([str(gold_dir / "articles.jsonl")], progress=False)
    store = corpus.store
    rows = store._db.execute("SELECT id, external_id, dated FROM articles").fetchall()
    ext = {aid: e for aid, e, _ in rows}
    dated = {aid: d for aid, _, d in rows}
    ids = sorted(ext, key=lambda a: (dated[a], a))
    feats = features(store, ids, dated)
    weeks = {
        ext[a]: "{}-W{:02d}".format(*datetime.fromisoformat(dated[a]).isocalendar()[:2])
        for a in ids
    }
    by_ext = {a["id"]: a for a in articles}
    texts = [by_ext[ext[a]]["title"] + ". " + by_ext[ext[a]]["body"] for a in ids]
    owners, positions, _, stexts = store.sentence_vectors(ids)
    terms = _headline_terms(owners, positions, stexts, ids)
    corpus.close()
    data = (ids, ext, feats, texts, terms, weeks, gold)
    results = {mode: methods(mode, *data) for mode in ("published", "day")}
    results["_weeks"] = {
        w: sum(1 for v in weeks.values() if v == w) for w in sorted(set(weeks.values()))
    }
    return results


def methods(
    mode: str,
    ids: list[int],
    ext: dict[int, str],
    feats: list,
    texts: list[str],
    terms: dict[int, set[str]],
    weeks: dict[str, str],
    gold: dict[str, str],
) -> dict:
    """Every method on the articles dated as published, or (`day`) at noon of their day.

    The roundups' three articles share one timestamp, unique to the roundup: grouping by
    timestamp alone scores F1 1.000. Feeds do not date one event's articles to the
    minute, so `day` is the measurement of what the content does.
    """
    if mode == "day":
        feats = [dataclasses.replace(f, day=math.floor(f.day) + 0.5) for f in feats]
    day_of = [f.day for f in feats]
    week_list = sorted(set(weeks.values()))
    scores: dict[str, dict] = defaultdict(dict)
    for key in GRID["stories"]:
        t, w, x, d, m, r = key
        params = Params(
            threshold=t, name_weight=w, text_weight=x, day_penalty=d, rare_share=m, refine_rounds=r
        )
        labels = {ext[a]: n for a, n in daily(feats, params).items()}
        scores["stories"][key] = per_week(labels, weeks, gold)
        once = cluster(feats, [], params)
        labels = {ext[a]: n for n, s in enumerate(once) for a in s.members}
        scores["stories-one-batch"][key] = per_week(labels, weeks, gold)
        if x == 0.0:  # the ablation: no whole-text TF-IDF
            scores["stories-no-text"][key] = scores["stories"][key]
        if r == 0:  # the ablation: the single pass alone, no moves
            scores["stories-single-pass"][key] = scores["stories"][key]
    for t in GRID["tfidf-single-pass"]:
        labels = tfidf_single_pass(texts, list(range(len(ids))), t)
        scores["tfidf-single-pass"][t] = per_week(
            {ext[a]: c for a, c in zip(ids, labels, strict=True)}, weeks, gold
        )
        for d in DAY_PENALTIES:  # the same day penalties as `stories`
            labels = tfidf_single_pass(texts, list(range(len(ids))), t, day_of, d)
            scores["tfidf-single-pass+time"][(t, d)] = per_week(
                {ext[a]: c for a, c in zip(ids, labels, strict=True)}, weeks, gold
            )
    leads = {f.id: f.lead for f in feats}
    for t in GRID["embedding-agglomerative"]:
        labels = {}
        for week in week_list:
            members = [a for a in ids if weeks[ext[a]] == week]
            for a, c in zip(
                members, agglomerative(np.array([leads[a] for a in members]), t), strict=True
            ):
                labels[ext[a]] = f"{week}/{c}"
        scores["embedding-agglomerative"][t] = per_week(labels, weeks, gold)
    groups = group(ids, leads, 0.75, terms, 0.35)
    v1 = {ext[a]: n for n, g in enumerate(groups) for a in g}
    scores["digest-v1"]["fixed"] = per_week(v1, weeks, gold)
    # Not a method: how much the dates alone say (the leak `day` takes away).
    when = {ext[f.id]: f.day for f in feats}
    scores["date-alone (a leak check)"]["fixed"] = per_week(when, weeks, gold)
    d = Params()
    dkey = (d.threshold, d.name_weight, d.text_weight, d.day_penalty, d.rare_share, d.refine_rounds)
    if dkey in scores["stories"]:
        scores["stories-defaults (chosen on all dev weeks)"]["defaults"] = scores["stories"][dkey]
    results: dict = {"_order": week_list}
    ranked = sorted(
        scores["stories"],
        key=lambda k: -statistics.mean(scores["stories"][k][w][2] for w in week_list),
    )
    results["_stories_all_weeks"] = [
        (str(k), statistics.mean(scores["stories"][k][w][2] for w in week_list)) for k in ranked
    ]
    for method, by_param in scores.items():
        chosen = loo(by_param, week_list)
        mean = [statistics.mean(v[1][k] for v in chosen.values()) for k in range(3)]
        results[method] = {
            "weeks": {
                w: {"param": str(p), "p": s[0], "r": s[1], "f1": s[2]}
                for w, (p, s) in chosen.items()
            },
            "mean": {"p": mean[0], "r": mean[1], "f1": mean[2]},
        }
    return results


def reuters_days(reuters: Path, n: int) -> list[RawArticle]:
    """`n` Reuters stories as title + first three lines of body."""
    out = []
    for f in sorted(reuters.glob("reut2-*.json")):
        for r in json.loads(f.read_text()):
            if r.get("title") and r.get("body"):
                lead = " ".join(r["body"].split("\n")[:4])
                out.append(RawArticle(r["title"], lead, f"reuters:{len(out)}", source="Reuters"))
                if len(out) == n:
                    return out
    return out


def speed(reuters: Path, work: Path, repeats: int) -> dict:
    items = reuters_days(reuters, 3000)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for i, item in enumerate(items):
        item.published = start + timedelta(days=i // 1000, seconds=(i % 1000) * 80)
    corpus = Corpus(load_settings(data_dir=work / "speed"))
    ingest(items[:2000], corpus.store, corpus.index, corpus.encoder, tagger=corpus.tagger)
    assign_new(corpus.store)
    ingest(items[2000:], corpus.store, corpus.index, corpus.encoder, tagger=corpus.tagger)
    corpus.close()
    db = work / "speed" / "briefbot.sqlite3"
    times = []
    for k in range(repeats):
        copy = work / f"copy{k}.sqlite3"
        shutil.copy(db, copy)
        store = Store(copy)
        store.count_articles()
        t = time.perf_counter()
        n = assign_new(store)
        times.append(time.perf_counter() - t)
        stories = store._db.execute(
            "SELECT count(DISTINCT story_id) FROM article_stories"
        ).fetchone()[0]
        store.close()
        copy.unlink()
    return {
        "new_articles": n,
        "stories_total": stories,
        "seconds": times,
        "median": statistics.median(times),
    }


def report(mode: str, q: dict, weeks: dict[str, int]) -> None:
    """Print one date mode's table: F1 (P, R) per week and method, then the means."""
    names = [m for m in q if not m.startswith("_")]
    print(f"\nDates {mode}: B-cubed per week (parameters chosen on the other weeks):")
    print("week      n  " + "  ".join(f"{m[:22]:>22}" for m in names))
    for w in weeks:
        cells = ["{f1:.3f} (p{p:.2f} r{r:.2f})".format(**q[m]["weeks"][w]) for m in names]
        print(f"{w} {weeks[w]:3d}  " + "  ".join(f"{c:>22}" for c in cells))
    for m in names:
        mean = q[m]["mean"]
        print(f"mean {m}: P {mean['p']:.3f} R {mean['r']:.3f} F1 {mean['f1']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", type=Path, required=True)
    ap.add_argument("--reuters", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/out/stories.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = {"quality": quality(args.gold, work)}
        q = result["quality"]
        weeks = q["_weeks"]
        for mode in ("published", "day"):
            report(mode, q[mode], weeks)
        if args.reuters:
            result["speed"] = speed(args.reuters, work, args.repeats)
            s = result["speed"]
            print(
                f"assign_new, a day of {s['new_articles']} new articles on 2,000 assigned:"
                f" median {s['median']:.2f}s of {[round(x, 2) for x in s['seconds']]}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
