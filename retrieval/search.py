"""Article ranking for a question: FAISS over sentence vectors fused with BM25.

Measured on Reuters known-item search (titles as questions, bodies indexed):
a news story's lead carries its subject, so the dense score of an article
mixes its best sentence (with a small penalty for depth in the article) and
its best lead sentence; the lexical score is BM25 with the lead weighted up.
The two are fused linearly after scaling BM25 by the query's best score.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from .filters import Filters
from .index import SentenceIndex
from .storage import ArticleStore, SentenceRows

DEPTH_PENALTY = 0.04  # per sentence of depth, up to DEPTH_CAP sentences
DEPTH_CAP = 3
LEAD_POSITIONS = 1  # title (-1) and body sentences 0..1 form the lead


@dataclass
class SentenceTable:
    """Every sentence of the candidate articles, with its similarity to the question.

    Only the best articles' texts are read (`load_texts`); the others' are None: ranking
    needs only the vectors."""

    owners: np.ndarray
    positions: np.ndarray
    vectors: np.ndarray
    texts: list[str | None]
    sims: np.ndarray


@dataclass
class Candidate:
    article_id: int
    score: float
    dense: float
    lexical: float
    best_sim: float


@dataclass
class Retrieval:
    question: str
    ranked: list[Candidate]
    sentences: SentenceTable


CANDIDATE_ARTICLES = 50  # articles each of dense and lexical retrieval hands on
# Articles whose sentence texts `retrieve` reads: the answer and confidence need the best
# two, the bench's training rows the best five.
TEXT_ARTICLES = 5
# Candidates the question's countries and time words reorder (the rest keep their places).
RERANKED = 10


def rescored(ranked: list[Candidate], change: Callable[[Candidate], float]) -> list[Candidate]:
    """The first RERANKED candidates re-sorted with `change(candidate)` added to each
    score (`scope.weigh`, `timeframe.rerank`), the rest behind them as they were."""
    head = [replace(c, score=c.score + change(c)) for c in ranked[:RERANKED]]
    head.sort(key=lambda c: -c.score)
    return head + ranked[RERANKED:]


# BM25, and reading its articles' sentences, run here while the question is embedded
# and the vectors searched: SQLite, PostgreSQL's client and the encoder release the GIL.
_LEXICAL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bm25")


def _lexical_with_rows(
    store: ArticleStore, question: str, limit: int, filters: Filters, admitted: object
) -> tuple[dict[int, float], SentenceRows]:
    """BM25's articles and their sentence rows."""
    lexical = dict(store.lexical_search(question, limit, filters, admitted))
    return lexical, store.sentence_vectors(list(lexical), texts=False)


def retrieve(
    question: str,
    embed: Callable[[str], np.ndarray],
    store: ArticleStore,
    index: SentenceIndex,
    filters: Filters,
    *,
    candidate_sentences: int = 400,
    candidate_articles: int = CANDIDATE_ARTICLES,
    lexical_weight: float = 0.5,
    texts: int = TEXT_ARTICLES,
) -> Retrieval:
    """The candidate articles, ranked, with their sentences; the texts of the best `texts`
    (a caller that reorders them reads its own best with `load_texts`)."""
    # The admitted ids first: the vector search and BM25 both need them.
    admitted = store.admitted(filters) if filters.active else None
    lexical_job = _LEXICAL.submit(
        _lexical_with_rows, store, question, candidate_articles, filters, admitted
    )
    qvec = embed(question)
    dense_ids = nearest_articles(index, qvec, candidate_articles, candidate_sentences, admitted)
    # BM25's articles were read beside the embedding; then only those it did not find.
    lexical, lexical_rows = lexical_job.result()
    dense_rows = store.sentence_vectors([a for a in dense_ids if a not in lexical], texts=False)
    table = sentence_table([dense_rows, lexical_rows], qvec)
    top_lex = max(lexical.values(), default=0.0) or 1.0
    ranked = []
    for aid, dense, best in zip(*dense_scores(table), strict=True):
        lex = lexical.get(aid, 0.0) / top_lex
        ranked.append(Candidate(aid, dense + lexical_weight * lex, dense, lex, best))
    ranked.sort(key=lambda c: -c.score)
    load_texts(store, table, [c.article_id for c in ranked[:texts]])
    return Retrieval(question, ranked, table)


