"""Crash reports: a native crash (a segfault in FAISS, ONNX Runtime, OpenVINO or SQLite)
never ends a command or the bot without a word.

`enable_crash_reports` runs first in the `briefbot` entry point: `faulthandler` prints
every thread's Python stack on a fatal signal. Once a command knows its data directory,
`log_to_data_dir` adds `briefbot.log` there, with the library's INFO records (each
ingest batch is named before it is embedded and before it is stored) and the same
crash stacks, so a crash can be traced to its batch after the terminal is gone.

faulthandler writes to one file descriptor, and a crashing process can run no more
Python, so both destinations are served by a `tee` child on a pipe: it outlives the
crash and copies the report to stderr and the log file. Without `tee`, the report goes
to the log file when there is one, else to stderr.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import logging.handlers
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

LOG_NAME = "briefbot.log"
LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 2
# The loggers whose INFO records the data dir's log keeps (stderr shows WARNING and up).
LOGGED = ("retrieval", "bot", "briefbot")


class _State:
    active = False  # only the process's entry point installs crash reports, not a library call
    data_dir: Path | None = None
    handler: logging.Handler | None = None
    tee: subprocess.Popen | None = None
    sink: IO[bytes] | None = None


def enable_crash_reports() -> None:
    """Fatal signals print every thread's stack to stderr (from the very start)."""
    _State.active = True
    faulthandler.enable(file=sys.__stderr__ or sys.stderr, all_threads=True)


def log_to_data_dir(data_dir: Path) -> None:
    """Keep the library's log and crash stacks in `data_dir/briefbot.log` too (when the
    entry point enabled crash reports and the directory can be written)."""
    data_dir = Path(data_dir)
    if not _State.active or _State.data_dir == data_dir or not os.access(data_dir, os.W_OK):
        return
    path = data_dir / LOG_NAME
    try:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError:
        return
    handler.setLevel(logging.INFO)
    handler.setFormatter(
        logging.Formatter("%(asctime)s pid %(process)d %(levelname)s %(name)s: %(message)s")
    )
    _detach()
    root = logging.getLogger()
    root.addHandler(handler)
    for name in LOGGED:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    _State.data_dir, _State.handler = data_dir, handler
    _crash_stacks_to(path)


def _crash_stacks_to(path: Path) -> None:
    tee = shutil.which("tee")
    if tee is None:
        sink = path.open("ab")
        faulthandler.enable(file=sink, all_threads=True)
        _State.sink = sink
        return
    # In its own session, Ctrl-C is the parent's alone; the child ends at EOF, when the
    # parent exits however it exits.
    proc = subprocess.Popen(
        [tee, "-a", str(path)],
        stdin=subprocess.PIPE,
        stdout=sys.__stderr__.fileno() if sys.__stderr__ else None,
        start_new_session=True,
    )
    assert proc.stdin is not None
    faulthandler.enable(file=proc.stdin, all_threads=True)
    _State.tee, _State.sink = proc, proc.stdin


def _detach() -> None:
    """Undo an earlier data dir's log (one process, several commands: the tests)."""
    if _State.handler is not None:
        logging.getLogger().removeHandler(_State.handler)
        _State.handler.close()
    if _State.sink is not None:
        faulthandler.enable(file=sys.__stderr__ or sys.stderr, all_threads=True)
        _State.sink.close()
    if _State.tee is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            _State.tee.wait(timeout=5)  # it ends at EOF; one that does not is left to exit
    _State.handler = _State.sink = _State.tee = None


__all__ = ["LOG_NAME", "enable_crash_reports", "log_to_data_dir"]
