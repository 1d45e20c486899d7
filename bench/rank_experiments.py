"""Ranker experiments over the answer shortlist (issue 14): learners, objectives,
cheap lexical features and set-selection rules for the answer-sentence model.

Reuses `bench/fit_sentences.py`'s rows (every fit sentence of each answerable
question's best article, labelled by whether it holds a gold answer) and its
folds (5-fold by question), repeated over several fold seeds, so each variant's
answer containment is cross-validated and its spread across seeds is visible.
Variants are compared to the shipped learner (a per-question softmax over the
26 `SENTENCE_FEATURES`, likeliest-first sets) on the same folds, paired by seed.
"20" variants leave out ARTICLE_FEATURES (`retrieval.within_article`), as the
model did before they were adopted; "best sum" is the set rule of that time.

    python bench/rank_experiments.py --data-dir /tmp/rtqa   # ingested if empty
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
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
from retrieval.question import Question, analyse
from retrieval.search import Retrieval, retrieve
from retrieval.selection import (
    DUPLICATE_SIM,
    SENTENCE_FEATURES,
    _with_antecedent,
    best_set,
    candidate_pool,
    sentence_chances,
    sentence_features,
)
from retrieval.text import words
from retrieval.within_article import ARTICLE_FEATURES

# Document frequencies over every retrieved sentence: too slow to ship (`extra_features`).
EXTRA_FEATURES = ("idf_cover",)

Item = tuple  # (retrieval, answers, pool, X, y)
Scorer = Callable[[np.ndarray], np.ndarray]  # features -> chances over one pool
# The 20 features shipped before ARTICLE_FEATURES were added to them.
BEFORE = list(range(len(SENTENCE_FEATURES) - len(ARTICLE_FEATURES)))


# ---------------------------------------------------------------- extra features
def _content(tokens: list[str]) -> list[str]:
    return [stem(t) for t in tokens if t not in STOPWORDS and (len(t) > 1 or t.isdigit())]


def answer_features(r: Retrieval, question: Question, pool: list[int]) -> np.ndarray:
    """The shipped features (the 20 first, then ARTICLE_FEATURES): the "26" variants' rows."""
    return sentence_features(r, question, pool)


def extra_features(r: Retrieval, pool: list[int]) -> np.ndarray:
    """One row of EXTRA_FEATURES per pool sentence: the share of the question's words'
    idf (over every sentence retrieved, the question's neighbourhood) it holds."""
    table = r.sentences
    q = set(_content(words(r.question)))
    out = np.zeros((len(pool), len(EXTRA_FEATURES)))
    if not pool or not q:
        return out
    sent_stems = [set(_content(words(t))) for t in table.texts]
    n = len(sent_stems)
    df = {w: sum(w in s for s in sent_stems) for w in q}
    idf = {w: np.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) for w in q}
    total = sum(idf.values())
    for row, i in enumerate(pool):
        out[row, 0] = sum(idf[w] for w in q & sent_stems[i]) / total
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
    """The shipped rule (`selection.best_set`): the likeliest first while they fit."""
    return best_set(r.sentences, pool, chance, max_sentences=5, max_words=max_words)


def select_best_sum(r: Retrieval, pool: list[int], chance: np.ndarray, max_words: int):
    """The rule shipped before: of the 10 likeliest, the set (up to 4, antecedents
    included, no near-duplicates) with the most chance in sum under the budget."""
    table = r.sentences
    order = [j for j in np.argsort(-chance)[:10] if chance[j] > 0]
    units = [(_with_antecedent(table, pool[j]), float(chance[j])) for j in order]
    cost = [sum(len(table.texts[i].split()) for i in rows_) for rows_, _ in units]
    vecs = table.vectors[np.asarray([pool[j] for j in order])]
    twins = (vecs @ vecs.T) > DUPLICATE_SIM
    np.fill_diagonal(twins, False)
    best: tuple = (-1.0, 0, ())
    for size in range(1, min(4, len(units)) + 1):
        for combo in itertools.combinations(range(len(units)), size):
            n = sum(cost[k] for k in combo)
            if n > max_words or (size > 1 and twins[np.ix_(combo, combo)].any()):
                continue
            key = (round(sum(units[k][1] for k in combo), 6), -n, combo)
            if key[:2] > best[:2]:
                best = key
    if best[0] < 0:
        best = (0.0, 0, (0,))
    return {i: units[k][1] for k in best[2] for i in units[k][0]}


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


def select_enough(cap: int, enough: float):
    """Likeliest first (the shipped rule) under a budget of `cap` words, but stopping
    once the sentences taken hold `enough` of the chance: a confident answer stays
    short, which leaves words for the unsure ones (the mean is what the target counts)."""

    def select(r: Retrieval, pool: list[int], chance: np.ndarray, max_words: int):
        order = np.argsort(-chance)
        last = int(np.searchsorted(np.cumsum(chance[order]), enough))  # first reaching it
        kept = np.zeros_like(chance)
        kept[order[: last + 1]] = chance[order[: last + 1]]
        return best_set(r.sentences, pool, kept, max_sentences=5, max_words=cap)

    return select


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


