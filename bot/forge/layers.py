"""The layers every forge call passes through, outermost first: metering, pacing, caching, then
off-loop execution of the blocking adapter (``bot.forge.offloop``).  ``Recording`` stands in for
the writing path when prowlet only says what it would do (``prowlet simulate``).

A layer is an async callable taking a ``Call`` and wrapping the next one; ``bot.forge.layered``
builds ``AsyncForge`` on top and ``bot.app`` composes the stack once per forge.  Layers decide by
the method's ``Policy`` (``bot.forge.policy``), never by its name.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachetools import LRUCache, TTLCache

from bot.events import ItemRef
from bot.forge.base import CommitStatus, ForgeClient, ForgeUnavailableError, RateLimitedError, RunStarted
from bot.forge.label_batch import LabelChange, label_writes, net_change
from bot.forge.policy import POLICIES, Kind, Policy


@dataclass(frozen=True)
class Call:
    """One forge operation: the interface's method, its arguments bound by name (defaults applied),
    and the method's policy."""

    method: str
    arguments: Mapping[str, Any]
    policy: Policy
    args: tuple[Any, ...] = ()  # as the adapter takes them
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # What runs at the bottom instead of the adapter's ``method``: another blocking call on the
    # same SDK client (the forge's native CI, ``AsyncForge.native_ci``).
    target: Callable[..., Any] | None = None

    def cache_key(self) -> Hashable | None:
        if self.policy.key is not None:
            key = self.policy.key(self.arguments)
            return None if key is None else (self.method, _frozen(key))
        return self.method, _frozen(tuple(self.arguments.values()))


Handler = Callable[[Call], Awaitable[Any]]


def _frozen(value: Any) -> Hashable:
    """Lists (logins, labels, globs) as tuples, so that arguments can key a cache."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


class Metering:
    """Counts calls, failures and time per method (what the bot asked for; the transport's meter
    counts what went over the wire, 304s apart)."""

    def __init__(self, inner: Handler) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    async def __call__(self, call: Call) -> Any:
        self.calls[call.method] += 1
        started = time.monotonic()
        try:
            return await self._inner(call)
        except Exception:
            self.failures[call.method] += 1
            raise
        finally:
            self.seconds[call.method] += time.monotonic() - started


class Retrying:
    """Rate limits and faults handled, not passed on.

    A rate-limit refusal did nothing, so any call is repeated once the wait the forge asked for
    (Retry-After, or until the limit resets) is over — when that is at most ``max_wait``.  A 5xx
    or a connection failure is retried with exponential backoff and full jitter for reads and for
    writes whose policy is ``retry_safe``; a comment or a merge may have happened before the
    failure, so it is never repeated here (a comment is retried by its poster only after checking
    its marker, ``bot.context.EventScope.post_comment``).  The caller hears of a failure only when
    the attempts are spent.  Waiting is ``await``: no worker thread is held."""

    def __init__(self, inner: Handler, *, attempts: int = 4, backoff: float = 0.5, max_backoff: float = 8.0,
                 max_wait: float = 120.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._inner = inner
        self.attempts, self.backoff, self.max_backoff, self.max_wait = attempts, backoff, max_backoff, max_wait
        self._sleep = sleep
        self.retried = 0

    async def __call__(self, call: Call) -> Any:
        attempt = 1
        while True:
            try:
                return await self._inner(call)
            except RateLimitedError as err:
                wait = err.retry_after if err.retry_after is not None else self._backoff(attempt)
                if attempt >= self.attempts or wait > self.max_wait:
                    raise
            except ForgeUnavailableError:
                repeatable = call.policy.kind is not Kind.WRITE or call.policy.retry_safe
                if not repeatable or attempt >= self.attempts:
                    raise
                wait = self._backoff(attempt)
            self.retried += 1
            attempt += 1
            await self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


class WriteGate(Protocol):
    """Admits one write at a time within the forge's write budget (``bot.forge.budget``)."""

    async def admit(self) -> Callable[[], Awaitable[None]]:
        """Return when one more write may go out now (never sleeps on a thread), with what to
        call once it was answered (or failed)."""

    async def spare(self, keep: float) -> int | None:
        """Writes that may go out now leaving ``keep`` of every window free; None: no limit."""

    def queued(self) -> bool:
        """Whether writes of this process are waiting for room now."""


