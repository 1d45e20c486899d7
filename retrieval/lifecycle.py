"""Removing articles: SQLite and the FAISS index kept consistent.

SQLite is the source of truth, so it goes first, in one transaction; the index then
drops the same sentence ids. Should the process die between the two, the index no
longer matches the store at the next start and `Corpus` rebuilds it from SQLite, so a
removed article is never served. Replacing an article in place (re-ingesting changed
content) follows the same order, in `ingest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .index import SentenceIndex
from .storage import ArticleStore


@dataclass(frozen=True)
class Removal:
    articles: int  # articles deleted
    sentences: int  # sentence vectors deleted (from SQLite and the index alike)
    remaining: int  # articles left in the corpus


def remove_articles(
    store: ArticleStore, index: SentenceIndex, article_ids: Sequence[int]
) -> Removal:
    """Delete the articles with these ids (unknown ids are ignored) and their vectors."""
    known = list(store.articles(list(article_ids)))
    if not known:
        return Removal(0, 0, store.count_articles())
    removed = store.remove_articles(known)
    index.remove(removed)
    return Removal(len(known), len(removed), store.count_articles())