def load_texts(store: ArticleStore, table: SentenceTable, article_ids: list[int]) -> None:
    """Read the sentence texts of these articles into `table` (those not read yet)."""
    spans = {a: rows(table, a) for a in dict.fromkeys(article_ids)}
    missing = [a for a, span in spans.items() if len(span) and table.texts[span.start] is None]
    if not missing:
        return
    found = {(aid, pos): text for aid, pos, text in store.sentence_texts(missing)}
    for aid in missing:
        for i in spans[aid]:
            # "" (never shown: too short) if the article changed since its vectors were read.
            table.texts[i] = found.get((aid, int(table.positions[i])), "")


# Sentences asked for first, per article wanted: on Reuters + BBC questions the 50th
# distinct article came by the 63rd hit (median) and never after the 146th.
FIRST_HITS_PER_ARTICLE = 3


def nearest_articles(
    index: SentenceIndex, qvec: np.ndarray, want: int, most: int, admitted: object
) -> list[int]:
    """The `want` articles whose best sentences are nearest the question, nearest first.

    What the first `most` hits would give, in one search of `FIRST_HITS_PER_ARTICLE *
    want` hits when those already hold `want` articles (they nearly always do): an exact
    search's shorter list is the longer one's head, and a graph search (HNSW, FAISS's or
    pgvector's) costs about in proportion to the hits it returns."""
    k = min(most, FIRST_HITS_PER_ARTICLE * want)
    hits = index.search(qvec, k, admitted)
    ids = list(dict.fromkeys(hits.articles.tolist()))
    if len(ids) < want and len(hits.ids) == k < most:  # too few, and more to be had
        ids = list(dict.fromkeys(index.search(qvec, most, admitted).articles.tolist()))
    return ids[:want]


def dense_scores(table: SentenceTable) -> tuple[list[int], list[float], list[float]]:
    """Per article of the table, in its order: id, dense score and best sentence similarity.

    The dense score is the mean of the best sentence less its depth penalty and the best
    lead sentence (the best sentence when the article has no lead). One reduction per
    quantity over all articles at once: a numpy call per article cost ~1 ms an ask."""
    if len(table.owners) == 0:
        return [], [], []
    starts = np.concatenate([[0], np.flatnonzero(np.diff(table.owners)) + 1])
    sims, pos = table.sims, table.positions
    depth = np.minimum(np.maximum(pos, 0), DEPTH_CAP) * DEPTH_PENALTY
    deep = np.maximum.reduceat(sims - depth, starts)
    best = np.maximum.reduceat(sims, starts)
    lead = np.maximum.reduceat(np.where(pos <= LEAD_POSITIONS, sims, -np.inf), starts)
    lead = np.where(lead == -np.inf, best, lead)
    dense = (deep + lead.astype(np.float64)) / 2
    return table.owners[starts].tolist(), dense.tolist(), best.astype(np.float64).tolist()


def sentence_table(parts: list[SentenceRows], qvec: np.ndarray) -> SentenceTable:
    """Sentence rows of disjoint article sets, merged in (article, position) order; the
    texts None where a part was read without them."""
    parts = [(o, p, v, t or [None] * len(o)) for o, p, v, t in parts if len(o)]
    if not parts:
        empty = np.zeros(0, np.int64)
        return SentenceTable(
            empty, empty, np.zeros((0, 0), np.float32), [], np.zeros(0, np.float32)
        )
    owners = np.concatenate([p[0] for p in parts])
    positions = np.concatenate([p[1] for p in parts])
    vectors = np.concatenate([p[2] for p in parts])
    texts = [t for p in parts for t in p[3]]
    if len(parts) > 1:
        order = np.lexsort((positions, owners))
        owners, positions, vectors = owners[order], positions[order], vectors[order]
        texts = [texts[i] for i in order]
    sims = vectors @ qvec.astype(np.float32)
    return SentenceTable(owners, positions, vectors, texts, sims)


def rows(table: SentenceTable, article_id: int) -> range:
    """The table rows of one article (the table is sorted by article: search, don't scan)."""
    start = int(np.searchsorted(table.owners, article_id, side="left"))
    return range(start, int(np.searchsorted(table.owners, article_id, side="right")))


def article_slices(owners: np.ndarray) -> dict[int, tuple[int, int]]:
    """article id -> (start, end) slice of a table sorted by article."""
    out: dict[int, tuple[int, int]] = {}
    if len(owners) == 0:
        return out
    bounds = np.flatnonzero(np.diff(owners)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(owners)]])
    for a, b in zip(starts, ends, strict=True):
        out[int(owners[a])] = (int(a), int(b))
    return out
