"""The write budget of one forge identity: where it is enforced, and reported.

GitHub's secondary limits allow 80 content-creating requests a minute and 500 an hour per
identity; a client over them gets 403s with Retry-After and risks being blocked.  PyGithub's own
throttle (a sleep between requests, per thread) both slows every read and, with eight threads,
lets writes through six times too fast, so it is off, and every write (``Kind.WRITE`` in
``bot.forge.policy``) instead waits here for room in every window: at most ``writes`` in any
``seconds``.  Waiting is an ``await``: no thread is held, reads go on.  Waiters are admitted in
arrival order, so writes leave in the order they were made.

A write holds its place in a window from its admission until ``seconds`` after its answer came
back: the forge counts it when it arrives, somewhere in between, so counting from the answer keeps
the forge's own window under the limit however the network delays requests.

``LocalWriteBudget`` keeps the windows in memory (one process: SQLite).  ``SharedWriteBudget``
keeps them in the state store, so replicas sharing Redis share one budget: each window is
``writes`` slots, a write takes a free slot with ``put_if_absent`` and the slot frees itself
``seconds`` later (its TTL) — a sliding window, with no new store primitive.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from bot.store.base import StateStore

log = structlog.get_logger("prowlet.forge")

DEFAULT_LIMITS = ("80/1m", "500/1h")
IN_FLIGHT = float("inf")  # a write sent and not yet answered: it holds its place  # GitHub's secondary limits on content-creating requests
_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\S+)\s*")
NS = "write-budget"
IN_FLIGHT_HOLD = 120.0  # seconds a shared slot stays taken before its write is answered


@dataclass(frozen=True)
class Window:
    writes: int
    seconds: float


def parse_limit(text: str) -> Window | None:
    """"80/1m" → at most 80 writes in any minute; None when malformed."""
    from bot.config import parse_duration  # the config's duration syntax ("90s", "1m", "1h")

    match = _LIMIT.fullmatch(text)
    if not match:
        return None
    seconds = parse_duration(match.group(2))
    writes = int(match.group(1))
    return Window(writes, seconds) if seconds and writes > 0 else None


class _Reporting:
    """Counts admissions and waits; one log line when writes start queueing, one when they stop."""

    def __init__(self, forge: str) -> None:
        self.forge = forge
        self.admitted = 0
        self.delayed = 0  # writes that had to wait for room
        self._queueing = False
        self._turn = asyncio.Lock()  # FIFO: waiters are admitted in arrival order

    def queued(self) -> bool:
        """Whether a write of this process is waiting for room (or being admitted) now."""
        return self._turn.locked()

    def _admitted(self, waited: bool) -> None:
        self.admitted += 1
        self.delayed += waited
        if waited and not self._queueing:
            log.info("write budget reached: writes are queued", forge=self.forge)
        elif not waited and self._queueing:
            log.info("write budget has room again", forge=self.forge, delayed=self.delayed)
        self._queueing = waited


class LocalWriteBudget(_Reporting):
    def __init__(self, forge: str, windows: Sequence[Window], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(forge)
        self._windows = [(w, deque[list[float]]()) for w in windows]
        self._clock, self._sleep = clock, sleep

    async def admit(self) -> Callable[[], Awaitable[None]]:
        """Wait for room; returns what to call once the write is answered."""
        waited = False
        async with self._turn:
            while True:
                now = self._clock()
                wait = max((self._room_in(w, sent, now) for w, sent in self._windows), default=0.0)
                if wait <= 0:
                    places = []
                    for _, sent in self._windows:
                        place = [IN_FLIGHT]
                        sent.append(place)
                        places.append(place)
                    self._admitted(waited)

                    async def answered() -> None:
                        for place in places:
                            place[0] = self._clock()

                    return answered
                waited = True
                await self._sleep(wait if wait != IN_FLIGHT else 0.05)

    async def spare(self, keep: float) -> int | None:
        """Writes that may go out now while ``keep`` (a fraction) of every window stays free for
        other writes; None without limits.  For work that can wait for a later round (merge
        statuses), so that it never queues behind the budget nor spends what commands need."""
        if not self._windows:
            return None
        now = self._clock()
        room = []
        for window, sent in self._windows:
            self._room_in(window, sent, now)  # forgets the places that aged out
            room.append(int(window.writes * (1 - keep)) - len(sent))
        return max(0, min(room))

    def in_window(self) -> int:
        """Writes held in the fullest window now (sent recently, or in flight): the bucket's level."""
        now = self._clock()
        return max((sum(1 for place in sent if place[0] > now - w.seconds) for w, sent in self._windows), default=0)

    @staticmethod
    def _room_in(window: Window, sent: deque[list[float]], now: float) -> float:
        """Seconds until ``window`` has room for one more write (≤ 0: now)."""
        for place in list(sent):
            if place[0] <= now - window.seconds:
                sent.remove(place)
        if len(sent) < window.writes:
            return 0.0
        return min(place[0] for place in sent) + window.seconds - now


class SharedWriteBudget(_Reporting):
    def __init__(self, forge: str, windows: Sequence[Window], state: StateStore, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        super().__init__(forge)
        self._windows = list(windows)
        self._state = state
        self._sleep = sleep

    async def admit(self) -> Callable[[], Awaitable[None]]:
        waited = False
        async with self._turn:
            while True:
                taken: list[tuple[str, Window]] = []
                for window in self._windows:
                    slot = await self._take_slot(window)
                    if slot is None:
                        break
                    taken.append((slot, window))
                if len(taken) == len(self._windows):
                    self._admitted(waited)

                    async def answered() -> None:  # the place is held for a window from now
                        for slot, window in taken:
                            await self._state.put(NS, slot, time.time(), ttl=window.seconds)

                    return answered
                for slot, _ in taken:  # room in one window but not another: give the slot back
                    await self._state.delete(NS, slot)
                waited = True
                full = self._windows[len(taken)]
                await self._sleep(full.seconds / full.writes)  # about when the next slot frees

    async def spare(self, keep: float) -> int | None:
        """As ``LocalWriteBudget.spare``, counting the slots every replica holds."""
        if not self._windows:
            return None
        held = await self._state.items(NS)
        room = []
        for window in self._windows:
            prefix = f"{self.forge}:{window.seconds:g}:"
            room.append(int(window.writes * (1 - keep)) - sum(1 for slot in held if slot.startswith(prefix)))
        return max(0, min(room))

    async def _take_slot(self, window: Window) -> str | None:
        start = random.randrange(window.writes)  # replicas rarely race for the same slot
        for i in range(window.writes):
            slot = f"{self.forge}:{window.seconds:g}:{(start + i) % window.writes}"
            # held while in flight (bounded, should the process die), then a window from its answer
            if await self._state.put_if_absent(NS, slot, time.time(), ttl=window.seconds + IN_FLIGHT_HOLD):
                return slot
        return None
