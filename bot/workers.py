"""Library work off the event loop: worker threads, a bounded number at a time.

`retrieval/` is synchronous and CPU-bound; the bot crosses into it here, so the
gateway heartbeat never waits on a query, and a burst of queries queues for a
slot instead of starting a thread each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerThreads:
    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(max(1, limit))

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run `func(*args)` in a thread once a slot is free; return its result."""
        async with self._slots:
            return await asyncio.to_thread(func, *args)
