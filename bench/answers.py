"""Answers to real questions (issue 14): does the answer shown contain the answer?

RealTimeQA dev kit (`realtimeqa-dev/`): journalists' news-quiz questions over
the articles they were written from. The articles are ingested; every
answerable question and every off-corpus question is asked. Reported for
`briefbot ask` and for three top-3-sentence baselines computed in the same run
on the same sentences and vectors (BM25 with bm25s, dense exact search, and
their reciprocal-rank fusion):

- article hit@1 / hit@5: an acceptable article among the first k ranked;
- containment: a gold answer, lower-cased with punctuation as spaces, appears
  as whole words in the sentences shown (an abstention shows none);
- words per answer (answered questions only);
- abstention on answerable and on off-corpus questions. The baseline cut is a
  single threshold on the top dense sentence score, set so that 95% of the
  answerable questions are answered, applied to the off-corpus ones.

    python bench/answers.py                      # dev kit in ../shared/data
    python bench/answers.py --data-dir /tmp/rtqa  # reuse an ingested data dir
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from data import DEFAULT_DATA

from retrieval import Corpus, load_settings

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)


def normalise(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def contains(shown: str, answers: list[str]) -> bool:
    hay = f" {normalise(shown)} "
    return any(f" {normalise(a)} " in hay for a in answers if normalise(a))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def quiz_date(question: dict) -> datetime | None:
    try:
        return datetime.strptime(question["date"], "%Y/%m/%d").replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return None


class Sentences:
    """Every body sentence of the store with its vector and article, read straight from SQLite
    (the baselines share the pipeline's sentences and vectors, so only ranking differs)."""

    def __init__(self, db_path: Path) -> None:
        db = sqlite3.connect(db_path)
        rows = db.execute(
            "SELECT s.text, s.vector, a.external_id FROM sentences s"
            " JOIN articles a ON a.id = s.article_id WHERE s.position >= 0 ORDER BY s.id"
        ).fetchall()
        db.close()
        self.texts = [r[0] for r in rows]
        self.articles = [r[2] for r in rows]
        self.vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
            len(rows), -1
        )

    def bm25(self):
        import bm25s

        retriever = bm25s.BM25()
        tokens = bm25s.tokenize(self.texts, stopwords="en", show_progress=False)
        retriever.index(tokens, show_progress=False)
        return retriever


def rrf(*rankings: list[int], k: int = 60) -> list[int]:
    score: dict[int, float] = {}
    for ranks in rankings:
        for r, doc in enumerate(ranks):
            score[doc] = score.get(doc, 0.0) + 1.0 / (k + r + 1)
    return sorted(score, key=lambda d: -score[d])


def baseline_rankings(
    sents: Sentences, questions: list[str], qvecs: np.ndarray
) -> tuple[dict[str, list[list[int]]], np.ndarray]:
    """Top sentence indices per question for each baseline, and the top dense score."""
    import bm25s

    retriever = sents.bm25()
    tokens = bm25s.tokenize(questions, stopwords="en", show_progress=False)
    docs, _ = retriever.retrieve(tokens, k=50, show_progress=False)
    lexical = [[int(j) for j in row] for row in docs]
    sims = qvecs @ sents.vectors.T
    dense = [list(np.argsort(-row)[:50]) for row in sims]
    fused = [rrf(a, b) for a, b in zip(lexical, dense, strict=True)]
    return {"bm25 top-3": lexical, "dense top-3": dense, "fused top-3": fused}, sims.max(axis=1)


def score_baseline(
    sents: Sentences, ranked: list[list[int]], questions: list[dict], k: int = 3
) -> dict[str, float]:
    hit1, hit5, cont, words = [], [], [], []
    for q, ranks in zip(questions, ranked, strict=True):
        top = [int(i) for i in ranks[:k]]
        shown = " ".join(sents.texts[i] for i in top)
        arts = list(dict.fromkeys(sents.articles[i] for i in ranks))
        ok = set(q.get("acceptable_articles") or [q.get("gold_article")])
        hit1.append(bool(arts[:1]) and arts[0] in ok)
        hit5.append(any(a in ok for a in arts[:5]))
        cont.append(contains(shown, q["answers"]))
        words.append(len(shown.split()))
    return {
        "hit@1": float(np.mean(hit1)),
        "hit@5": float(np.mean(hit5)),
        "containment": float(np.mean(cont)),
        "words": float(np.mean(words)),
        "abstained": 0.0,
    }


def ask_all(corpus: Corpus, questions: list[dict], as_of: bool) -> list[dict]:
    import inspect

    takes_now = "now" in inspect.signature(corpus.ask).parameters
    out = []
    for q in questions:
        kwargs = {"now": quiz_date(q)} if (as_of and takes_now) else {}
        t = time.perf_counter()
        result = corpus.ask(q["question"], limit=5, **kwargs)
        elapsed = time.perf_counter() - t
        shown = " ".join(s.text for s in result.answer.sentences)
        out.append(
            {
                "id": q["id"],
                "abstained": result.answer.abstained,
                "shown": shown,
                "articles": [r.article.external_id for r in result.articles],
                "relevance": result.answer.relevance,
                "seconds": elapsed,
            }
        )
    return out


