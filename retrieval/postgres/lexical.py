"""Lexical search on PostgreSQL: BM25 over the postings kept in the database (`bm25`).

A question becomes its content words (`analysis.query_terms`, as on SQLite), tokenized
as FTS5 tokenizes them, and its articles are ranked by FTS5's bm25() computed in one
query from the words' postings: the embedded engine's ranking (`retrieval.postings`),
so both engines find and order the same articles. `search.retrieve` scales lexical
scores by the best one.

A search reads every posting of its words, so one common word ("said", "market") would
make it read a third of the corpus's articles' rows. As on SQLite, in a large corpus
(`COMMON_TERMS_FROM`) the words found in more than a tenth of the articles are left out
when two or more others remain (`COMMON_TERM_SHARE`; each word's verdict is remembered
until the corpus grows by 1 %). Unlike SQLite, whose in-memory postings make a filtered
search cheap, this applies under a filter too: a broad filter (US) admits most of those
articles, and reading their postings is the cost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import psycopg

from ..analysis import query_terms
from ..filters import Filters
from ..lexical import COMMON_TERM_SHARE, COMMON_TERMS_FROM, COMMON_TERMS_MAX, COMMON_TERMS_STALE
from . import bm25
from . import filters as pgfilters
from .admitted import Reader

log = logging.getLogger(__name__)

BROAD_FILTER = 0.25  # share of articles admitted from which a filter is checked after ranking


class PgLexical:
    """Full-text search over the store's articles (the SQLite store's `BM25Search` seam)."""

    def __init__(self, store: Reader) -> None:
        self.store = store
        self._common: dict[str, bool] = {}
        self._common_at = 0
        self._stats = (-1, 0, 0.0)  # (generation, articles, mean tokens): see _corpus

    # The SQLite engine keeps BM25 postings in memory beside the store; here they are
    # the postings table, kept in the same transactions as the rows.
    def use_postings(self, path: Path) -> None:
        """Nothing: the postings are in the database."""

    def save(self) -> None:
        """Nothing to write: the postings commit with the articles."""

    def catch_up(self) -> None:
        """Nothing: the postings commit with the articles."""

    def refresh(self, article_ids: Iterable[int]) -> None:
        """Nothing: an updated article's postings are rewritten in its transaction."""

    def search(
        self, question: str, limit: int, filters: Filters, admitted: object = None
    ) -> list[tuple[int, float]]:
        """(article id, BM25 score) best first among the articles `filters` admits."""
        sql, args = self.query(question, limit, filters)
        if not sql:
            return []
        try:
            rows = self.store.db.execute(sql, args).fetchall()
        except psycopg.Error as exc:
            log.warning("lexical search failed for %r: %s", question, exc)
            return []
        # Sorted here too: a broad filter's rows come in the ranking's order by construction.
        return sorted(((int(a), float(r)) for a, r in rows), key=lambda row: (-row[1], row[0]))

    def query(self, question: str, limit: int, filters: Filters) -> tuple[str, list[object]]:
        """The SQL and parameters of a search ('' when no word can match): bench/postgres.py
        explains it."""
        words = self._informative(query_terms(question))
        tokens = bm25.question_tokens(words) if words else []
        n, avgdl = self._corpus()
        if not tokens or n == 0 or limit <= 0:
            return "", []
        admitted_sql, admitted_args, broad = None, [], False
        if filters.active:
            admitted_sql, admitted_args = pgfilters.admitted_ids(filters)
            # The count `Admitted` keeps (the same query): one per store generation.
            count = self.store.cached_count(
                f"SELECT count(*) FROM ({admitted_sql}) q", tuple(admitted_args)
            )
            broad = count >= BROAD_FILTER * self.store.count_articles()
        return bm25.search_sql(admitted_sql, broad=broad), [
            *bm25.search_args(tokens, n, avgdl),
            *admitted_args,
            limit,
        ]

    def _corpus(self) -> tuple[int, float]:
        """(articles with postings, their mean token count): BM25's N and avgdl, counted
        once per store generation."""
        generation = self.store.generation()
        if self._stats[0] != generation:
            n, total = self.store.db.execute(
                "SELECT count(*), coalesce(sum(tokens), 0) FROM lexical_docs"
            ).fetchone()
            self._stats = (generation, int(n), float(total) / max(1, int(n)))
        return self._stats[1], self._stats[2]

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
        tokens = bm25.question_tokens([term])
        if not tokens:
            return False
        count = self.store.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM postings WHERE term = ANY(%s) LIMIT %s) m",
            (tokens, cutoff + 1),
        ).fetchone()[0]
        return count > cutoff
