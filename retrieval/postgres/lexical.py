"""Lexical search on PostgreSQL's full-text search: the articles' tsvector and its GIN index.

A question becomes its content words OR-ed together (`analysis.query_terms`, as for
SQLite's FTS5), stemmed by the store's text search configuration. Matches are ranked by
`ts_rank` with the title weighted up (title 1.0, lead 0.5, body 0.5: the BM25 column
weights 2:1:1 of `retrieval.lexical`, scaled into ts_rank's 0..1), normalised by the
document's length (log). `search.retrieve` scales lexical scores by the best one, so only
the order matters.

ts_rank reads every matching row's document, so its cost grows with the number of
matches: one common word ("said", "market") would make a question rank a third of the
corpus. As on SQLite, in a large corpus the words found in more than a tenth of the
articles are left out of an unfiltered search when two or more others remain
(`COMMON_TERM_SHARE`; each word's verdict is remembered until the corpus grows by 1 %).
Under a filter every word is kept, and only the admitted matches are ranked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import psycopg

from ..analysis import query_terms
from ..filters import Filters
from ..lexical import COMMON_TERM_SHARE, COMMON_TERMS_FROM, COMMON_TERMS_MAX, COMMON_TERMS_STALE
from . import filters as pgfilters
from .admitted import Reader
from .schema import TEXT_CONFIG

log = logging.getLogger(__name__)

RANK_WEIGHTS = "{0.5, 0, 0.5, 1.0}"  # ts_rank's {D, C, B, A}: body, -, lead, title
RANK_NORMALISATION = 1  # divide by 1 + log(document length)


class PgLexical:
    """Full-text search over the store's articles (the SQLite store's `BM25Search` seam)."""

    def __init__(self, store: Reader) -> None:
        self.store = store
        self._common: dict[str, bool] = {}
        self._common_at = 0

    # The SQLite engine keeps BM25 postings in memory beside the store; PostgreSQL's GIN
    # index is that here, kept in the same transactions as the rows.
    def use_postings(self, path: Path) -> None:
        """Nothing: the GIN index is PostgreSQL's own postings."""

    def save(self) -> None:
        """Nothing to write: the index commits with the articles."""

    def refresh(self, article_ids: Iterable[int]) -> None:
        """Nothing: an updated article's document is rewritten in its row."""

    def search(
        self, question: str, limit: int, filters: Filters, admitted: object = None
    ) -> list[tuple[int, float]]:
        """(article id, ts_rank) best first among the articles `filters` admits."""
        terms = query_terms(question)
        if not filters.active:
            terms = self._informative(terms)
        if not terms:
            return []
        where, args = pgfilters.condition(filters)
        try:
            rows = self.store.db.execute(
                "SELECT a.id, ts_rank(%s::float4[], a.search, q, %s) AS r"
                f" FROM articles a, to_tsquery('{TEXT_CONFIG}', %s) q"
                f" WHERE a.search @@ q AND {where} ORDER BY r DESC, a.id LIMIT %s",
                [RANK_WEIGHTS, RANK_NORMALISATION, _or_query(terms), *args, limit],
            ).fetchall()
        except psycopg.Error as exc:
            log.warning("lexical search failed for %r: %s", question, exc)
            return []
        return [(int(a), float(r)) for a, r in rows]

    def _informative(self, terms: list[str]) -> list[str]:
        """`terms` without those in over COMMON_TERM_SHARE of articles, if 2+ others remain
        (as `lexical.BM25Search._informative`, and for the same reason)."""
        if len(terms) < 3:
            return terms
        db = self.store.db
        articles = db.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
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
        count = self.store.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM articles"
            f" WHERE search @@ to_tsquery('{TEXT_CONFIG}', %s) LIMIT %s) m",
            (_or_query([term]), cutoff + 1),
        ).fetchone()[0]
        return count > cutoff


def _or_query(terms: list[str]) -> str:
    """to_tsquery text matching any of `terms` (letters and digits only: `query_terms`),
    each quoted so no word is read as an operator."""
    return " | ".join("'" + t.replace("'", "''") + "'" for t in terms)
