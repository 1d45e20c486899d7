"""Fit the answer-sentence model (`retrieval.selection.SENTENCE_WEIGHTS`) on the dev kit.

Every fit sentence of the best article of each answerable RealTimeQA question
is a row of `SENTENCE_FEATURES`, labelled by whether it holds a gold answer. A
logistic model is fitted with questions split into 5 folds: each fold's answers
are chosen (`retrieval.selection.best_set`, the shipped word budget) with weights
fitted on the other four, so the containment printed is cross-validated. Then the
weights fitted on all questions are printed to paste into `retrieval/selection.py`.

`--seeds N` repeats the 5-fold split N ways (the spread tells signal from one split's
luck). `--entities` adds `bench/entities.py's ENTITY_FEATURES` (spaCy named-entity
answer types; `pip install '.[entities]'`) and prints, split by split, the shipped
features against the same plus the entity columns, with the CPU the tagging costs.

    python bench/fit_sentences.py --data-dir /tmp/rtqa   # ingested if empty
    python bench/fit_sentences.py --data-dir /tmp/rtqa --entities --l2 2 --seeds 10
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import entities
from answers import contains, read_jsonl
from data import DEFAULT_DATA

from retrieval import Corpus, Filters, load_settings
from retrieval.question import analyse
from retrieval.search import Retrieval, retrieve
from retrieval.selection import (
    SENTENCE_FEATURES,
    best_set,
    candidate_pool,
    same_story_era,
    sentence_chances,
    sentence_features,
)


def question_rows(
    r: Retrieval, answers: list[str], years: dict[int, int], articles: int = 1, ents: bool = False
):
    """(pool, features, labels) of one question's candidate sentences; with `ents`, the
    ENTITY_FEATURES columns follow SENTENCE_FEATURES."""
    question = analyse(r.question)
    candidates = same_story_era(r.ranked[:articles], years, question)
    pool = candidate_pool(r.sentences, candidates)
    width = len(SENTENCE_FEATURES) + (len(entities.ENTITY_FEATURES) if ents else 0)
    if not pool:
        return pool, np.zeros((0, width)), np.zeros(0, bool)
    X = sentence_features(r, question, pool)
    if ents:
        texts = [r.sentences.texts[i] for i in pool]
        start = time.process_time()
        tagged = entities.tag(texts)
        CPU["tagging"] += time.process_time() - start
        CPU["sentences tagged"] += len(texts)
        X = np.hstack([X, entities.entity_features(texts, tagged, question)])
    y = np.array([contains(r.sentences.texts[i], answers) for i in pool])
    return pool, X, y


# Process CPU seconds of the parts timed in one run (tagging vs the ask's retrieval).
CPU = {"retrieval": 0.0, "tagging": 0.0, "sentences tagged": 0}

# The ridge penalty: the model has 20+ weights and ~230 questions to fit them on.
L2 = 5.0


def fit(items, l2: float = L2) -> np.ndarray:
    """Weights of a per-question softmax over candidate sentences (conditional logit):
    it maximises the chance given to the sentences holding the answer *within each
    question*, which is what choosing an answer needs (a pointwise fit also learns which
    questions are easy). No bias: it cancels in a softmax."""
    from scipy.optimize import minimize

    used = [(X, y) for *_, X, y in items if y.any()]
    allX = np.vstack([X for X, _ in used])
    mean, scale = allX.mean(axis=0), allX.std(axis=0) + 1e-9
    groups = [((X - mean) / scale, y) for X, y in used]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = l2 * float(w @ w), 2 * l2 * w
        for Z, y in groups:
            s = Z @ w
            s -= s.max()
            e = np.exp(s)
            p = e / e.sum()
            pos = p[y].sum()
            total -= float(np.log(pos))
            grad -= (Z[y] * (p[y] / pos)[:, None]).sum(axis=0) - p @ Z
        return total, grad

    return minimize(loss, np.zeros(allX.shape[1]), jac=True, method="L-BFGS-B").x / scale


def cross_validate(
    items, max_words: int, folds: int = 5, l2: float = L2, seed: int = 0
) -> dict[str, float]:
    """items: [(retrieval, answers, pool, X, y)]. Containment and words of the answers
    chosen with weights fitted on the other folds (questions split by `seed`)."""
    fold = np.random.default_rng(seed).permutation(len(items)) % folds
    contained, shown_words, top1 = [], [], []
    for f in range(folds):
        w = fit([it for it, g in zip(items, fold, strict=True) if g != f], l2)
        for it, g in zip(items, fold, strict=True):
            if g != f:
                continue
            r, answers, pool, X, y = it
            if not pool:
                contained.append(False)
                continue
            chance = sentence_chances(X, w)
            chosen = best_set(r.sentences, pool, chance, max_sentences=5, max_words=max_words)
            shown = " ".join(r.sentences.texts[i] for i in sorted(chosen))
            contained.append(contains(shown, answers))
            shown_words.append(len(shown.split()))
            top1.append(bool(y[int(np.argmax(chance))]))
    return {
        "containment": float(np.mean(contained)),
        "words": float(np.mean(shown_words)),
        "top sentence holds it": float(np.mean(top1)),
    }


def _spread(values: list[float]) -> str:
    return f"min {min(values):.3f}, max {max(values):.3f} over {len(values)} splits"


def report_paired(items, max_words: int, l2: float, seeds: int) -> None:
    """Cross-validated figures without the entity columns (the shipped ridge L2) and with
    them (ridge `l2`), on the same splits: the difference per split tells signal from the
    luck of one split."""
    base_items = [(*it[:3], it[3][:, : len(SENTENCE_FEATURES)], it[4]) for it in items]
    rows: dict[str, list[tuple[float, float]]] = {}
    for seed in range(seeds):
        base = cross_validate(base_items, max_words, l2=L2, seed=seed)
        with_ents = cross_validate(items, max_words, l2=l2, seed=seed)
        for name in base:
            rows.setdefault(name, []).append((base[name], with_ents[name]))
    for name, pairs in rows.items():
        b, e = (np.array(v) for v in zip(*pairs, strict=True))
        gain = e - b
        print(
            f"5-fold cross-validated {name}: without entities {b.mean():.3f},"
            f" with {e.mean():.3f}; gain {gain.mean():+.3f}"
            f" (min {gain.min():+.3f}, max {gain.max():+.3f} over {seeds} splits)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--data-dir", type=Path, required=True, help="data dir (ingested if empty)")
    ap.add_argument("--max-words", type=int, default=65, help="as [answer] max_words")
    ap.add_argument("--l2", type=float, default=L2, help="ridge penalty of the fit")
    ap.add_argument(
        "--entities",
        action="store_true",
        help="compare with bench/entities.py's ENTITY_FEATURES added (needs spaCy's model)",
    )
    ap.add_argument("--seeds", type=int, default=1, help="repeat the 5-fold split this many ways")
    args = ap.parse_args()

    kit = args.data / "realtimeqa-dev"
    corpus = Corpus(load_settings(data_dir=args.data_dir))
    if not corpus.store.count_articles():
        corpus.ingest([str(kit / "articles.jsonl")])
    pub = dict(corpus.store._db.execute("SELECT id, published FROM articles").fetchall())
    years = {a: int(p[:4]) for a, p in pub.items() if p and p[:4].isdigit()}
    encoder = corpus.encoder
    items = []
    if args.entities:
        entities.tag(["Warm-up: the model loads once, as it would in a serving process."])
    for q in read_jsonl(kit / "questions.jsonl"):
        start = time.process_time()
        r = retrieve(
            q["question"], lambda t: encoder.encode([t])[0], corpus.store, corpus.index, Filters()
        )
        CPU["retrieval"] += time.process_time() - start
        items.append((r, q["answers"], *question_rows(r, q["answers"], years, ents=args.entities)))
    if args.entities:
        n = len(items)
        print(
            f"CPU per question: retrieval {1000 * CPU['retrieval'] / n:.1f} ms, tagging its"
            f" pool {1000 * CPU['tagging'] / n:.1f} ms ({CPU['sentences tagged'] / n:.1f}"
            f" sentences, {1000 * CPU['tagging'] / max(CPU['sentences tagged'], 1):.2f} ms each)"
        )
        report_paired(items, args.max_words, args.l2, args.seeds)
    else:
        runs = [
            cross_validate(items, args.max_words, l2=args.l2, seed=s) for s in range(args.seeds)
        ]
        for name in runs[0]:
            values = [run[name] for run in runs]
            print(f"5-fold cross-validated {name}: {np.mean(values):.3f} ({_spread(values)})")
    w = fit(items, args.l2)
    print("\nWEIGHTS = (")
    print("    " + ", ".join(f"{v:.3f}" for v in w) + ",")
    print(")  # fmt: skip")
    names = SENTENCE_FEATURES + (entities.ENTITY_FEATURES if args.entities else ())
    for name, v in zip(names, w, strict=True):
        print(f"  {name:<18}{v:+.3f}")


if __name__ == "__main__":
    main()