def other_articles(r: Retrieval, answers: list[str], depth: int = 5) -> list[Item]:
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
            out.append((None, answers, pool, answer_features(r, question, pool), y))
    return out


def with_columns(
    items: list[Item], keep: list[int], extra: dict[int, np.ndarray] | None = None
) -> list[Item]:
    """Items whose X is columns `keep`, plus the bench-only EXTRA_FEATURES if given."""
    out = []
    for k, (r, answers, pool, X, y) in enumerate(items):
        parts = [X[:, keep]] + ([extra[k]] if extra is not None else [])
        out.append((r, answers, pool, np.hstack(parts), y))
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
    items: list[Item], extra: dict[int, np.ndarray], more: list[list[Item]]
) -> dict[str, tuple]:
    """name -> (items, learner, selector, extra training groups). "26" are the features
    shipped (`retrieval.selection`), "20" those before ARTICLE_FEATURES."""
    allc = list(range(items[0][3].shape[1]))
    old = with_columns(items, BEFORE)
    old_more = [with_columns(m, BEFORE) for m in more]
    out: dict[str, tuple] = {
        "20, clogit, best sum (before)": (old, clogit(), select_best_sum, None),
        "26, clogit, best sum": (items, clogit(), select_best_sum, None),
        "20, clogit, likeliest first": (old, clogit(), select_best_set, None),
        "20, greedy top-k": (old, clogit(), select_greedy, None),
        "20, first + complement": (old, clogit(), select_first_then, None),
        "20, temperature 0.5": (old, clogit(temperature=0.5), select_best_set, None),
        "20, + other articles": (old, clogit(), select_best_set, old_more),
        "20, pairwise": (old, pairwise(), select_best_set, None),
        "26, clogit (shipped)": (items, clogit(), select_best_set, None),
        "26, greedy top-k": (items, clogit(), select_greedy, None),
        "26, l2 2": (items, clogit(l2=2.0), select_best_set, None),
        "26, l2 10": (items, clogit(l2=10.0), select_best_set, None),
        "26, + other articles": (items, clogit(), select_best_set, more),
        "26 + idf_cover": (with_columns(items, allc, extra), clogit(), select_best_set, None),
        "26, pairwise C 1": (items, pairwise(c=1.0), select_best_set, None),
        "26, boosted (odds)": (items, boosted(), select_best_set, None),
        "26, boosted, greedy": (items, boosted(), select_greedy, None),
    }
    for cap in (65, 75, 85):
        for enough in (0.6, 0.7, 0.8, 0.9):
            out[f"26, enough {enough} of {cap}"] = (
                items,
                clogit(),
                select_enough(cap, enough),
                None,
            )
    for k, name in enumerate(ARTICLE_FEATURES):
        out[f"20 + {name}"] = (
            with_columns(items, [*BEFORE, len(BEFORE) + k]),
            clogit(),
            select_best_set,
            None,
        )
    try:
        import lightgbm  # noqa: F401

        out["26, lambdamart, greedy"] = (items, lambdamart(), select_greedy, None)
        out["26, lambdamart + other, greedy"] = (items, lambdamart(), select_greedy, more)
    except ImportError:
        print("lightgbm not installed: LambdaMART skipped", file=sys.stderr)
    return out


REFERENCE = "26, clogit (shipped)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--data-dir", type=Path, required=True, help="data dir (ingested if empty)")
    ap.add_argument("--max-words", type=int, default=65, help="as [answer] max_words")
    ap.add_argument("--seeds", type=int, default=5, help="fold seeds (0..N-1)")
    ap.add_argument("--only", nargs="*", help="variant names to run besides the reference")
    args = ap.parse_args()

    loaded = load(args.data, args.data_dir)
    items = []
    for r, a, years in loaded:
        pool, X, y = question_rows(r, a, years)
        items.append((r, a, pool, X, y))
    extra = {k: extra_features(it[0], it[2]) for k, it in enumerate(items)}
    more = [other_articles(r, a) for r, a, _ in loaded]
    print(
        f"{len(items)} questions; {sum(map(len, more))} extra training groups from other articles",
        file=sys.stderr,
    )
    todo = variants(items, extra, more)
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only or k == REFERENCE}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in todo}
    for seed in range(args.seeds):  # interleaved: every variant on one seed's folds
        for name, (its, train, select, extra_groups) in todo.items():
            results[name].append(
                cross_validate(its, train, seed, args.max_words, select, more=extra_groups)
            )
    ref = [m["containment"] for m in results[REFERENCE]]
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
