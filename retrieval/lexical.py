"""Lexical search: BM25 over SQLite's FTS5 table of article titles, leads and bodies.

A question becomes its content words OR-ed together (`analysis.query_terms`), ranked
by FTS5's bm25(), the title weighted up. In a large corpus the words most articles
contain are left out first (the common-terms cutoff below).

FTS5 is the source of truth and the reference. A `Corpus` serves searches from
`postings.Postings` instead: the same scores from postings held in memory, several
times faster in a large corpus (bench/lexical.py); FTS5 answers whatever they cannot
(a question word FTS5 reads as a phrase).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .analysis import query_terms
from .filters import Filters, FilterSQL
from .postings import Postings

log = logging.getLogger(__name__)

# BM25 column weights (title, lead, body): measured on Reuters known-item search.
BM25_WEIGHTS = (2.0, 1.0, 1.0)
# In a corpus of COMMON_TERMS_FROM articles or more, a question's words found in more
# than COMMON_TERM_SHARE of them are left out of BM25 (see BM25Search._informative).
# Below that size BM25 is fast anyway and every word is kept.
COMMON_TERM_SHARE = 0.10
COMMON_TERMS_FROM = 25_000
# A word's verdict (common or not) is remembered until the corpus grows by this share.
COMMON_TERMS_STALE = 0.01
# Past this many remembered verdicts the cache starts again, so odd words cannot pile up.
COMMON_TERMS_MAX = 50_000


class BM25Search:
    """BM25 over the store's `articles_fts` table, through the store's connections."""

    def __init__(self, connection: Callable[[], sqlite3.Connection]) -> None:
        self._connection = connection  # this thread's connection to the store
        self._common: dict[str, bool] = {}  # see _informative
        self._common_at = 0
        self.postings: Postings | None = None
        self._postings_path: Path | None = None

    # --- the postings in memory ------------------------------------------------------------
    def use_postings(self, path: Path) -> Postings:
        """Serve searches from postings in memory: those saved at `path` if they match the
        store (caught up with newer articles), else built from FTS5 and saved there."""
        postings = Postings(self._connection, BM25_WEIGHTS)
        loaded = postings.load(path)
        added = postings.catch_up()
        if not loaded and added:
            log.info("lexical postings built from FTS5: %d articles", added)
        if postings.dirty:
            postings.save(path)
        self.postings, self._postings_path = postings, path
        return postings

    def save(self) -> None:
        """Write the postings if the store changed since they were last written."""
        if self.postings is not None and self._postings_path:
            self.postings.catch_up()
            if self.postings.dirty:
                self.postings.save(self._postings_path)

    def catch_up(self) -> None:
        """Read the articles stored since into the postings: ingest does after each batch,
        beside the next one's embedding, so `save` is left with the last batch only."""
        if self.postings is not None:
            self.postings.catch_up()

    def refresh(self, article_ids: Iterable[int]) -> None:
        """Articles updated or removed in the store: the postings read them again or drop
        them. FTS5 needs nothing (its rows change with the articles)."""
        if self.postings is not None:
            self.postings.refresh(article_ids)

    # --- searching -------------------------------------------------------------------------
    def search(
        self,
        question: str,
        limit: int,
        filters: Filters,
        admitted: Callable[[], np.ndarray] | None = None,
    ) -> list[tuple[int, float]]:
        """(article id, BM25 score, higher is better) for the question's content words.

        `admitted` gives the ids `filters` admits (the store's `admitted`), which the
        postings need under a filter; FTS5 filters in SQL.
        """
        terms = query_terms(question)
        if not filters.active:
            # Under a filter, corpus-wide counts are the wrong measure of a word (it may be
            # what tells the admitted articles apart), and filtered searches are cheaper.
            terms = self._informative(terms)
        if not terms:
            return []
        if self.postings is not None and (admitted is not None or not filters.active):
            ids = admitted() if filters.active and admitted is not None else None
            found = self.postings.search(terms, limit, ids)
            if found is not None:
                return found
        match = " OR ".join(f'"{t}"' for t in terms)
        where, args = FilterSQL.of(filters).on_fts_rowid()
        weights = ", ".join(map(str, BM25_WEIGHTS))
        try:
            rows = (
                self._connection()
                .execute(
                    f"SELECT rowid, -bm25(articles_fts, {weights}) AS score FROM articles_fts"
                    f" WHERE articles_fts MATCH ?{where} ORDER BY score DESC LIMIT ?",
                    [match, *args, limit],
                )
                .fetchall()
            )
        except sqlite3.OperationalError as exc:
            log.warning("lexical search failed for %r: %s", question, exc)
            return []
        return [(int(a), float(s)) for a, s in rows]

    def _informative(self, terms: list[str]) -> list[str]:
        """`terms` without those in over COMMON_TERM_SHARE of articles, if 2+ others remain.

        FTS5 computes bm25() for every article matching any term, so one common word
        ("market", "said") makes a question score a third of the corpus while its low idf
        barely moves the ranking (Elasticsearch's common-terms cutoff, taken further).
        Leaving such words out makes BM25 much faster in a large corpus and keeps nearly
        the same top ten; it costs a little known-item accuracy, hence only in large corpora.
        Each count stops at the cutoff, and a word's verdict is remembered until the
        corpus grows by COMMON_TERMS_STALE.
        """
        if len(terms) < 3:
            return terms
        db = self._connection()
        articles = db.execute("SELECT max(rowid) FROM articles_fts").fetchone()[0] or 0
        if articles < COMMON_TERMS_FROM:
            return terms
        stale = articles - self._common_at > COMMON_TERMS_STALE * articles
        if stale or len(self._common) > COMMON_TERMS_MAX:
            self._common, self._common_at = {}, articles  # a new dict: asks run on threads
        cutoff = int(articles * COMMON_TERM_SHARE)
        common = self._common
        for t in terms:
            if t not in common:
                common[t] = self._in_more_than(t, cutoff)
        rare = [t for t in terms if not common[t]]
        return rare if len(rare) >= 2 else terms

    def _in_more_than(self, term: str, cutoff: int) -> bool:
        """Whether over `cutoff` articles contain `term` (counting stops there)."""
        count = (
            self._connection()
            .execute(
                "SELECT count(*) FROM"
                " (SELECT 1 FROM articles_fts WHERE articles_fts MATCH ? LIMIT ?)",
                (f'"{term}"', cutoff + 1),
            )
            .fetchone()[0]
        )
        return count > cutoff
