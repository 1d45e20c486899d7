"""Fit the answer-confidence model (`retrieval.answer.CONFIDENCE_WEIGHTS`) on two corpora.

Positives are questions the corpus answers; negatives are questions it cannot:

- RealTimeQA dev kit: answerable quiz questions (+), off-corpus ones (-), and each
  answerable question again with its acceptable articles withheld (-);
- Reuters-21578: story titles asked of their bodies (+), and BBC sport, entertainment
  and tech headlines asked of the same corpus (-).

Two corpora of different eras and styles keep the model from learning one corpus's
shape (article length, headline-only items). Prints the weights to paste into
`retrieval/answer.py`, the 5-fold cross-validated abstention at the cut that answers
95% of the answerable questions of each corpus, and the confidence of that cut.

    python bench/fit_confidence.py --rtqa-dir /tmp/rtqa/data --reuters-dir /tmp/reut/data
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from answers import quiz_date, read_jsonl
from data import DEFAULT_DATA, bbc_headline, bbc_pairs, sentence_case
from retrieval_bench import pick_stories

from retrieval import Corpus, Filters, load_settings
from retrieval.analysis import query_terms
from retrieval.answer import CONFIDENCE_FEATURES, confidence_features
from retrieval.question import analyse
from retrieval.scope import question_countries, weigh
from retrieval.search import RERANKED, Retrieval, retrieve
from retrieval.timeframe import parse_published, reorder, timeframe


def features(
    corpus: Corpus,
    question: str,
    withheld: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> list[float]:
    """The confidence features `Corpus.ask` computes, its reranking included: by the
    question's countries and, asked as of `now` (the quiz's date), by its time words."""
    encoder = corpus.encoder
    r = retrieve(question, lambda t: encoder.encode([t])[0], corpus.store, corpus.index, Filters())
    if withheld:
        kept = [c for c in r.ranked if c.article_id not in withheld]
        top_lex = max((c.lexical for c in kept), default=0.0) or 1.0
        kept = [dataclasses.replace(c, lexical=c.lexical / top_lex) for c in kept]
        r = Retrieval(r.question, kept, r.sentences)
    if not r.ranked:
        return [0.0] * len(CONFIDENCE_FEATURES)
    asked = analyse(question)
    records = corpus.store.articles([c.article_id for c in r.ranked[:RERANKED]])
    named = question_countries(asked)
    if named:
        r.ranked = weigh(r.ranked, {a.id: a.countries for a in records.values()}, named)
    reference = now or corpus._newest()
    frame = timeframe(asked, reference)
    published = {a.id: w for a in records.values() if (w := parse_published(a.published))}
    r.ranked, inside = reorder(r.ranked, published, frame, reference, asked.history)
    return confidence_features(r, asked, set(query_terms(question)), inside)


def open_corpus(data_dir: Path, sources: list[str]) -> Corpus:
    corpus = Corpus(load_settings(data_dir=data_dir))
    if not corpus.store.count_articles():
        corpus.ingest(sources)
    return corpus


def rtqa_rows(args: argparse.Namespace) -> tuple[list, list, list]:
    kit = args.data / "realtimeqa-dev"
    corpus = open_corpus(args.rtqa_dir, [str(kit / "articles.jsonl")])
    ids = dict(corpus.store._db.execute("SELECT external_id, id FROM articles").fetchall())
    X, y, kind = [], [], []
    for q in read_jsonl(kit / "questions.jsonl"):
        X.append(features(corpus, q["question"], now=quiz_date(q)))
        y.append(1)
        kind.append("rtqa+")
        held = frozenset(ids[a] for a in q["acceptable_articles"] if a in ids)
        X.append(features(corpus, q["question"], held, quiz_date(q)))
        y.append(0)
        kind.append("rtqa-withheld")
    for q in read_jsonl(kit / "offcorpus.jsonl"):
        X.append(features(corpus, q["question"], now=quiz_date(q)))
        y.append(0)
        kind.append("rtqa-off")
    return X, y, kind


def reuters_rows(args: argparse.Namespace) -> tuple[list, list, list]:
    stories = pick_stories(args.data / "reuters21578-dev", range(7, 14), args.stories)
    export = args.reuters_dir.parent / "reuters-bodies.jsonl"
    if not export.exists():
        import json

        export.parent.mkdir(parents=True, exist_ok=True)
        with export.open("w") as fh:
            for s in stories:
                fh.write(json.dumps({"id": s["id"], "body": s["body"], "date": s["date"]}) + "\n")
    corpus = open_corpus(args.reuters_dir, [str(export)])
    X, y, kind = [], [], []
    for s in stories[: args.questions]:
        X.append(features(corpus, sentence_case(s["title"])))
        y.append(1)
        kind.append("reuters+")
    off = [
        bbc_headline(p["text"])
        for p in bbc_pairs(args.data / "bbc-news-summary-dev", ("sport", "entertainment", "tech"))
    ]
    rng = np.random.default_rng(0)
    for i in rng.permutation(len(off))[: args.questions]:
        X.append(features(corpus, off[i]))
        y.append(0)
        kind.append("reuters-off")
    return X, y, kind


def report(scores: np.ndarray, kind: np.ndarray) -> dict[str, float]:
    """Abstention per kind of negative at the cut answering 95% of each corpus's positives."""
    out = {}
    for corpus in ("rtqa", "reuters"):
        cut = np.quantile(scores[kind == f"{corpus}+"], 0.05)
        for k in sorted(set(kind)):
            if k.startswith(corpus) and not k.endswith("+"):
                out[f"{k} abstained"] = float(np.mean(scores[kind == k] < cut))
        out[f"{corpus} cut"] = float(cut)
    return out


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--rtqa-dir", type=Path, required=True, help="data dir (ingested if empty)")
    ap.add_argument("--reuters-dir", type=Path, required=True, help="data dir (ingested if empty)")
    ap.add_argument("--stories", type=int, default=1500, help="Reuters stories in the corpus")
    ap.add_argument("--questions", type=int, default=400, help="Reuters and BBC questions each")
    args = ap.parse_args()

    parts = [rtqa_rows(args), reuters_rows(args)]
    X = np.array([row for p in parts for row in p[0]])
    y = np.array([v for p in parts for v in p[1]])
    kind = np.array([k for p in parts for k in p[2]])
    folds = np.random.default_rng(0).permutation(len(y)) % 5
    scores = np.zeros(len(y))
    for f in range(5):
        model = LogisticRegression(max_iter=5000, class_weight="balanced")
        model.fit(X[folds != f], y[folds != f])
        scores[folds == f] = model.predict_proba(X[folds == f])[:, 1]
    single = X[:, CONFIDENCE_FEATURES.index("best_sim")]
    print("5-fold cross-validated, cut answering 95% of each corpus's answerable questions:")
    for name, value in report(scores, kind).items():
        print(f"  {name:<28}{value:.3f}")
    print("the same with one cut on the best sentence similarity:")
    for name, value in report(single, kind).items():
        print(f"  {name:<28}{value:.3f}")
    model = LogisticRegression(max_iter=5000, class_weight="balanced").fit(X, y)
    weights = ", ".join(f"{w:.3f}" for w in model.coef_[0])
    print(f"\nCONFIDENCE_WEIGHTS = ({weights})\nCONFIDENCE_BIAS = {model.intercept_[0]:.3f}")
    print("\none cut for both corpora (cross-validated scores): answered / abstained")
    for cut in np.arange(0.20, 0.50, 0.02):
        rates = [
            f"{k} {np.mean((scores[kind == k] >= cut) == k.endswith('+')):.3f}"
            for k in ("rtqa+", "rtqa-off", "rtqa-withheld", "reuters+", "reuters-off")
        ]
        print(f"  {cut:.2f}  " + "  ".join(rates))


if __name__ == "__main__":
    main()
