"""Takes events from the durable queue and handles them: at least once, in order per PR/MR.

Each claim is a lease kept alive while its event is handled; a process that dies stops renewing, so
its events go to whichever process claims next (the next start of this one, or a replica).  A handler
that raises is retried with exponential backoff (its PR's later events wait, keeping order) and,
after ``max_attempts``, parked as failed: visible in ``prowlet queue``, retried by a redelivery or by
``prowlet queue --retry``, never dropped.

Intake ``wake()``s the worker after each accepted delivery, so handling starts at once; the poll
interval only matters for retries coming due and for events another replica stored.

Runs: given a ``run_scope``, each event is handled inside a scope (the webhook worker's holds back
label writes while the write budget is spent: ``bot.forge.deferral``).  While the scope holds
something, the worker takes the key's next queued events under the same claim
(``EventQueue.take_next``) and handles them in the same scope, up to ``run_limit``; while what it
holds could not be sent anyway, the key's events that arrive meanwhile join the run too.  An
event is acknowledged only once whatever the scope held for it has been sent; if sending fails, the
run's unacknowledged events come again after a backoff, each on its own (a retry never runs in a
run), where a failure reaches the user as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import structlog

from bot.events import Event
from bot.store.base import Claimed, EventQueue, StoreUnavailable
from bot.store.codec import CodecError, decode
from bot.tasks import cancel_and_wait

log = structlog.get_logger("prowlet.worker")

Handler = Callable[[Event, int], Awaitable[None]]  # (event, attempt number: 1 on the first)
RUN_POLL = 0.25  # seconds between looks for room and for the key's next event while a run waits


class RunScope(Protocol):
    """What the handling of a run of one key's events shares (``bot.forge.deferral.LabelDeferral``)."""

    def active(self) -> AbstractContextManager[Any]:
        """Entered around the handling of the run's events."""

    @property
    def holding(self) -> bool:
        """Whether effects of the events handled so far are still held back."""

    async def ready(self) -> bool:
        """Whether what is held back could be sent now without waiting."""

    async def flush(self) -> None:
        """Send what is held back; raises when that fails.  The run ends with it."""


