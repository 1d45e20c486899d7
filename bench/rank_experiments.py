"""Ranker experiments over the answer shortlist (issue 14): learners, objectives,
cheap lexical features and set-selection rules for the answer-sentence model.

Reuses `bench/fit_sentences.py`'s rows (every fit sentence of each answerable
question's best article, labelled by whether it holds a gold answer) and its
folds (5-fold by question), repeated over several fold seeds, so each variant's
answer containment is cross-validated and its spread across seeds is visible.
Variants are compared to the shipped learner (a per-question softmax over the
20 `SENTENCE_FEATURES`) on the same folds, paired by seed.

    python bench/rank_experiments.py --data-dir /tmp/rtqa   # ingested if empty
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from answers import contains, read_jsonl
from data import DEFAULT_DATA
from fit_sentences import fit, question_rows

from retrieval import Corpus, Filters, load_settings
from retrieval.analysis import STOPWORDS, stem
from retrieval.question import analyse
from retrieval.search import Retrieval, retrieve
from retrieval.selection import (
    SENTENCE_FEATURES,
    best_set,
    candidate_pool,
    rows,
    sentence_chances,
    sentence_features,
)
from retrieval.text import words

EXTRA_FEATURES = (
    "bm25",
    "bm25_rank",
    "idf_cover",
    "span",
    "sim_rank",
    "title",
    "dist_best",
)

Item = tuple  # (retrieval, answers, pool, X, y)
Scorer = Callable[[np.ndarray], np.ndarray]  # features -> chances over one pool


# ---------------------------------------------------------------- extra features
def _content(tokens: list[str]) -> list[str]:
    return [stem(t) for t in tokens if t not in STOPWORDS and (len(t) > 1 or t.isdigit())]


def _longest_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of consecutive tokens `a` and `b` share."""
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def extra_features(r: Retrieval, pool: list[int]) -> np.ndarray:
    """One row of EXTRA_FEATURES per pool sentence."""
    table = r.sentences
    q_all = [stem(t) for t in words(r.question)]
    q = set(_content(words(r.question)))
    out = np.zeros((len(pool), len(EXTRA_FEATURES)))
    if not pool or not q:
        return out
    # Document frequencies over every sentence retrieved (the question's neighbourhood).
    sent_stems = [set(_content(words(t))) for t in table.texts]
    n = len(sent_stems)
    df = {w: sum(w in s for s in sent_stems) for w in q}
    idf = {w: np.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) for w in q}
    by_article: dict[int, list[int]] = {}
    for row, i in enumerate(pool):
        by_article.setdefault(int(table.owners[i]), []).append(row)
    for aid, prow in by_article.items():
        span = rows(table, aid)
        body = [i for i in span if table.positions[i] >= 0]
        title = next(
            (set(_content(words(table.texts[i]))) for i in span if table.positions[i] < 0), set()
        )
        toks = {i: _content(words(table.texts[i])) for i in body}
        avg = statistics.fmean(len(t) for t in toks.values()) or 1.0
        adf = {w: sum(w in set(t) for t in toks.values()) for w in q}
        aidf = {w: np.log(1 + (len(body) - adf[w] + 0.5) / (adf[w] + 0.5)) for w in q}
        idxs = [pool[k] for k in prow]
        bm = []
        for i in idxs:
            t = toks.get(i) or _content(words(table.texts[i]))
            tf = {w: t.count(w) for w in q}
            norm = 1.2 * (0.25 + 0.75 * len(t) / avg)
            bm.append(sum(aidf[w] * tf[w] * 2.2 / (tf[w] + norm) for w in q if tf[w]))
        bm = np.asarray(bm)
        sims = np.asarray([float(table.sims[i]) for i in idxs])
        sim_rank = np.argsort(np.argsort(-sims))
        bm_rank = np.argsort(np.argsort(-bm))
        best_pos = int(table.positions[idxs[int(np.argmax(sims))]])
        total_idf = sum(idf.values())
        for k, row in enumerate(prow):
            i = idxs[k]
            t = set(toks.get(i) or _content(words(table.texts[i])))
            out[row] = (
                bm[k] / bm.max() if bm.max() > 0 else 0.0,
                1.0 / (1 + bm_rank[k]),
                sum(idf[w] for w in q & t) / total_idf,
                min(_longest_run(q_all, [stem(x) for x in words(table.texts[i])]), 6) / 6,
                1.0 / (1 + sim_rank[k]),
                len(title & t) / len(title) if title else 0.0,
                min(abs(int(table.positions[i]) - best_pos), 6) / 6,
            )
    return out


