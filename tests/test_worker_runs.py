"""The worker's runs: a PR's queued events handled under one claim, with the label writes they make
while the write budget is spent held back and sent as one call (``bot.worker``, ``bot.forge.deferral``)
— over a real store, through the layered client and the real SDKs against the fake forges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.app import compose_forge
from bot.events import CommentEvent, Event, Item, ItemKind, ItemRef, order_key
from bot.forge.budget import LocalWriteBudget, Window
from bot.forge.deferral import LabelDeferral
from bot.forge.layered import AsyncForge
from bot.store import Stores, open_stores
from bot.store.codec import encode
from bot.worker import EventWorker
from tests.conftest import AUTHOR, REPO, make_client
from tests.fakes.base import FakeForge
from tests.test_label_coalescing import HeldClock, label_requests

Handled = list[tuple[str, int]]  # (delivery, attempt) in the order handled


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        opened = open_stores(tmp_path, server.url, redis_prefix=request.getfixturevalue("redis_prefix"))
    else:
        opened = open_stores(tmp_path, kind=request.param)
    yield opened
    await opened.close()


@pytest.fixture
async def forge(fake: FakeForge) -> AsyncIterator[AsyncForge]:
    """A budget of one write a minute on a fake clock whose waits pass at once: after one write,
    a run's label writes are held; the flush then waits (no time) for its turn."""
    clock = HeldClock()
    clock.release()
    layered = compose_forge(make_client(fake), gate=LocalWriteBudget(fake.name, [Window(1, 60)], clock=clock,
                                                                     sleep=clock.sleep))
    yield layered
    layered.close()


@pytest.fixture
def pull(fake: FakeForge) -> ItemRef:
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    return ItemRef(REPO, number, ItemKind.PULL)


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


async def run_worker(stores: Stores, pull: ItemRef, handle: Callable[[Event, int], Awaitable[None]],
                     *bodies: str, run_limit: int = 16) -> None:
    for i, body in enumerate(bodies, 1):
        event = CommentEvent(f"d{i}", "github", "carl", Item(pull), body=body)
        assert await stores.events.submit(f"github:d{i}", order_key(event), encode(event))
    worker = EventWorker(stores.events, handle, consumer="test", poll=0.05, retry_base=0.05,
                         run_scope=LabelDeferral, run_limit=run_limit)
    worker.start()
    assert await worker.join(20)
    await worker.stop(1)


async def test_a_runs_label_changes_leave_as_one_call(stores: Stores, fake: FakeForge, forge: AsyncForge,
                                                      pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])  # the budget is spent
    seen, handled = len(fake.requests), []
    await run_worker(stores, pull, labelling(forge, handled), "+hold", "+kind/bug", "-needs-docs", "+lgtm", "-hold")
    assert handled == [(f"d{i}", 1) for i in range(1, 6)]
    assert fake.labels(REPO, pull.number) == {"kind/bug", "lgtm"}
    assert len(label_requests(fake, seen)) == 1
    assert forge.deferring.coalesced == 4
    assert (await stores.events.stats()).pending == 0


async def test_a_run_is_at_most_run_limit_events(stores: Stores, fake: FakeForge, forge: AsyncForge,
                                                 pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    seen, handled = len(fake.requests), []
    await run_worker(stores, pull, labelling(forge, handled), "+a", "+b", "+c", "+d", "+e", run_limit=2)
    assert fake.labels(REPO, pull.number) == {"needs-docs", "a", "b", "c", "d", "e"}
    assert len(label_requests(fake, seen)) == 3  # {a, b}, {c, d}, {e}


async def test_an_event_failing_in_a_run_is_retried_after_the_ones_before_it(
        stores: Stores, fake: FakeForge, forge: AsyncForge, pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    handled: Handled = []
    await run_worker(stores, pull, labelling(forge, handled, explode_once="d2"), "+hold", "+bug", "+lgtm")
    # d1 was acknowledged before d2 failed; d3 waited for d2's retry (order kept), then ran.
    assert handled == [("d1", 1), ("d2", 1), ("d2", 2), ("d3", 1)]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "hold", "bug", "lgtm"}
    assert (await stores.events.stats()).failed == 0


async def test_held_changes_that_cannot_be_sent_bring_the_runs_events_back_one_by_one(
        stores: Stores, fake: FakeForge, forge: AsyncForge, pull: ItemRef) -> None:
    """Nothing is acknowledged before its label change reached the forge: when the run's one call
    fails, every event of the run is handled again, alone, where a failure would reach its user."""
    await forge.add_labels(pull, ["needs-docs"])
    if fake.name == "github":
        fake.fail_next("POST", rf"/issues/{pull.number}/labels$", 404)
    else:
        fake.fail_next("PUT", rf"/merge_requests/{pull.number}$", 404)
    handled: Handled = []
    await run_worker(stores, pull, labelling(forge, handled), "+hold", "+bug", "+lgtm")
    assert handled == [("d1", 1), ("d2", 1), ("d3", 1), ("d1", 2), ("d2", 2), ("d3", 2)]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "hold", "bug", "lgtm"}
    assert (await stores.events.stats()).failed == 0


async def test_under_budget_each_event_is_acknowledged_before_the_next_is_handled(
        stores: Stores, fake: FakeForge, pull: ItemRef) -> None:
    forge = compose_forge(make_client(fake))  # no write limit: nothing is ever held
    pending: list[int] = []
    handled: Handled = []
    label = labelling(forge, handled)

    async def handle(event: Event, attempt: int) -> None:
        pending.append((await stores.events.stats()).pending)
        await label(event, attempt)

    try:
        seen = len(fake.requests)
        await run_worker(stores, pull, handle, "+a", "+b", "+c")
    finally:
        forge.close()
    assert pending == [3, 2, 1]  # a crash now would not handle the earlier ones again
    assert len(label_requests(fake, seen)) == 3
    assert handled == [("d1", 1), ("d2", 1), ("d3", 1)]


async def test_a_run_keeps_other_consumers_off_its_key(stores: Stores, fake: FakeForge, forge: AsyncForge,
                                                       pull: ItemRef) -> None:
    await forge.add_labels(pull, ["needs-docs"])
    claims: list[int] = []
    handled: Handled = []
    label = labelling(forge, handled)

    async def handle(event: Event, attempt: int) -> None:
        claims.append(len(await stores.events.claim("replica", 10, 30)))
        await label(event, attempt)

    await run_worker(stores, pull, handle, "+a", "+b", "+c")
    assert claims == [0, 0, 0]
    assert fake.labels(REPO, pull.number) == {"needs-docs", "a", "b", "c"}
