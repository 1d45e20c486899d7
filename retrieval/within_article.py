"""How a sentence stands among its own article's sentences, for the answer-sentence model.

A quiz answer is "which sentence of this article", and an absolute similarity says
little about that: the sentence that answers is often the one that, within its
article, repeats the most of the question's words or its longest phrase, while the
article's sentences all look alike to the corpus. So each candidate is also placed
inside its article: its BM25 against the question with the article's sentences as
the collection (as a share of the article's best and as a rank), the longest run of
the question's words it repeats, its similarity rank, how much of the headline it
repeats, and how far it stands from the sentence most like the question
(`python bench/rank_experiments.py` measured each; `bench/fit_sentences.py` fits them).
"""

from __future__ import annotations

import numpy as np

from .analysis import STOPWORDS, QuestionWords, stem
from .question import Question
from .search import SentenceTable, rows
from .text import words

ARTICLE_FEATURES = ("bm25", "bm25_rank", "span", "sim_rank", "title", "dist_best")
# BM25 of the question against one sentence, the article's sentences as the documents.
BM25_K1, BM25_B = 1.2, 0.75
# Word runs shared with the question, and distances in sentences, are capped here.
RUN_CAP = 6


def article_features(table: SentenceTable, question: Question, pool: list[int]) -> np.ndarray:
    """One row of ARTICLE_FEATURES per pool sentence."""
    q = QuestionWords(question.text)
    run_stems = [stem(t) for t in words(question.text)]
    run_prefixes = {s[:3] for s in run_stems}
    out = np.zeros((len(pool), len(ARTICLE_FEATURES)))
    by_article: dict[int, list[int]] = {}
    for row, i in enumerate(pool):
        by_article.setdefault(int(table.owners[i]), []).append(row)
    for aid, prows in by_article.items():
        span = rows(table, aid)
        body = [i for i in span if table.positions[i] >= 0]
        head = next((i for i in span if table.positions[i] < 0), None)
        title = QuestionWords(table.texts[head]) if head is not None else None
        found: dict[int, list[str]] = {}
        size: dict[int, int] = {}
        tokens: dict[int, list[str]] = {}
        for i in body:
            tokens[i] = words(table.texts[i])
            toks = [t for t in tokens[i] if t not in STOPWORDS]
            found[i] = [stem(t) for t, m in zip(toks, q.marks(toks), strict=True) if m]
            size[i] = len(toks)
        avg = max(float(np.mean(list(size.values()))), 1.0) if body else 1.0
        df = {w: sum(w in set(f) for f in found.values()) for w in q.stems}
        idf = {w: np.log(1 + (len(body) - n + 0.5) / (n + 0.5)) for w, n in df.items()}
        idxs = [pool[r] for r in prows]
        bm25 = np.zeros(len(idxs))
        for k, i in enumerate(idxs):
            hits = found.get(i, [])
            norm = BM25_K1 * (1 - BM25_B + BM25_B * size.get(i, 0) / avg)
            for w in set(hits):
                tf = hits.count(w)
                bm25[k] += idf[w] * tf * (BM25_K1 + 1) / (tf + norm)
        sims = table.sims[idxs]
        sim_rank, bm25_rank = _ranks(sims), _ranks(bm25)
        nearest = int(table.positions[idxs[int(np.argmax(sims))]])
        top = bm25.max()
        for k, (row, i) in enumerate(zip(prows, idxs, strict=True)):
            toks = tokens.get(i) or words(table.texts[i])
            stems = [stem(t) if t[:3] in run_prefixes else t for t in toks]
            repeats = 0.0
            if title is not None and title.stems:
                repeats = title.share(
                    {stem(t) for t, m in zip(toks, title.marks(toks), strict=True) if m}
                )
            out[row] = (
                bm25[k] / top if top > 0 else 0.0,
                1.0 / (1 + bm25_rank[k]),
                min(longest_run(run_stems, stems), RUN_CAP) / RUN_CAP,
                1.0 / (1 + sim_rank[k]),
                repeats,
                min(abs(int(table.positions[i]) - nearest), RUN_CAP) / RUN_CAP,
            )
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the largest value, 1 for the next, ... (ties by order)."""
    return np.argsort(np.argsort(-values, kind="stable"), kind="stable")


def longest_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of consecutive words `a` and `b` share."""
    at: dict[str, list[int]] = {}
    for i, x in enumerate(a):
        at.setdefault(x, []).append(i)
    best = 0
    for j, y in enumerate(b):
        for i in at.get(y, ()):
            n = 1
            while i + n < len(a) and j + n < len(b) and a[i + n] == b[j + n]:
                n += 1
            best = max(best, n)
    return best