# ---------------------------------------------------------------- learners
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def clogit(l2: float = 5.0, temperature: float = 1.0):
    """The shipped learner: a per-question softmax (conditional logit), ridge `l2`."""

    def train(items: list[Item]) -> Scorer:
        w = fit(items, l2)
        return lambda X: sentence_chances(X / temperature, w)

    return train


def pairwise(c: float = 0.1):
    """Pairwise logistic on gold-minus-other feature differences within each question,
    every question weighted alike (a RankNet-style linear ranker)."""
    from sklearn.linear_model import LogisticRegression

    def train(items: list[Item]) -> Scorer:
        used = [(X, y) for *_, X, y in items if y.any() and not y.all()]
        allX = np.vstack([X for X, _ in used])
        mean, scale = allX.mean(axis=0), allX.std(axis=0) + 1e-9
        diffs, weights = [], []
        for X, y in used:
            Z = (X - mean) / scale
            d = (Z[y][:, None, :] - Z[~y][None, :, :]).reshape(-1, Z.shape[1])
            diffs.append(d)
            weights.append(np.full(len(d), 1.0 / len(d)))
        D = np.vstack(diffs)
        W = np.concatenate(weights)
        model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000)
        model.fit(
            np.vstack([D, -D]), np.r_[np.ones(len(D)), np.zeros(len(D))], sample_weight=np.r_[W, W]
        )
        w = model.coef_[0] / scale
        return lambda X: _softmax(X @ w)

    return train


def _relative(X: np.ndarray) -> np.ndarray:
    """Each feature and its gap to the pool's best (trees cannot subtract)."""
    return np.hstack([X, X - X.max(axis=0)])