async def _nothing() -> None:
    return None


class Unlimited:
    async def admit(self) -> Callable[[], Awaitable[None]]:
        return _nothing

    async def spare(self, keep: float) -> int | None:
        return None

    def queued(self) -> bool:
        return False


class Pacing:
    """Every write waits for a token of its forge's write budget; reads pass at once (the off-loop
    pool's size bounds them).

    Label writes that wait are coalesced: a label write (``add_labels``, ``remove_label``,
    ``remove_labels``) to an item whose last queued write is a label write still waiting for its
    token joins it, and when that token comes the batch leaves as ONE ``change_labels`` call with
    the net effect (``bot.forge.label_batch``); every caller that joined gets its answer or its
    exception.  Joining only the item's *last* queued write keeps each item's writes in order (a
    label change never jumps ahead of a comment queued before it); a write that contradicts the
    batch (removes a label it adds, or the reverse) starts the next batch instead, so a batch's
    writes commute and its callers' own retries after a failure cannot reorder them.  A write
    admitted at once goes out alone, unchanged: nothing can join a write that did not wait."""

    def __init__(self, inner: Handler, gate: WriteGate | None = None) -> None:
        self._inner = inner
        self.gate: WriteGate = gate or Unlimited()
        self._queued: dict[Hashable, object] = {}  # item → its last write waiting for a token
        self.coalesced = 0  # label writes that left inside another's change_labels

    async def __call__(self, call: Call) -> Any:
        if call.policy.kind is not Kind.WRITE:
            return await self._inner(call)
        item = call.arguments.get(call.policy.item_arg) if call.policy.item_arg else None
        steps = label_writes(call.method, call.arguments) if item is not None else None
        last = self._queued.get(item) if item is not None else None
        if steps is not None and isinstance(last, _LabelBatch) and last.agrees_with(steps):
            last.steps.extend(steps)
            last.members += 1
            self.coalesced += 1
            return await asyncio.shield(last.answer)
        mine: object = _LabelBatch(list(steps)) if steps is not None else object()
        if item is not None:
            self._queued[item] = mine
        try:
            answered = await self.gate.admit()
        except BaseException:
            if isinstance(mine, _LabelBatch):
                mine.fail(ForgeUnavailableError("a queued label change was abandoned; try again"))
            raise
        finally:
            if item is not None and self._queued.get(item) is mine:
                del self._queued[item]  # admitted (or gone): nothing joins it any more
        try:
            if isinstance(mine, _LabelBatch) and mine.members > 1:
                result = await self._inner(change_labels_call(call, net_change(mine.steps)))
            else:
                result = await self._inner(call)
        except BaseException as err:
            if isinstance(mine, _LabelBatch):
                mine.fail(err if isinstance(err, Exception) else ForgeUnavailableError("a label change was cancelled"))
            raise
        else:
            if isinstance(mine, _LabelBatch):
                mine.answer.set_result(result)
            return result
        finally:
            await answered()


