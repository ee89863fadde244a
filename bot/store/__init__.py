"""Durable state: the event queue and small state, on SQLite (default) or Redis (replicas)."""

from __future__ import annotations

from pathlib import Path

from bot.store.base import Claimed, EventQueue, QueueStats, StateStore, Stores, StoreUnavailable

__all__ = ["Claimed", "EventQueue", "QueueStats", "StateStore", "Stores", "StoreUnavailable", "open_stores"]


def open_stores(data_dir: Path, redis_url: str | None = None, *, kind: str | None = None,
                redis_prefix: str = "prowlet", exclusive: bool = True) -> Stores:
    """Redis when a URL is given, else SQLite under ``data_dir``.  ``kind="memory"`` is for tests and
    benchmarks; ``exclusive=False`` lets a tool open the SQLite store beside a running server.
    Raises StoreUnavailable with a message fit for the operator."""
    if kind == "memory":
        from bot.store.memory import MemoryEventQueue, MemoryStateStore

        async def nothing() -> None:
            return None

        queues: dict[str, EventQueue] = {}

        def queue(name: str) -> EventQueue:
            return queues.setdefault(name, MemoryEventQueue())

        return Stores(MemoryEventQueue(), MemoryStateStore(), "memory", False, nothing, queue=queue)
    if redis_url:
        from bot.store.redis import RedisStores

        redis = RedisStores(redis_url, prefix=redis_prefix)
        return Stores(redis.events, redis.state, "redis", True, redis.close, jobs=redis.jobs, queue=redis.queue)
    from bot.store.sqlite import SqliteStores

    sqlite = SqliteStores(data_dir, exclusive)

    async def close() -> None:
        sqlite.close()  # on the loop: nothing else may use the connection meanwhile (waits for a commit)

    return Stores(sqlite.events, sqlite.state, "sqlite", False, close, queue=sqlite.queue)
