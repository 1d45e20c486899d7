"""What the engine's searches need from the store (`Reader`), and `Admitted`: the articles
a filter admits, kept as the SQL that selects them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import psycopg

from ..filters import Filters
from . import filters as pgfilters


class Reader(Protocol):
    """The store as its searches read it (`store.PgStore`)."""

    @property
    def db(self) -> psycopg.Connection: ...

    def cached_count(self, sql: str, args: Sequence[object] = ()) -> int: ...

    def count_articles(self) -> int: ...

    def get_meta(self, key: str) -> str | None: ...

    def generation(self) -> int: ...


class Admitted:
    """The articles a filter admits, as the SQL that selects them (`filters.admitted_ids`).

    What `PgStore.admitted` returns: the vector and lexical searches embed its query in
    their own, so the ids stay in PostgreSQL. Reading it as an array (`np.asarray`,
    `list`, `tolist`) runs the query; `len` counts in SQL (kept until the next write).
    """

    def __init__(self, reader: Reader, filters: Filters) -> None:
        self.reader = reader
        self.filters = filters
        self.sql, self.args = pgfilters.admitted_ids(filters)

    def ids(self) -> np.ndarray:
        rows = self.reader.db.execute(f"{self.sql} ORDER BY 1", self.args).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def __len__(self) -> int:
        return self.reader.cached_count(f"SELECT count(*) FROM ({self.sql}) q", tuple(self.args))

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        ids = self.ids()
        return ids if dtype is None else ids.astype(dtype)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids().tolist())

    def tolist(self) -> list[int]:
        return self.ids().tolist()
