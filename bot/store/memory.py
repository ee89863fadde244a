"""In-process stores with the same behaviour as SQLite and Redis, for unit tests and the intake
benchmark's baseline only: nothing survives the process, so ``prowlet serve`` never uses them."""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

from bot.store.base import Claimed, FailedEvent, QueueStats


@dataclass
class _Event:
    delivery: str
    order_key: str
    payload: bytes
    received_at: float
    state: str = "pending"
    attempts: int = 0
    error: str = ""
    finished_at: float = 0.0


@dataclass
class _Head:
    available_at: float
    holder: str | None = None
    token: str | None = None
    lease_until: float = 0.0
    taken: int = 0  # events after the head taken under this claim (``take_next``)


class MemoryEventQueue:
    def __init__(self) -> None:
        self._events: dict[str, _Event] = {}
        self._fifos: dict[str, deque[_Event]] = {}
        self._heads: dict[str, _Head] = {}  # insertion order is the order keys became ready

    def _enqueue(self, event: _Event) -> None:
        self._events[event.delivery] = event
        self._fifos.setdefault(event.order_key, deque()).append(event)
        self._heads.setdefault(event.order_key, _Head(event.received_at))

    async def submit(self, delivery: str, order_key: str, payload: bytes) -> bool:
        known = self._events.get(delivery)
        if known is not None and known.state != "failed":
            return False
        self._enqueue(_Event(delivery, order_key, payload, time.time()))
        return True

    async def claim(self, consumer: str, limit: int, lease: float) -> list[Claimed]:
        now = time.time()
        claimed = []
        for key, head in self._heads.items():
            if len(claimed) >= limit:
                break
            if head.available_at > now or (head.token is not None and head.lease_until >= now):
                continue
            event = self._fifos[key][0]
            event.attempts += 1
            head.holder, head.token, head.lease_until = consumer, uuid.uuid4().hex, now + lease
            head.taken = 0  # a lease taken over starts again at the head
            claimed.append(Claimed(event.delivery, key, event.payload, event.attempts, head.token))
        return claimed

    def _held(self, claimed: Claimed) -> _Head | None:
        head = self._heads.get(claimed.order_key)
        return head if head is not None and head.token == claimed.token else None

    def _held_head(self, claimed: Claimed) -> _Head | None:
        """The claim's head when ``claimed`` is it: events taken after it are finished after it."""
        head = self._held(claimed)
        if head is None or self._fifos[claimed.order_key][0].delivery != claimed.delivery:
            return None
        return head

    def _finish_head(self, key: str, head: _Head, now: float) -> None:
        """The head is done: the next taken event becomes the head, still held; else the key moves on."""
        if head.taken:
            self._fifos[key].popleft()
            head.taken -= 1
        else:
            self._advance(key, now)

    def _advance(self, key: str, now: float) -> None:
        fifo = self._fifos[key]
        fifo.popleft()
        del self._heads[key]
        if fifo:
            self._heads[key] = _Head(now)
        else:
            del self._fifos[key]

    async def extend(self, claimed: Claimed, lease: float) -> bool:
        head = self._held(claimed)
        if head is not None:
            head.lease_until = time.time() + lease
        return head is not None

    async def take_next(self, claimed: Claimed) -> Claimed | None:
        head = self._held(claimed)
        if head is None or head.lease_until < time.time():
            return None
        fifo = self._fifos[claimed.order_key]
        if head.taken + 1 >= len(fifo):
            return None
        event = fifo[head.taken + 1]
        event.attempts += 1
        head.taken += 1
        return Claimed(event.delivery, event.order_key, event.payload, event.attempts, claimed.token)

    async def ack(self, claimed: Claimed) -> bool:
        head = self._held_head(claimed)
        if head is None:
            return False
        now = time.time()
        event = self._events[claimed.delivery]
        event.state, event.payload, event.finished_at = "done", b"", now
        self._finish_head(claimed.order_key, head, now)
        return True

    async def fail(self, claimed: Claimed, error: str, retry_in: float | None) -> bool:
        head = self._held_head(claimed)
        if head is None:
            return False
        now = time.time()
        event = self._events[claimed.delivery]
        event.error = error
        if retry_in is not None:
            head.available_at, head.holder, head.token, head.lease_until = now + retry_in, None, None, 0.0
            head.taken = 0  # the taken ones come again after the head
        else:
            event.state, event.finished_at = "failed", now
            self._finish_head(claimed.order_key, head, now)
        return True

    async def seen(self, delivery: str) -> bool:
        event = self._events.get(delivery)
        return event is not None and event.state != "failed"

    async def stats(self, recent_failures: int = 20) -> QueueStats:
        now = time.time()
        pending = [e for e in self._events.values() if e.state == "pending"]
        failed = sorted((e for e in self._events.values() if e.state == "failed"), key=lambda e: -e.finished_at)
        running = sum(1 for h in self._heads.values() if h.token is not None and h.lease_until >= now)
        return QueueStats(
            len(pending), running, min((e.received_at for e in pending), default=None), len(failed),
            tuple(FailedEvent(e.delivery, e.order_key, e.attempts, e.error, e.finished_at)
                  for e in failed[:recent_failures]))

    async def retry_failed(self, delivery: str | None = None) -> int:
        again = [e for e in self._events.values() if e.state == "failed" and delivery in (None, e.delivery)]
        for event in again:
            self._enqueue(_Event(event.delivery, event.order_key, event.payload, time.time()))
        return len(again)

    async def purge(self, handled_before: float) -> int:
        old = [d for d, e in self._events.items() if e.state == "done" and e.finished_at < handled_before]
        for delivery in old:
            del self._events[delivery]
        return len(old)

    async def release_all(self, consumer: str | None = None) -> int:
        released = 0
        for head in self._heads.values():
            if head.token is not None and consumer in (None, head.holder):
                head.holder, head.token, head.lease_until, head.taken = None, None, 0.0, 0
                released += 1
        return released

    async def close(self) -> None:
        pass