def boosted(depth: int = 3, iters: int = 100, rate: float = 0.05, leaf: int = 40):
    """A small pointwise gradient-boosted classifier (sklearn), strongly regularised."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    def train(items: list[Item]) -> Scorer:
        used = [(X, y) for *_, X, y in items if len(y)]
        model = HistGradientBoostingClassifier(
            max_depth=depth,
            max_iter=iters,
            learning_rate=rate,
            min_samples_leaf=leaf,
            l2_regularization=1.0,
            random_state=0,
        )
        model.fit(np.vstack([_relative(X) for X, _ in used]), np.concatenate([y for _, y in used]))

        def score(X: np.ndarray) -> np.ndarray:
            p = np.clip(model.predict_proba(_relative(X))[:, 1], 1e-6, 1 - 1e-6)
            return _softmax(np.log(p / (1 - p)))

        return score

    return train


def lambdamart(leaves: int = 7, iters: int = 100, rate: float = 0.05, leaf: int = 40):
    """LightGBM's lambdarank over each question's sentences (if lightgbm is installed)."""
    import lightgbm

    def train(items: list[Item]) -> Scorer:
        used = [(X, y) for *_, X, y in items if y.any()]
        model = lightgbm.LGBMRanker(
            objective="lambdarank",
            n_estimators=iters,
            learning_rate=rate,
            num_leaves=leaves,
            min_child_samples=leaf,
            reg_lambda=1.0,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=0,
            verbose=-1,
            n_jobs=1,
        )
        model.fit(
            np.vstack([_relative(X) for X, _ in used]),
            np.concatenate([y.astype(int) for _, y in used]),
            group=[len(y) for _, y in used],
        )
        return lambda X: _softmax(model.predict(_relative(X)))

    return train


# ---------------------------------------------------------------- set selection
def select_best_set(r: Retrieval, pool: list[int], chance: np.ndarray, max_words: int):
    """The shipped rule: the set of the shortlist with the most chance under the budget."""
    return best_set(r.sentences, pool, chance, max_sentences=5, max_words=max_words)


def select_greedy(r: Retrieval, pool: list[int], chance: np.ndarray, max_words: int):
    """Top-k by chance: add the likeliest sentences while they fit the budget."""
    chosen, n = {}, 0
    for j in np.argsort(-chance)[:10]:
        cost = len(r.sentences.texts[pool[j]].split())
        if (not chosen or n + cost <= max_words) and (chosen or cost <= max_words):
            chosen[pool[j]] = float(chance[j])
            n += cost
        if len(chosen) == 4:
            break
    if not chosen:
        chosen[pool[int(np.argmax(chance))]] = float(chance.max())
    return chosen


def select_first_then(r: Retrieval, pool: list[int], chance: np.ndarray, max_words: int):
    """The likeliest sentence always, then the best complement within the budget."""
    order = list(np.argsort(-chance)[:10])
    texts = r.sentences.texts
    first = order[0]
    room = max_words - len(texts[pool[first]].split())
    rest = [j for j in order[1:]]
    best, best_key = (), (0.0, 0)
    for size in range(1, 4):
        for combo in itertools.combinations(rest, size):
            n = sum(len(texts[pool[j]].split()) for j in combo)
            if n <= room:
                key = (round(float(chance[list(combo)].sum()), 6), -n)
                if key > best_key:
                    best, best_key = combo, key
    return {pool[j]: float(chance[j]) for j in (first, *best)}


SELECTORS = {"best_set": select_best_set, "greedy": select_greedy, "first+": select_first_then}


# ---------------------------------------------------------------- evaluation
def cross_validate(
    items: list[Item],
    train,
    seed: int,
    max_words: int,
    select=select_best_set,
    folds: int = 5,
    more: list[list[Item]] | None = None,
) -> dict[str, float]:
    """fit_sentences' 5-fold split by question, with the folds drawn by `seed`. `more`:
    per question, extra training groups (its other answer-holding articles), used only
    when the question is in the training folds."""
    fold = np.random.default_rng(seed).permutation(len(items)) % folds
    contained, shown_words, top1 = [], [], []
    for f in range(folds):
        training = [it for it, g in zip(items, fold, strict=True) if g != f]
        if more:
            training += [m for ms, g in zip(more, fold, strict=True) if g != f for m in ms]
        score = train(training)
        for it, g in zip(items, fold, strict=True):
            if g != f:
                continue
            r, answers, pool, X, y = it
            if not pool:
                contained.append(False)
                continue
            chance = score(X)
            chosen = select(r, pool, chance, max_words)
            shown = " ".join(r.sentences.texts[i] for i in sorted(chosen))
            contained.append(contains(shown, answers))
            shown_words.append(len(shown.split()))
            top1.append(bool(y[int(np.argmax(chance))]))
    return {
        "containment": float(np.mean(contained)),
        "words": float(np.mean(shown_words)),
        "top1": float(np.mean(top1)),
    }


def other_articles(
    r: Retrieval, answers: list[str], years: dict[int, int], depth: int = 5, extra: bool = False
) -> list[Item]:
    """Training groups from the question's other top-`depth` articles holding a gold answer
    (more "which sentence of this article" examples from the same questions)."""
    question = analyse(r.question)
    out = []
    for c in r.ranked[1:depth]:
        pool = candidate_pool(r.sentences, [c])
        if not pool:
            continue
        y = np.array([contains(r.sentences.texts[i], answers) for i in pool])
        if y.any():
            X = sentence_features(r, question, pool)
            if extra:
                X = np.hstack([X, extra_features(r, pool)])
            out.append((None, answers, pool, X, y))
    return out


def with_columns(
    items: list[Item], extra: dict[int, np.ndarray], keep: list[int], add: list[int]
) -> list[Item]:
    """Items whose X is base columns `keep` plus extra columns `add`."""
    out = []
    for k, (r, answers, pool, X, y) in enumerate(items):
        E = extra[k]
        out.append((r, answers, pool, np.hstack([X[:, keep], E[:, add]]), y))
    return out


def load(data: Path, data_dir: Path) -> list[tuple[Retrieval, list[str], dict[int, int]]]:
    """Every answerable question's retrieval (cached in the data dir: retrieval is slow)."""
    cache = data_dir / "rank_retrievals.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    kit = data / "realtimeqa-dev"
    corpus = Corpus(load_settings(data_dir=data_dir))
    if not corpus.store.count_articles():
        corpus.ingest([str(kit / "articles.jsonl")])
    pub = dict(corpus.store._db.execute("SELECT id, published FROM articles").fetchall())
    years = {a: int(p[:4]) for a, p in pub.items() if p and p[:4].isdigit()}
    enc = corpus.encoder
    out = []
    for q in read_jsonl(kit / "questions.jsonl"):
        r = retrieve(
            q["question"], lambda t: enc.encode([t])[0], corpus.store, corpus.index, Filters()
        )
        out.append((r, q["answers"], years))
    cache.write_bytes(pickle.dumps(out))
    return out


