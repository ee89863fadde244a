"""The worker's runs: a PR's queued events handled under one claim, with the label writes they make
while the write budget is spent held back and sent as one call (``bot.worker``, ``bot.forge.deferral``)
— over a real store, through the layered client and the real SDKs against the fake forges."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.app import compose_forge
from bot.events import CommentEvent, Event, Item, ItemRef, order_key
from bot.forge.deferral import LabelDeferral
from bot.forge.layered import AsyncForge
from bot.store import Stores
from bot.store.codec import encode
from bot.worker import EventWorker
from tests.conftest import REPO, make_client
from tests.fakes.base import FakeForge
from tests.held_budget import HeldClock, clock, forge, label_requests, pull  # noqa: F401 (fixtures)
from tests.store_kinds import stores  # noqa: F401 (fixture)

Handled = list[tuple[str, int]]  # (delivery, attempt) in the order handled


@pytest.fixture(autouse=True)
def waits_pass_at_once(clock: HeldClock) -> None:
    """One write a minute (``forge``), on a clock that moves only when a write waits for its turn
    (at once) or when a test says a minute passed: after one write, a run's label writes are held,
    and the run waits for room until the test lets the minute pass."""
    clock.release()


def labelling(forge: AsyncForge, handled: Handled, explode_once: str = "") -> Callable[[Event, int], Awaitable[None]]:
    """A handler whose events name a label to add ("+x") or remove ("-x"); ``explode_once``'s first
    attempt raises after its label change."""

    async def handle(event: Event, attempt: int) -> None:
        assert isinstance(event, CommentEvent)
        handled.append((event.delivery_id, attempt))
        label = event.body[1:]
        if event.body.startswith("+"):
            await forge.add_labels(event.ref, [label])
        else:
            await forge.remove_label(event.ref, label)
        if event.delivery_id == explode_once and attempt == 1:
            raise RuntimeError("the plugin crashed")

    return handle


class Events:
    """One PR's events through a worker with runs, the budget's minute passing when the test says."""

    def __init__(self, stores: Stores, pull: ItemRef, clock: HeldClock) -> None:
        self.stores, self.pull, self.clock = stores, pull, clock
        self.sent = 0
        self.worker: EventWorker | None = None

    async def submit(self, *bodies: str) -> None:
        for body in bodies:
            self.sent += 1
            event = CommentEvent(f"d{self.sent}", "github", "carl", Item(self.pull), body=body)
            assert await self.stores.events.submit(f"github:d{self.sent}", order_key(event), encode(event))

    def start(self, handle: Callable[[Event, int], Awaitable[None]], run_limit: int = 16) -> None:
        self.worker = EventWorker(self.stores.events, handle, consumer="test", poll=0.05, retry_base=0.05,
                                  run_scope=LabelDeferral, run_limit=run_limit)
        self.worker.start()

    async def finish(self, handled: Handled, first: int) -> None:
        """Once ``first`` handlings happened, minutes pass until every event is done."""
        assert self.worker is not None
        for _ in range(400):
            if len(handled) >= first:
                break
            await asyncio.sleep(0.05)
        for _ in range(400):
            if await self.worker.join(0.05):
                break
            self.clock.now += 61  # the minute is over: what a run holds may go
        assert await self.worker.join(1)
        await self.worker.stop(1)


@pytest.fixture
def events(stores: Stores, pull: ItemRef, clock: HeldClock) -> Events:
    return Events(stores, pull, clock)


async def test_a_runs_label_changes_leave_as_one_call(events: Events, stores: Stores, fake: FakeForge,
                                                      forge: AsyncForge, pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])  # the budget is spent
    seen, handled = len(fake.requests), []
    await events.submit("+hold", "+kind/bug", "-needs-docs", "+lgtm", "-hold")
    events.start(labelling(forge, handled))
    await events.finish(handled, 5)
    assert handled == [(f"d{i}", 1) for i in range(1, 6)]
    assert fake.labels(REPO, pull.number) == {"kind/bug", "lgtm"}
    assert len(label_requests(fake, seen)) == 1
    assert forge.deferring.coalesced == 4
    assert (await stores.events.stats()).pending == 0


async def test_events_that_arrive_while_a_run_waits_for_room_join_it(events: Events, fake: FakeForge,
                                                                      forge: AsyncForge, pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    seen, handled = len(fake.requests), []
    await events.submit("+hold")
    events.start(labelling(forge, handled))
    for _ in range(400):
        if handled:
            break
        await asyncio.sleep(0.05)
    await events.submit("+kind/bug", "+lgtm")  # the hold is held: no room yet
    await events.finish(handled, 3)
    assert handled == [("d1", 1), ("d2", 1), ("d3", 1)]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "hold", "kind/bug", "lgtm"}
    assert len(label_requests(fake, seen)) == 1


async def test_a_run_is_at_most_run_limit_events(events: Events, fake: FakeForge, forge: AsyncForge,
                                                 pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    seen, handled = len(fake.requests), []
    await events.submit("+a", "+b", "+c", "+d", "+e")
    events.start(labelling(forge, handled), run_limit=2)
    await events.finish(handled, 5)
    assert fake.labels(REPO, pull.number) == {"needs-docs", "a", "b", "c", "d", "e"}
    assert len(label_requests(fake, seen)) == 3  # {a, b}, {c, d}, {e}


async def test_an_event_failing_in_a_run_is_retried_after_the_ones_before_it(
        events: Events, stores: Stores, fake: FakeForge, forge: AsyncForge, pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    handled: Handled = []
    await events.submit("+hold", "+bug", "+lgtm")
    events.start(labelling(forge, handled, explode_once="d2"))
    await events.finish(handled, 4)
    # d1 was acknowledged before d2 failed; d3 waited for d2's retry (order kept), then ran.
    assert handled == [("d1", 1), ("d2", 1), ("d2", 2), ("d3", 1)]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "hold", "bug", "lgtm"}
    assert (await stores.events.stats()).failed == 0


async def test_held_changes_that_cannot_be_sent_bring_the_runs_events_back_one_by_one(
        events: Events, stores: Stores, fake: FakeForge, forge: AsyncForge, pull: ItemRef) -> None:
    """Nothing is acknowledged before its label change reached the forge: when the run's one call
    fails, every event of the run is handled again, alone, where a failure would reach its user."""
    await forge.add_labels(pull, ["needs-docs"])
    if fake.name == "github":
        fake.fail_next("POST", rf"/issues/{pull.number}/labels$", 404)
    else:
        fake.fail_next("PUT", rf"/merge_requests/{pull.number}$", 404)
    handled: Handled = []
    await events.submit("+hold", "+bug", "+lgtm")
    events.start(labelling(forge, handled))
    await events.finish(handled, 3)
    assert handled == [("d1", 1), ("d2", 1), ("d3", 1), ("d1", 2), ("d2", 2), ("d3", 2)]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "hold", "bug", "lgtm"}
    assert (await stores.events.stats()).failed == 0


async def test_under_budget_each_event_is_acknowledged_before_the_next_is_handled(
        events: Events, stores: Stores, fake: FakeForge, pull: ItemRef) -> None:
    forge = compose_forge(make_client(fake))  # no write limit: nothing is ever held
    pending: list[int] = []
    handled: Handled = []
    label = labelling(forge, handled)

    async def handle(event: Event, attempt: int) -> None:
        pending.append((await stores.events.stats()).pending)
        await label(event, attempt)

    try:
        seen = len(fake.requests)
        await events.submit("+a", "+b", "+c")
        events.start(handle)
        await events.finish(handled, 3)
    finally:
        forge.close()
    assert pending == [3, 2, 1]  # a crash now would not handle the earlier ones again
    assert len(label_requests(fake, seen)) == 3
    assert handled == [("d1", 1), ("d2", 1), ("d3", 1)]


async def test_a_run_keeps_other_consumers_off_its_key(events: Events, stores: Stores, fake: FakeForge,
                                                       forge: AsyncForge, pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    claims: list[int] = []
    handled: Handled = []
    label = labelling(forge, handled)

    async def handle(event: Event, attempt: int) -> None:
        claims.append(len(await stores.events.claim("replica", 10, 30)))
        await label(event, attempt)

    await events.submit("+a", "+b", "+c")
    events.start(handle)
    await events.finish(handled, 3)
    assert claims == [0, 0, 0]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "a", "b", "c"}
