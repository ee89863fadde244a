"""A write budget of one write a minute on a clock the test holds (``HeldClock``), the layered client
over it, and a PR to write to: what the label coalescing and label deferral tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import compose_forge
from bot.events import ItemKind, ItemRef
from bot.forge.budget import LocalWriteBudget, Window
from bot.forge.layered import AsyncForge
from tests.clock import HeldClock
from tests.conftest import AUTHOR, REPO, make_client
from tests.fakes.base import FakeForge


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


def write_kinds(fake: FakeForge, since: int) -> list[str]:
    """The writes since request ``since``, in order: "comment" or "label" (any other write to the item)."""
    return ["comment" if ("/notes" in r.path or "/comments" in r.path) else "label"
            for r in fake.requests[since:] if r.method != "GET"]
