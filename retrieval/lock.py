"""One writer per data directory: an advisory lock file that names its holder.

Two writers on one data dir would both commit to SQLite (WAL serialises them), but the
last to save the FAISS index would save one missing the other's vectors. So every
command that writes (ingest, retag, a feed poll, the bot) holds `writer.lock` for as
long as it writes; readers (ask, chat, headlines, stats) take no lock and never save
the index while a writer runs.

The lock is `fcntl.flock` on `writer.lock`, written by hand rather than with the
`filelock` package because the file must keep the holder's pid and command for the
"who holds it" message, and filelock truncates the file on every attempt. The kernel
drops a flock when its process dies, however it dies, so the lock of a dead writer is
simply taken over; the pid it left in the file is only ever read while the lock is held.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import wording
from .errors import StoreError

log = logging.getLogger(__name__)

LOCK_NAME = "writer.lock"
POLL_SECONDS = 0.1
# errnos that mean "this directory cannot be written" (EROFS: a read-only mount).
READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


@dataclass(frozen=True)
class Holder:
    """Who holds a data dir's writer lock, as it wrote itself into the lock file."""

    pid: int | None
    command: str

    def describe(self) -> str:
        pid = self.pid if self.pid is not None else "?"
        return wording.text("errors.lock.holder", pid=pid, command=self.command or "?")


class DataDirBusy(StoreError):
    """Another process holds the data dir's writer lock (past the configured wait)."""


class ReadOnlyDataDir(StoreError):
    """The data directory cannot be written: a reader may still use it."""


def data_dir_writable(path: Path) -> bool:
    """Whether this process may create files in `path`. `os.access` answers for the
    process's own rights and for a read-only mount (EROFS), also as root."""
    return os.access(path, os.W_OK)


def read_only_error(path: Path) -> ReadOnlyDataDir:
    return ReadOnlyDataDir(wording.text("errors.lock.read_only", path=path))


class WriterLock:
    """The writer lock of one data dir; `acquire` waits up to `wait` seconds for it."""

    def __init__(self, data_dir: Path, command: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self.command = command if command is not None else _this_command()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, waiting up to `wait` seconds; DataDirBusy names the holder."""
        deadline = time.monotonic() + max(0.0, wait)
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                holder = read_holder(self.data_dir)
                raise DataDirBusy(
                    wording.text(
                        "errors.lock.busy",
                        path=self.data_dir,
                        holder=holder.describe() if holder else "?",
                        seconds=wait,
                    )
                )
            time.sleep(POLL_SECONDS)

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another process holds it."""
        if self._fd is not None:
            return True
        if not data_dir_writable(self.data_dir):
            raise read_only_error(self.data_dir)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in READ_ONLY_ERRNOS:
                raise read_only_error(self.data_dir) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        stale = _read(fd)
        if stale is not None and stale.pid not in (None, os.getpid()):
            log.info("took over the writer lock left by pid %s (%s)", stale.pid, stale.command)
        self._fd = fd
        self._write_holder()
        return True

    def _write_holder(self) -> None:
        assert self._fd is not None
        record = json.dumps({"pid": os.getpid(), "command": self.command}).encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, record, 0)
        except OSError as exc:  # a full disk: the lock holds all the same, unnamed
            log.warning("could not write the writer lock's holder: %s", exc.strerror or exc)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no holder left behind to be mistaken for a live one
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a lock is never leaked by an object dropped unreleased
        with contextlib.suppress(Exception):
            self.release()


def read_holder(data_dir: Path) -> Holder | None:
    """The holder of `data_dir`'s writer lock, or None when no process holds it."""
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: what it wrote names it
            return _read(fd) or Holder(None, "")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing_if_free(data_dir: Path, held: WriterLock | None) -> Iterator[bool]:
    """Yield whether this process may write the data dir's files now: it holds the writer
    lock, or it took it for this block because no writer runs (and the dir is writable).
    A reader that repaired a stale index in memory saves it only then."""
    if held is not None and held.held:
        yield True
        return
    lock = WriterLock(data_dir)
    try:
        free = lock.try_acquire()
    except StoreError:  # read-only: readers carry on without writing
        free = False
    try:
        if not free:
            holder = read_holder(data_dir)
            log.info(
                "not writing to %s: %s", data_dir, holder.describe() if holder else "read-only"
            )
        yield free
    finally:
        lock.release()


def _read(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        record = json.loads(raw) if raw.strip() else None
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid = record.get("pid")
    return Holder(pid if isinstance(pid, int) else None, str(record.get("command", "")))


def _this_command() -> str:
    """`briefbot ARGS…` as this process was started, shortened for the message."""
    args = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
    if args[0] in ("cli.py", "__main__.py", "-m", "-c"):
        args[0] = "briefbot"
    line = " ".join(args)
    return line if len(line) <= 200 else line[:199] + "…"
