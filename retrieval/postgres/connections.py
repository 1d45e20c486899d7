"""PostgreSQL connections for one store: one per thread, as the SQLite store has them.

The bot reads on worker threads while a feed poll writes; a psycopg connection is not
meant to be shared by concurrent statements, so each thread gets its own (opened on
first use, closed with the store). Connections are in autocommit mode: a statement
outside `transaction()` commits by itself, as the SQLite store's do.

Writers serialise on a transaction-level advisory lock (`WRITER_LOCK`), taken by every
write transaction: several processes (bot shards, feed workers, `briefbot ingest` on
another machine) may write one database, and each batch commits whole, after the one
before it, the way one SQLite file has one writer at a time. Readers never wait.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import psycopg
from pgvector.psycopg import register_vector

from ..errors import StoreError
from .schema import ensure_schema

WRITER_LOCK = 0x62726977  # "briw": held by a write transaction until it commits
TABLES_LOCK = 0x62726974  # "brit": held while a store creates its tables (`create_tables`)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured PostgreSQL URL"
    host = info.get("host") or "localhost"
    return f"postgresql://{info.get('user') or ''}@{host}/{info.get('dbname') or ''}"


class PgConnections:
    """This thread's connection to the store's database, opened on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self.get()  # fail now, in one line, if the server cannot be reached

    def get(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            with self._lock:
                first = not self._all
            if first:
                ensure_schema(conn)
            register_vector(conn)
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open the store at {redacted(self.url)}: {reason}") from None
        return conn

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[psycopg.Connection]:
        """One transaction, rolled back on any error; a write one holds `WRITER_LOCK` and
        moves the store's generation on (readers' caches key on it)."""
        conn = self.get()
        with conn.transaction():
            if write:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                conn.execute(
                    "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'"
                )
            yield conn

    def create_tables(self, schema: str) -> None:
        """Run a store's `CREATE … IF NOT EXISTS` statements, one process at a time:
        IF NOT EXISTS does not stop two processes creating one table at the same moment
        (the second fails on PostgreSQL's catalog), as N bots starting together would."""
        with self.transaction(write=False) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (TABLES_LOCK,))
            db.execute(schema)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
