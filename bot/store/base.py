"""The durable stores, as small interfaces.  Two real implementations pass one contract suite
(tests/test_store_contract.py): SQLite (embedded default) and Redis (``PROWLET_REDIS_URL``, shared by
replicas).  ``memory`` exists for unit tests and the intake benchmark only.

EventQueue — every accepted webhook, keyed by its delivery id (so de-duplication *is* the primary
key), ordered per ``order_key`` (one PR/MR or issue): only the oldest unfinished event of a key can be
claimed, and a claim is a lease that expires, so a consumer that dies has its event taken over.  Each
claim carries a fresh token; ``ack``/``fail`` with a stale token are refused (fencing), so a consumer
that lost its lease cannot finish somebody else's claim.  A claim is of the whole key: its holder may
take the key's next events too (``take_next``: a run of one PR's events handled together) and
finishes them in order, the claim passing from each finished one to the next it took.

StateStore — small JSON values by namespace and key (merge state, caches, once-only marks), a capped
history per namespace, and leases with fencing tokens (one merge pass per repository at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class StoreUnavailable(Exception):
    """The store could not take or give the data (disk full, Redis down).  Intake answers 503."""


@dataclass(frozen=True)
class Claimed:
    delivery: str  # the queue key: "<forge>:<delivery id>"
    order_key: str
    payload: bytes
    attempt: int  # 1 on the first claim; more when an earlier claim failed or expired
    token: str  # fencing: ack/fail/extend/take_next need the token of the current claim (key-level)


@dataclass(frozen=True)
class FailedEvent:
    delivery: str
    order_key: str
    attempts: int
    error: str
    failed_at: float


@dataclass(frozen=True)
class QueueStats:
    pending: int  # waiting or being handled
    running: int  # claimed now
    oldest_received_at: float | None  # of the pending ones (epoch seconds)
    failed: int
    recent_failures: tuple[FailedEvent, ...] = ()


class EventQueue(Protocol):
    async def submit(self, delivery: str, order_key: str, payload: bytes) -> bool:
        """Store durably, behind earlier events of ``order_key``.  False when ``delivery`` is already
        known (pending, running or handled within the dedup window): a duplicate.  A delivery that
        was parked as failed is accepted again (a redelivery is the operator's retry).
        Raises StoreUnavailable when it cannot store."""

    async def claim(self, consumer: str, limit: int, lease: float) -> list[Claimed]:
        """Up to ``limit`` events, each the oldest unfinished one of its key, whose retry time has
        come and which nobody holds (or whose holder's lease expired)."""

    async def extend(self, claimed: Claimed, lease: float) -> bool:
        """Keep holding a claim (the whole key: with any Claimed of it, the head's or a taken one's);
        False when it was lost (expired and taken over)."""

    async def take_next(self, claimed: Claimed) -> Claimed | None:
        """The event right after the last one taken under ``claimed``'s claim, in its key's order,
        taken under the same claim (same token, same lease): None when the claim was lost (or its
        lease ran out) or the key has no further pending event.  Its attempts count grows as a
        claim's does (Claimed.attempt).  Any Claimed carrying the claim's token may be passed; it
        always takes the one after the *last* taken.  The holder finishes the events it took in
        order (ack/fail the head first).  The taken ones go back, untaken, when the claim ends
        otherwise (a retry of the head, ``release_all``, an expired lease)."""

    async def ack(self, claimed: Claimed) -> bool:
        """Done: the payload goes, the delivery id stays for de-duplication.  False: claim lost, or
        ``claimed`` is not the key's head (out of order: nothing changes).  When events were taken
        after it, the next becomes the head still held under the same claim; else the key is free."""

    async def fail(self, claimed: Claimed, error: str, retry_in: float | None) -> bool:
        """Handling failed: retry after ``retry_in`` seconds (the key waits, keeping order; the
        claim ends and the events taken after it go back untaken), or park it as failed when
        ``retry_in`` is None (the key moves on, as with ``ack``: a taken next event stays held).
        False: claim lost, or ``claimed`` is not the key's head."""

    async def seen(self, delivery: str) -> bool:
        """Whether the delivery is known and not failed (repair uses it to skip handled ones)."""

    async def stats(self, recent_failures: int = 20) -> QueueStats: ...

    async def retry_failed(self, delivery: str | None = None) -> int:
        """Put a parked event (or all of them) back in line; returns how many."""

    async def purge(self, handled_before: float) -> int:
        """Forget handled deliveries older than this (the dedup window); returns how many."""

    async def release_all(self, consumer: str | None = None) -> int:
        """Drop claims (of one consumer, or every claim), with the events they took, so they can be
        taken at once: SQLite at start-up, where no other process can hold one."""

    async def close(self) -> None: ...


class StateStore(Protocol):
    async def get(self, ns: str, key: str) -> Any | None: ...

    async def put(self, ns: str, key: str, value: Any, ttl: float | None = None) -> None:
        """``value`` is anything orjson can encode; expires after ``ttl`` seconds when given."""

    async def put_if_absent(self, ns: str, key: str, value: Any, ttl: float | None = None) -> bool:
        """Set only if missing (or expired); True when this call set it.  Once-only work uses it."""

    async def delete(self, ns: str, key: str) -> None: ...

    async def items(self, ns: str) -> dict[str, Any]:
        """Every live entry of a namespace (for small namespaces: repositories in scope ...)."""

    async def append(self, ns: str, value: Any, keep: int) -> None:
        """Add to a history that keeps only the newest ``keep`` entries."""

    async def recent(self, ns: str, limit: int) -> list[Any]:
        """The newest entries of a history, newest first."""

    async def acquire(self, name: str, holder: str, ttl: float) -> int | None:
        """Take or renew a lease: a fencing token (it grows each time the lease changes hands)
        when ``holder`` has it now, None when someone else holds an unexpired lease."""

    async def release(self, name: str, holder: str) -> None: ...

    async def purge(self) -> int:
        """Drop expired entries; returns how many."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Stores:
    events: EventQueue
    state: StateStore
    kind: str  # "sqlite" | "redis" | "memory", for logs and /healthz
    shared: bool  # other processes may share these stores (replicas)
    close: Callable[[], Awaitable[None]]
    # Shared job records, logs and queues (bot.ci.store.SharedJobs) when the stores are shared;
    # None: jobs run where they are started, recorded in SQLite (bot.ci.store.JobStore).
    jobs: Any = None
    # Another durable queue by name (an outbox: bot.notify), apart from the webhook events: its own
    # SQLite file, Redis key prefix, or memory queue.
    queue: Callable[[str], EventQueue] | None = None
