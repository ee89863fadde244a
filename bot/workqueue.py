"""Events of one PR/issue run in the order received; different PRs run concurrently.

Each key gets a FIFO and at most one worker task; the worker exits when its FIFO is empty, so idle
keys cost nothing.  A global semaphore bounds how many items are worked on at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from bot.logs import log

T = TypeVar("T")


class QueueFull(Exception):
    pass


class KeyedWorkQueue(Generic[T]):
    def __init__(
        self,
        handler: Callable[[T], Awaitable[None]],
        max_pending: int = 10000,
        max_concurrent: int = 32,
    ) -> None:
        self._handler = handler
        self._max_pending = max_pending
        self._pending = 0
        self._fifos: dict[Hashable, deque[T]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        return self._pending

    def submit(self, key: Hashable, item: T) -> None:
        """Queue ``item`` behind earlier items with the same key.  Never blocks."""
        if self._pending >= self._max_pending:
            raise QueueFull(f"{self._pending} deliveries pending")
        self._pending += 1
        self._idle.clear()
        fifo = self._fifos.get(key)
        if fifo is not None:  # a worker for this key is running and will get to it
            fifo.append(item)
            return
        self._fifos[key] = deque([item])
        task = asyncio.get_running_loop().create_task(self._work(key))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _work(self, key: Hashable) -> None:
        fifo = self._fifos[key]
        async with self._slots:
            while fifo:
                item = fifo.popleft()
                try:
                    await self._handler(item)
                except Exception:  # the handler isolates plugins; this is the last line of defence
                    log.exception("work item failed", key=str(key))
                finally:
                    self._pending -= 1
        del self._fifos[key]
        if self._pending == 0:
            self._idle.set()

    async def join(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted has been handled; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        for task in list(self._workers):
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
