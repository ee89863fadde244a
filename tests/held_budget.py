"""A write budget of one write a minute on a clock the test holds (``HeldClock``), the layered client
over it, and a PR to write to: what the label coalescing and label deferral tests share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.app import compose_forge
from bot.events import ItemKind, ItemRef
from bot.forge.budget import LocalWriteBudget, Window
from bot.forge.layered import AsyncForge
from tests.conftest import AUTHOR, REPO, make_client
from tests.fakes.base import FakeForge


class HeldClock:
    """Fake time for the write budget: the first wait for room lasts until ``release()``; after
    that, waiting moves time on at once.  So writes queue behind a full budget exactly as long as
    the test wants, with no timing in the test."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waiting = asyncio.Event()
        self._released = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waiting.set()
        await self._released.wait()
        await asyncio.sleep(0.01)  # the budget polls while a write is in flight: let its answer in
        self.now += seconds

    def release(self) -> None:
        self._released.set()


@pytest.fixture
async def clock() -> HeldClock:
    return HeldClock()


@pytest.fixture
async def forge(fake: FakeForge, clock: HeldClock) -> AsyncIterator[AsyncForge]:
    # One write a minute: after the first, every write waits for the clock.
    budget = LocalWriteBudget(fake.name, [Window(1, 60)], clock=clock, sleep=clock.sleep)
    layered = compose_forge(make_client(fake), gate=budget)
    yield layered
    layered.close()


@pytest.fixture
def pull(fake: FakeForge) -> ItemRef:
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    return ItemRef(REPO, number, ItemKind.PULL)


def label_requests(fake: FakeForge, since: int) -> list[str]:
    """The writes that changed labels since request ``since``: "METHOD path"."""
    return [f"{r.method} {r.path}" for r in fake.requests[since:]
            if r.method != "GET" and ("/labels" in r.path or "merge_requests/" in r.path or "issues/" in r.path)
            and "/notes" not in r.path and "/comments" not in r.path]
