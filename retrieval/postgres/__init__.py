"""The PostgreSQL storage engine: articles, vectors (pgvector) and full-text search in
one database that several processes share. See `store.PgStore`; `migrate.copy_corpus`
copies an SQLite corpus into it. Needs the `postgres` extra (psycopg, pgvector)."""

from __future__ import annotations

from pathlib import Path

from .store import Admitted, PgStore
from .vectors import PgVectorIndex

__all__ = ["Admitted", "PgStore", "PgVectorIndex", "open_store"]


def open_store(url: str, path: Path | None = None) -> PgStore:
    """The store at `url` (postgresql://…), its schema created on first use."""
    return PgStore(url, path)
