"""Fake time for the tests and benchmarks: ``Clock`` moves only when told or slept on, so nothing
in a test waits for the wall clock; ``HeldClock`` also holds the first wait until released."""

from __future__ import annotations

import asyncio


class Clock:
    """Fake time: set ``now``, or sleep to move it (at once)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class HeldClock(Clock):
    """Fake time for the write budget: the first wait for room lasts until ``release()``; after
    that, waiting moves time on at once.  So writes queue behind a full budget exactly as long as
    the test wants, with no timing in the test."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self._released = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.waiting.set()
        await self._released.wait()
        await asyncio.sleep(0.01)  # the budget polls while a write is in flight: let its answer in
        await super().sleep(seconds)

    def release(self) -> None:
        self._released.set()