def score_ours(results: list[dict], questions: list[dict]) -> dict[str, float]:
    hit1, hit5, cont, words, abst = [], [], [], [], []
    for q, r in zip(questions, results, strict=True):
        ok = set(q.get("acceptable_articles") or [q.get("gold_article")])
        hit1.append(bool(r["articles"]) and r["articles"][0] in ok)
        hit5.append(any(a in ok for a in r["articles"][:5]))
        cont.append(not r["abstained"] and contains(r["shown"], q["answers"]))
        if not r["abstained"]:
            words.append(len(r["shown"].split()))
        abst.append(r["abstained"])
    return {
        "hit@1": float(np.mean(hit1)),
        "hit@5": float(np.mean(hit5)),
        "containment": float(np.mean(cont)),
        "words": float(np.mean(words)) if words else 0.0,
        "abstained": float(np.mean(abst)),
    }


def open_corpus(args: argparse.Namespace) -> Corpus:
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="briefbot-rtqa-")) / "data"
    settings = load_settings(extra=args.config, data_dir=data_dir)
    corpus = Corpus(settings)
    if not corpus.store.count_articles():
        t = time.perf_counter()
        report = corpus.ingest([str(args.data / "realtimeqa-dev" / "articles.jsonl")])
        print(
            f"ingested {report.added} articles in {time.perf_counter() - t:.1f}s", file=sys.stderr
        )
    return corpus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--data-dir", type=Path, help="briefbot data dir (ingested if empty)")
    ap.add_argument("--config", type=Path, help="extra briefbot config TOML")
    ap.add_argument(
        "--today",
        action="store_true",
        help="ask as of today instead of as of each quiz's date (when ask takes `now`)",
    )
    ap.add_argument("--out", type=Path, default=Path("bench/out/answers.json"))
    ap.add_argument("--show", type=int, default=0, help="print N failed answers to read")
    args = ap.parse_args()

    kit = args.data / "realtimeqa-dev"
    answerable = read_jsonl(kit / "questions.jsonl")
    offcorpus = read_jsonl(kit / "offcorpus.jsonl")
    corpus = open_corpus(args)
    on = ask_all(corpus, answerable, not args.today)
    off = ask_all(corpus, offcorpus, not args.today)

    sents = Sentences(corpus.store.path)
    texts = [q["question"] for q in answerable + offcorpus]
    qvecs = corpus.encoder.encode(texts)
    rankings, top_dense = baseline_rankings(sents, texts, qvecs)
    n = len(answerable)
    table = {"briefbot ask": score_ours(on, answerable)}
    for name, ranked in rankings.items():
        table[name] = score_baseline(sents, ranked[:n], answerable)
    off_abstained = float(np.mean([r["abstained"] for r in off]))
    cut = float(np.quantile(top_dense[:n], 0.05))  # answers 95% of the answerable
    cut_off_abstained = float(np.mean(top_dense[n:] < cut))
    cut_on_answered = float(np.mean(top_dense[:n] >= cut))

    print(f"\n{len(answerable)} answerable, {len(offcorpus)} off-corpus questions")
    print(f"{'method':<16}{'hit@1':>7}{'hit@5':>7}{'contain':>9}{'words':>7}{'abstain':>9}")
    for name, m in table.items():
        print(
            f"{name:<16}{m['hit@1']:>7.3f}{m['hit@5']:>7.3f}{m['containment']:>9.3f}"
            f"{m['words']:>7.1f}{m['abstained']:>9.3f}"
        )
    ours = table["briefbot ask"]
    print(
        f"\noff-corpus abstained: briefbot {off_abstained:.3f} (answering"
        f" {1 - ours['abstained']:.3f} of answerable);"
        f" top-dense cut {cut:.3f}: {cut_off_abstained:.3f} (answering {cut_on_answered:.3f})"
    )
    latencies = [r["seconds"] for r in on + off]
    print(f"ask p50 {1000 * statistics.median(latencies):.1f} ms")
    if args.show:
        misses = [
            (q, r)
            for q, r in zip(answerable, on, strict=True)
            if not contains(r["shown"], q["answers"])
        ]
        for q, r in misses[: args.show]:
            print(f"\nQ {q['question']}\n  gold {q['answers']}  abstained={r['abstained']}")
            print(f"  shown: {r['shown'][:400]}")
    result = {
        "answerable": len(answerable),
        "offcorpus": len(offcorpus),
        "table": table,
        "offcorpus_abstained": off_abstained,
        "dense_cut": {
            "threshold": cut,
            "answerable_answered": cut_on_answered,
            "offcorpus_abstained": cut_off_abstained,
        },
        "ask_ms_p50": 1000 * statistics.median(latencies),
        "per_question": {"answerable": on, "offcorpus": off},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