def variants(
    items: list[Item],
    extra: dict[int, np.ndarray],
    more: list[list[Item]],
    more_x: list[list[Item]],
) -> dict[str, tuple]:
    """name -> (items, learner, selector, extra training groups)."""
    base = list(range(len(SENTENCE_FEATURES)))
    allx = list(range(len(EXTRA_FEATURES)))
    wide = with_columns(items, extra, base, allx)
    out: dict[str, tuple] = {
        "shipped": (items, clogit(), select_best_set, None),
        "shipped, greedy top-k": (items, clogit(), select_greedy, None),
        "shipped, first + complement": (items, clogit(), select_first_then, None),
        "shipped, temperature 0.5": (items, clogit(temperature=0.5), select_best_set, None),
        "shipped, + other articles": (items, clogit(), select_best_set, more),
        "clogit + extras": (wide, clogit(), select_best_set, None),
        "clogit + extras, greedy": (wide, clogit(), select_greedy, None),
        "clogit + extras, l2 2": (wide, clogit(l2=2.0), select_best_set, None),
        "clogit + extras, l2 10": (wide, clogit(l2=10.0), select_best_set, None),
        "clogit + extras + other art.": (wide, clogit(), select_best_set, more_x),
        "clogit + extras + other, greedy": (wide, clogit(), select_greedy, more_x),
        "pairwise": (items, pairwise(), select_best_set, None),
        "pairwise + extras, C 1": (wide, pairwise(c=1.0), select_best_set, None),
        "boosted + extras (odds)": (wide, boosted(), select_best_set, None),
        "boosted + extras, greedy": (wide, boosted(), select_greedy, None),
    }
    for k, name in enumerate(EXTRA_FEATURES):
        out[f"clogit + {name}"] = (
            with_columns(items, extra, base, [k]),
            clogit(),
            select_best_set,
            None,
        )
    try:
        import lightgbm  # noqa: F401

        out["lambdamart + extras, greedy"] = (wide, lambdamart(), select_greedy, None)
        out["lambdamart + extras + other, gr."] = (wide, lambdamart(), select_greedy, more_x)
    except ImportError:
        print("lightgbm not installed: LambdaMART skipped", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--data-dir", type=Path, required=True, help="data dir (ingested if empty)")
    ap.add_argument("--max-words", type=int, default=65, help="as [answer] max_words")
    ap.add_argument("--seeds", type=int, default=5, help="fold seeds (0..N-1)")
    ap.add_argument("--only", nargs="*", help="variant names to run besides 'shipped'")
    args = ap.parse_args()

    loaded = load(args.data, args.data_dir)
    items = [(r, a, *question_rows(r, a, years)) for r, a, years in loaded]
    extra = {k: extra_features(it[0], it[2]) for k, it in enumerate(items)}
    more = [other_articles(r, a, years) for r, a, years in loaded]
    more_x = [other_articles(r, a, years, extra=True) for r, a, years in loaded]
    print(
        f"{len(items)} questions; {sum(map(len, more))} extra training groups from other articles",
        file=sys.stderr,
    )
    todo = variants(items, extra, more, more_x)
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only or k == "shipped"}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in todo}
    for seed in range(args.seeds):  # interleaved: every variant on one seed's folds
        for name, (its, train, select, extra_groups) in todo.items():
            results[name].append(
                cross_validate(its, train, seed, args.max_words, select, more=extra_groups)
            )
    ref = [m["containment"] for m in results["shipped"]]
    print(
        f"{'variant':<34} {'containment mean [min-max]':<27} Δ vs shipped, per seed"
        "            words  top1"
    )
    for name, ms in results.items():
        c = [m["containment"] for m in ms]
        delta = " ".join(f"{a - b:+.3f}" for a, b in zip(c, ref, strict=True))
        print(
            f"{name:<34} {np.mean(c):.3f} [{min(c):.3f}-{max(c):.3f}]{'':<12}"
            f"{np.mean(c) - np.mean(ref):+.3f} ({delta})"
            f" {np.mean([m['words'] for m in ms]):5.1f}"
            f" {np.mean([m['top1'] for m in ms]):.3f}"
        )


if __name__ == "__main__":
    main()
