"""Remember delivery ids for a while so a redelivered webhook is handled once.

A plain dict of id → expiry time, in insertion order, so the oldest entries are at the front and
expire first.  Holding only strings and floats, it is invisible to the garbage collector; a
TTLCache's per-entry node objects made full collections slower as it grew (bench/intake.py).

In memory: a restart forgets, which at worst re-handles a delivery redelivered across the restart;
handlers are idempotent, so that costs API calls, not correctness.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class DeliveryLog:
    def __init__(self, ttl: float = 86400, maxsize: int = 1_000_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._maxsize = maxsize
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, key: str) -> bool:
        expires = self._expiry.get(key)
        return expires is not None and expires > self._clock()

    def record(self, key: str) -> None:
        """Called once the delivery is safely queued: a refused delivery may come again."""
        now = self._clock()
        self._expiry.pop(key, None)  # re-insert at the back, in expiry order
        self._expiry[key] = now + self._ttl
        self._evict(now)

    def _evict(self, now: float) -> None:
        expiry = self._expiry
        while expiry:
            oldest = next(iter(expiry))
            if expiry[oldest] > now and len(expiry) <= self._maxsize:
                return
            del expiry[oldest]