class MemoryStateStore:
    def __init__(self) -> None:
        self._kv: dict[tuple[str, str], tuple[bytes, float | None]] = {}
        self._history: dict[str, deque[bytes]] = {}
        self._leases: dict[str, tuple[str, int, float]] = {}

    def _live(self, ns: str, key: str) -> bytes | None:
        entry = self._kv.get((ns, key))
        if entry is None or (entry[1] is not None and entry[1] <= time.time()):
            return None
        return entry[0]

    async def get(self, ns: str, key: str) -> Any | None:
        data = self._live(ns, key)
        return None if data is None else orjson.loads(data)

    async def put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        self._kv[(ns, key)] = (orjson.dumps(value), time.time() + ttl if ttl is not None else None)

    async def put_if_absent(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        if self._live(ns, key) is not None:
            return False
        await self.put(ns, key, value, ttl)
        return True

    async def delete(self, ns: str, key: str) -> None:
        self._kv.pop((ns, key), None)

    async def items(self, ns: str) -> dict[str, Any]:
        return {k: orjson.loads(data) for (n, k) in list(self._kv) if n == ns
                if (data := self._live(n, k)) is not None}

    async def append(self, ns: str, value: Any, keep: int) -> None:
        history = self._history.setdefault(ns, deque())
        history.append(orjson.dumps(value))
        while len(history) > keep:
            history.popleft()

    async def recent(self, ns: str, limit: int) -> list[Any]:
        return [orjson.loads(v) for v in list(reversed(self._history.get(ns, ())))[:limit]]

    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        now = time.time()
        current = self._leases.get(name)
        if current is None:
            token = 1
        elif current[0] == holder:
            token = current[1]
        elif current[2] > now:
            return None
        else:
            token = current[1] + 1
        self._leases[name] = (holder, token, now + ttl)
        return token

    async def release(self, name: str, holder: str) -> None:
        current = self._leases.get(name)
        if current is not None and current[0] == holder:
            self._leases[name] = (holder, current[1], 0.0)

    async def purge(self) -> int:
        now = time.time()
        expired = [k for k, (_, exp) in self._kv.items() if exp is not None and exp <= now]
        for key in expired:
            del self._kv[key]
        return len(expired)

    async def close(self) -> None:
        pass
