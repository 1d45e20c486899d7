"""Which storage engine a corpus uses: SQLite + FAISS in the data dir (the default), or
PostgreSQL with pgvector when `[store] url` (or `BRIEFBOT_STORE_URL`) names a database.

The SQLite engine's index is a FAISS file beside the store (`Corpus._open_index`); the
PostgreSQL engine's is part of the database (`postgres.PgVectorIndex`). psycopg is
imported only when a PostgreSQL URL is configured, so the default needs none of it.

The data dir's writer lock (`retrieval.lock`) stays as it is on both: it serialises
writers that share a data dir. Writers of one PostgreSQL database on several machines
are serialised by the database itself (a transaction-level advisory lock held by each
write transaction, see `postgres.connections`).
"""

from __future__ import annotations

from pathlib import Path

from .config import Settings
from .errors import StoreError
from .storage import ArticleStore
from .store import Store


def open_store(settings: Settings, path: Path) -> ArticleStore:
    """The configured engine's store; `path` is the SQLite file (the default's store, and
    where the bot's own tables live either way)."""
    url = settings.store.url
    if not url:
        return Store(path)
    try:
        from .postgres import PgStore
    except ImportError as exc:  # the `postgres` extra is not installed
        raise StoreError(
            f"[store] url names PostgreSQL, but {exc.name} is not installed:"
            " pip install 'briefbot[postgres]'"
        ) from None
    # The data dir still holds the writer lock and the bot's files, as SQLite's store
    # would have made it.
    path.parent.mkdir(parents=True, exist_ok=True)
    return PgStore(url, path)


def own_index(store: ArticleStore) -> object | None:
    """The vector index an engine keeps itself (PostgreSQL's), or None (FAISS, by Corpus)."""
    vector_index = getattr(store, "vector_index", None)
    return vector_index() if vector_index is not None else None
