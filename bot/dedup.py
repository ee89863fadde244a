"""Remember delivery ids for a while so a redelivered webhook is handled once.

In memory: a restart forgets, which at worst re-handles a delivery redelivered across the restart;
handlers are idempotent, so that costs API calls, not correctness.
"""

from __future__ import annotations

from cachetools import TTLCache


class DeliveryLog:
    def __init__(self, ttl: float = 86400, maxsize: int = 200_000) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=maxsize, ttl=ttl)

    def seen(self, key: str) -> bool:
        return key in self._seen

    def record(self, key: str) -> None:
        """Called once the delivery is safely queued: a refused delivery may come again."""
        self._seen[key] = True
