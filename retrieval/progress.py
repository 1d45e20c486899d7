"""Ingest progress that tells the truth: articles parsed, embedded and stored, as they go.

On a terminal it is a tqdm bar advancing per article parsed, with the embedded and
stored counts beside it; otherwise (a log file, a pipe, CI) one plain line every
`PLAIN_INTERVAL` seconds, and a last one at the end if any was written, so a long run
is never silent and a short one adds no noise. Counts are set from the embedding thread
and read when drawn: a count is an int, so no lock is needed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

from . import wording

PLAIN_INTERVAL = 10.0  # seconds between plain lines


class IngestProgress:
    """Off when `enabled` is False; else a bar on a terminal, plain lines otherwise."""

    def __init__(
        self,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.parsed = self.embedded = self.stored = 0
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self._start = self._last = time.monotonic()
        self._printed = False
        terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.mode = "off" if enabled is False else ("bar" if terminal else "plain")
        self._bar = None
        if self.mode == "bar":
            self._bar = tqdm(desc="ingest", unit=" articles", file=self.stream)

    def parsed_one(self) -> None:
        self.parsed += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._counts(), refresh=False)
            self._bar.update(1)
        elif self.mode == "plain":
            self._maybe_line()

    def set_embedded(self, articles: int) -> None:
        """Called from the embedding thread as each chunk of a batch is encoded."""
        self.embedded = articles

    def add_stored(self, articles: int) -> None:
        self.stored += articles
        if self._bar is not None:
            self._bar.set_postfix_str(self._counts())
        elif self.mode == "plain":
            self._maybe_line()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._counts(), refresh=False)
            self._bar.close()
        elif self._printed:
            self._line()

    def _counts(self) -> str:
        return wording.text("cli.progress.counts", embedded=self.embedded, stored=self.stored)

    def _maybe_line(self) -> None:
        if time.monotonic() - self._last >= self.interval:
            self._line()

    def _line(self) -> None:
        self._last = now = time.monotonic()
        elapsed = now - self._start
        line = wording.text(
            "cli.progress.line",
            parsed=self.parsed,
            embedded=self.embedded,
            stored=self.stored,
            seconds=elapsed,
            rate=self.stored / elapsed if elapsed > 0 else 0.0,
        )
        print(line, file=self.stream, flush=True)
        self._printed = True


class StepProgress:
    """A long one-time step (building postings, an HNSW graph): a bar on a terminal that
    appears only once the step has run `delay` seconds, else plain lines every
    `PLAIN_INTERVAL` seconds (and a last one if any was written), so a step of a second
    stays silent and one of minutes is never so. `line(done, total, seconds)` words a
    plain line (from `prompts/cli.toml`); on a terminal, its text before the colon
    labels the bar."""

    def __init__(
        self,
        line: Callable[[int, int, float], str],
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float | None = None,
        delay: float = 2.0,
    ) -> None:
        self.line, self.total, self.done = line, total, 0
        self.stream = stream or sys.stderr
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self._start = self._last = time.monotonic()
        self._printed = False
        self._bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            label = line(0, total, 0.0).partition(":")[0]
            self._bar = tqdm(total=total, desc=label, file=self.stream, delay=delay)

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.update(done - self.done)
        elif time.monotonic() - self._last >= self.interval:
            self._line(done)
        self.done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._printed:
            self._line(self.done)

    def _line(self, done: int) -> None:
        self._last = now = time.monotonic()
        print(self.line(done, self.total, now - self._start), file=self.stream, flush=True)
        self._printed = True
