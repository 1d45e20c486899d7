"""Library work off the event loop: worker threads, a bounded number at a time.

`retrieval/` is synchronous and CPU-bound; the bot crosses into it here, so the
gateway heartbeat never waits on a query, and a burst of queries queues for a
slot instead of starting a thread each. The queue of people's questions is bounded
too (`submit`): past `limit + queue` questions in flight, the next one is told at once
to try again, instead of waiting behind a queue it could not see the end of.
Background work (digests, feed polls) uses `run` and is never refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from retrieval import InputError, wording

T = TypeVar("T")


class Busy(InputError):
    """The question queue is full."""


class WorkerThreads:
    def __init__(self, limit: int, queue: int | None = None) -> None:
        self._slots = asyncio.Semaphore(max(1, limit))
        # None: unbounded (tests and the console); else questions waiting beyond the slots.
        self._capacity = None if queue is None else max(1, limit) + max(0, queue)
        self._questions = 0

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in a thread once a slot is free; return its result."""
        async with self._slots:
            return await asyncio.to_thread(func, *args)

    def submit(self, func: Callable[..., T], *args: Any) -> asyncio.Task[T]:
        """Queue a person's question; Busy at once if the queue is full. Synchronous, so
        no other question can slip in between the check and the count."""
        if self._capacity is not None and self._questions >= self._capacity:
            raise Busy(wording.text("discord.errors.busy", waiting=self._questions))
        self._questions += 1
        task = asyncio.get_running_loop().create_task(self.run(func, *args))
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._questions -= 1

    @property
    def questions(self) -> int:
        """Questions running or waiting now."""
        return self._questions