def backoff(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Seconds before attempt ``attempt + 1``: 2, 4, 8 ... capped."""
    return min(cap, base * 2 ** (attempt - 1))


class EventWorker:
    def __init__(self, events: EventQueue, handle: Callable[[Any, int], Awaitable[None]], *, consumer: str,
                 max_concurrent: int = 32, lease: float = 60.0, poll: float = 1.0, max_attempts: int = 5,
                 retry_base: float = 2.0, decode: Callable[[bytes], Any] = decode,
                 run_scope: Callable[[], RunScope] | None = None, run_limit: int = 16) -> None:
        """``decode``: how a payload becomes what ``handle`` takes (default: a webhook's Event; the
        job queue and the job outbox reuse this worker with their own).  ``run_scope``: handle a
        key's queued events in runs of up to ``run_limit``, each run in a new scope (see above)."""
        self._events = events
        self._decode = decode
        self._handle = handle
        self.consumer = consumer
        self._max_concurrent = max_concurrent
        self._lease = lease
        self._poll = poll
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._run_scope = run_scope
        self._run_limit = run_limit
        self._tasks: dict[asyncio.Task[None], Claimed] = {}
        self._wakeup = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._keeper_task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop_task = loop.create_task(self._run())
        self._keeper_task = loop.create_task(self._keep_leases())

    async def stop(self, grace: float) -> None:
        """Stop claiming, give events in hand ``grace`` seconds, then cut the rest off and hand
        their claims back: they are stored, so the next process (or a replica) handles them."""
        self._stopping = True
        self.wake()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await cancel_and_wait([self._keeper_task])
        if self._tasks:
            _, unfinished = await asyncio.wait(list(self._tasks), timeout=grace)
            await cancel_and_wait(unfinished)
            if unfinished:
                log.warning("events left for the next process", count=len(unfinished))
        with contextlib.suppress(StoreUnavailable):
            await self._events.release_all(self.consumer)

    async def join(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is pending or in flight (tests; orderly shutdown reports)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._tasks and (await self._events.stats(0)).pending == 0:
                return True
            await asyncio.sleep(0.01)
        return False

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()  # before claiming: a wake during the claim is not lost
            free = self._max_concurrent - len(self._tasks)
            claimed: list[Claimed] = []
            if free > 0:
                try:
                    claimed = await self._events.claim(self.consumer, free, self._lease)
                except StoreUnavailable as err:
                    log.warning("cannot claim events; will try again", error=str(err))
                except Exception:
                    log.exception("claiming events failed; will try again")
            for item in claimed:
                task = asyncio.get_running_loop().create_task(self._work(item))
                self._tasks[task] = item
                task.add_done_callback(self._done)
            if claimed and len(claimed) == free:
                await self._wait(None)  # every slot busy: a finishing task wakes us
            elif not claimed:
                await self._wait(self._poll)

    async def _wait(self, timeout: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self.wake()  # a slot is free, and the finished key's next event may be claimable

    async def _work(self, claimed: Claimed) -> None:
        if self._run_scope is not None and claimed.attempt == 1:
            await self._work_run(claimed, self._run_scope())
            return
        failure = await self._handle_one(claimed)
        await self._finish(self._outcome(claimed, failure), self._bound(claimed))

    async def _handle_one(self, claimed: Claimed) -> BaseException | None:
        """Decode and handle one event: None when handled, else what went wrong (logged)."""
        bound = self._bound(claimed)
        try:
            event = self._decode(claimed.payload)
        except CodecError as err:
            bound.error("stored event cannot be read; parked", error=str(err))
            return err
        try:
            await self._handle(event, claimed.attempt)
        except Exception as err:
            bound.exception("event handling failed", retry_in=self._retry_in(claimed))
            return err
        return None

    async def _work_run(self, head: Claimed, scope: RunScope) -> None:
        """Handle ``head`` in a new scope and, while the scope holds something back, the key's next
        events too; acknowledge them once what was held has been sent.  A scope that holds nothing
        ends the run at once: the event is acknowledged as without runs, at no extra cost."""
        done: list[Claimed] = []  # handled, acknowledged once what the run held has been sent
        failed: tuple[Claimed, BaseException] | None = None
        current: Claimed | None = head
        with scope.active():
            while current is not None:
                failure = await self._handle_one(current)
                if failure is not None:
                    failed = (current, failure)
                    break
                done.append(current)
                if not scope.holding or len(done) >= self._run_limit or self._stopping:
                    break
                current = await self._take_next(current) or await self._next_while_held(current, scope)
        try:
            await scope.flush()
        except Exception as err:
            # What the run held back did not reach the forge: failing its head gives every event of
            # the run back (none was acknowledged), to come again one by one.
            retry_in = backoff(head.attempt, self._retry_base)
            bound = self._bound(head)
            bound.warning("a run's held-back writes failed; its events will run again",
                          error=str(err), events=len(done) + (failed is not None), retry_in=retry_in)
            await self._finish(self._events.fail(head, f"{type(err).__name__}: {err}"[:500], retry_in), bound)
            return
        for claimed in done:
            await self._finish(self._events.ack(claimed), self._bound(claimed))
        if failed is not None:
            await self._finish(self._outcome(*failed), self._bound(failed[0]))

    async def _next_while_held(self, last: Claimed, scope: RunScope) -> Claimed | None:
        """No next event queued: while what the run holds could not be sent now anyway (the write
        budget is spent), the key's next events join the run as they arrive; None once it could."""
        while not self._stopping and not await scope.ready():
            await asyncio.sleep(RUN_POLL)
            taken = await self._take_next(last)
            if taken is not None:
                return taken
        return None

    async def _take_next(self, claimed: Claimed) -> Claimed | None:
        try:
            return await self._events.take_next(claimed)
        except StoreUnavailable as err:
            log.warning("cannot take the next event of a run; the run ends here", error=str(err))
        except Exception:
            log.exception("taking the next event of a run failed; the run ends here")
        return None

    def _retry_in(self, claimed: Claimed) -> float | None:
        return backoff(claimed.attempt, self._retry_base) if claimed.attempt < self._max_attempts else None

    def _outcome(self, claimed: Claimed, failure: BaseException | None) -> Awaitable[bool]:
        """Acknowledge a handled event; park an unreadable one; retry (or park) a failed one."""
        if failure is None:
            return self._events.ack(claimed)
        if isinstance(failure, CodecError):
            return self._events.fail(claimed, str(failure), None)
        return self._events.fail(claimed, f"{type(failure).__name__}: {failure}"[:500], self._retry_in(claimed))

    @staticmethod
    def _bound(claimed: Claimed) -> structlog.typing.FilteringBoundLogger:
        return log.bind(delivery=claimed.delivery, attempt=claimed.attempt)

    async def _finish(self, outcome: Awaitable[bool], bound: structlog.typing.FilteringBoundLogger) -> None:
        try:
            if not await outcome:
                bound.warning("claim was lost before the event finished; another consumer has it")
        except StoreUnavailable as err:
            # The event stays claimed; its lease runs out and it is handled again (idempotently).
            bound.warning("could not record the outcome; the event will run again", error=str(err))

    async def _keep_leases(self) -> None:
        """Renew the lease of every event in hand, every third of a lease: one loop for all of them
        rather than a task per event (intake's hot path creates enough tasks already)."""
        while True:
            await asyncio.sleep(self._lease / 3)
            for task, claimed in list(self._tasks.items()):
                try:
                    # A task that finished meanwhile has acknowledged: its claim is gone, not lost
                    # (its done-callback may not have run yet, so ask the task itself).
                    if not await self._events.extend(claimed, self._lease) and not task.done():
                        log.warning("lease lost while handling; another consumer may run this event too",
                                    delivery=claimed.delivery)
                except StoreUnavailable as err:
                    log.warning("could not renew a lease", delivery=claimed.delivery, error=str(err))