class _LabelBatch:
    """Label writes to one item waiting together for one write token."""

    def __init__(self, steps: list[tuple[str, bool]]) -> None:
        self.steps = steps
        self.members = 1
        self.answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def agrees_with(self, steps: list[tuple[str, bool]]) -> bool:
        """Whether ``steps`` commute with the batch's: no label both added and removed.  A batch of
        commuting writes means the same whatever order its callers retry it in after a failure (each
        retries its own call); a contradicting write starts the next batch, after this one."""
        wanted = dict(self.steps)
        return all(wanted.get(label, adds) == adds for label, adds in steps)

    def fail(self, err: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(err)
            self.answer.exception()  # retrieved: no warning when nobody joined


def change_labels_call(call: Call, change: LabelChange) -> Call:
    """One ``change_labels`` call to ``call``'s item, making ``change``."""
    ref, add, remove = call.arguments["ref"], list(change.add), list(change.remove)
    return Call("change_labels", {"ref": ref, "add": add, "remove": remove}, POLICIES["change_labels"],
                (ref, add, remove))


class Caching:
    """Answers PINNED calls from a bounded LRU kept for good and CACHED ones from a TTL cache per
    method; concurrent identical calls share one request.  Replaces the ad-hoc caches that lived in
    the dispatcher (bot login), the event context (repository labels) and the OWNERS reader (files
    by sha, changed files by head sha)."""

    def __init__(self, inner: Handler, *, pinned_size: int = 50_000, cached_size: int = 4_096) -> None:
        self._inner = inner
        self._pinned: LRUCache[Hashable, Any] = LRUCache(maxsize=pinned_size)
        self._cached: dict[str, LRUCache[Hashable, Any]] = {}
        self._cached_size = cached_size
        self._in_flight: dict[Hashable, asyncio.Future[Any]] = {}

    async def __call__(self, call: Call) -> Any:
        kind = call.policy.kind
        if kind not in (Kind.PINNED, Kind.CACHED):
            return await self._inner(call)
        key = call.cache_key()
        if key is None:
            return await self._inner(call)
        store = self._store(call)
        if key in store:
            return store[key]
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await self._inner(call)
        except BaseException as err:
            if not future.cancelled():
                future.set_exception(err)
                future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        else:
            store[key] = result
            future.set_result(result)
            return result
        finally:
            del self._in_flight[key]

    def forget(self, call: Call) -> None:
        """Drop the cached answer to ``call``, so that the next such call asks the forge."""
        if call.policy.kind in (Kind.PINNED, Kind.CACHED):
            self._store(call).pop(call.cache_key(), None)

    def _store(self, call: Call) -> LRUCache[Hashable, Any]:
        if call.policy.kind is Kind.PINNED:
            return self._pinned
        store = self._cached.get(call.method)
        if store is None:
            ttl = call.policy.ttl
            store = (LRUCache(maxsize=self._cached_size) if ttl is None
                     else TTLCache(maxsize=self._cached_size, ttl=ttl))
            self._cached[call.method] = store
        return store


@dataclass(frozen=True)
class RecordedWrite:
    """A write prowlet would have made: the interface's method and its arguments by name."""

    method: str
    arguments: Mapping[str, Any]

    def __str__(self) -> str:
        shown = ", ".join(f"{name}={_readable(value)}" for name, value in self.arguments.items())
        return f"{self.method}({shown})"


def _readable(value: Any) -> str:
    if isinstance(value, ItemRef):
        return str(value)
    if isinstance(value, CommitStatus):
        return f"{value.context}: {value.state.value} {value.description!r}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_readable(v) for v in value) + "]"
    if hasattr(value, "value") and hasattr(value, "name"):  # an enum: merge method, hook level
        return str(value.value)
    return repr(value)


def _returns() -> dict[str, str]:
    """Each interface method's declared return type, as written (annotations are strings here)."""
    return {name: str(inspect.signature(member).return_annotation)
            for name, member in vars(ForgeClient).items() if callable(member) and not name.startswith("_")}


class Recording:
    """Writes are recorded, not made: each is kept in ``writes`` (in order) and answered with what
    the forge would plausibly answer — a new id where the interface returns one, "nobody was
    refused" where it returns the refused logins.  Reads pass to the layers below."""

    _RESULTS: dict[str, Callable[[itertools.count[int]], Any]] = {
        "int": lambda ids: next(ids),  # a comment's id, a new PR/MR's number
        "frozenset[str]": lambda ids: frozenset(),  # logins that could not be assigned / requested
        "RunStarted": lambda ids: RunStarted(next(ids)),  # a workflow run / pipeline an alias started
    }

    def __init__(self, inner: Handler, writes: list[RecordedWrite]) -> None:
        self._inner = inner
        self.writes = writes
        self._ids = itertools.count(1_000_000_001)  # far from the ids a test forge or a real one hands out first
        self._returns = _returns()

    async def __call__(self, call: Call) -> Any:
        if call.policy.kind is not Kind.WRITE:
            return await self._inner(call)
        self.writes.append(RecordedWrite(call.method, dict(call.arguments)))
        make = self._RESULTS.get(self._returns.get(call.method, "None"))
        return make(self._ids) if make else None
