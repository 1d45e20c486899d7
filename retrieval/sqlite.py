"""SQLite connections shared by the store, the feed registry and the bot's subscriptions.

One connection per thread: the bot reads from worker threads while a feed poll or an
ingest writes, and WAL lets readers proceed beside the single writer.

What the disk refuses is said once, here, for every store: a full disk, an I/O error or
a read-only data directory becomes a `StoreError` naming the file, not a bare
`sqlite3.OperationalError` (or, worse, the "cannot rollback" that a failed COMMIT used
to leave behind). A data directory this process cannot write is opened read-only
(`immutable=1`: WAL would otherwise need to create its -shm file), so it can still be read.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import lock, wording
from .errors import StoreError

# SQLite's primary result codes for what the disk refused (sqlite3.Error.sqlite_errorcode & 0xFF).
SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN = 8, 10, 13, 14


def disk_error(exc: sqlite3.Error, path: Path) -> StoreError | None:
    """The StoreError a refusal by the disk means, or None for any other SQLite error."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == SQLITE_FULL:
        return StoreError(wording.text("errors.disk.full", path=path))
    if code == SQLITE_READONLY or (
        code == SQLITE_CANTOPEN and not lock.data_dir_writable(path.parent)
    ):
        return lock.read_only_error(path.parent)
    if code == SQLITE_IOERR:
        return StoreError(wording.text("errors.disk.io", path=path, error=exc))
    return None


class _Connection(sqlite3.Connection):
    """A connection whose statements report a refusing disk as a StoreError (see above)."""

    db_path: Path

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise disk_error(exc, self.db_path) or exc from None

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        try:
            return super().executemany(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise disk_error(exc, self.db_path) or exc from None

    def executescript(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        try:
            return super().executescript(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise disk_error(exc, self.db_path) or exc from None


class ThreadConnections:
    def __init__(self, path: Path, *, rows_as_dicts: bool = False) -> None:
        self.path = Path(path)
        self.rows_as_dicts = rows_as_dicts
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            if self.rows_as_dicts:
                conn.row_factory = sqlite3.Row
            if not self.read_only:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @property
    def read_only(self) -> bool:
        return not lock.data_dir_writable(self.path.parent)

    def _connect(self) -> _Connection:
        if self.read_only:
            target, uri = f"{self.path.resolve().as_uri()}?immutable=1", True
        else:
            target, uri = str(self.path), False
        try:
            conn = sqlite3.connect(
                target,
                check_same_thread=False,
                isolation_level=None,
                factory=_Connection,
                uri=uri,
            )
        except sqlite3.OperationalError as exc:
            raise disk_error(exc, self.path) or exc from None
        conn.db_path = self.path
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (a crash loses only this).

        A COMMIT the disk refuses is rolled back too. SQLite may already have rolled back
        by itself (a full disk does), so ROLLBACK runs only inside a transaction and may
        not mask the error that caused it.
        """
        db = self.get()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error, StoreError):
                    db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
