"""The worker over a real store: order per key, concurrency across keys, retries, parking, fencing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.events import CommentEvent, Event, Item, ItemKind, ItemRef, order_key
from bot.store import Stores, open_stores
from bot.store.codec import encode
from bot.worker import EventWorker, backoff


@pytest.fixture(params=["memory", "sqlite"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    opened = open_stores(tmp_path, kind=request.param)
    yield opened
    await opened.close()


def event(number: int, body: str, delivery: str) -> CommentEvent:
    ref = ItemRef("acme/widgets", number, ItemKind.PULL)
    return CommentEvent(delivery, "github", "carl", Item(ref), body=body)


async def submit(stores: Stores, *events: Event) -> None:
    for e in events:
        assert await stores.events.submit(f"github:{e.delivery_id}", order_key(e), encode(e))


def worker(stores: Stores, handle: Callable[[Event, int], Awaitable[None]], **kw: float) -> EventWorker:
    return EventWorker(stores.events, handle, consumer="test", poll=0.05, retry_base=0.05, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("attempt, expected", [(1, 2.0), (2, 4.0), (3, 8.0), (20, 300.0)],
                         ids=["first-retry", "doubles", "doubles-again", "capped"])
def test_backoff(attempt: int, expected: float) -> None:
    assert backoff(attempt) == expected


async def test_events_of_one_item_run_in_order_and_items_run_concurrently(stores: Stores) -> None:
    seen: list[tuple[int, str]] = []
    other_started = asyncio.Event()

    async def handle(e: Event, attempt: int) -> None:
        assert isinstance(e, CommentEvent)
        if e.body == "wait-for-other":  # deadlocks if items were serialised
            await asyncio.wait_for(other_started.wait(), 5)
        if e.ref.number == 2:
            other_started.set()
        await asyncio.sleep(0.001 * (5 - int(e.delivery_id[1:]) % 5))  # later ones would overtake
        seen.append((e.ref.number, e.body))

    await submit(stores, event(1, "wait-for-other", "d0"),
                 *(event(1, f"c{i}", f"d{i}") for i in range(1, 10)), event(2, "x", "d10"))
    w = worker(stores, handle)
    w.start()
    assert await w.join(10)
    await w.stop(1)
    assert [body for number, body in seen if number == 1] == ["wait-for-other"] + [f"c{i}" for i in range(1, 10)]
    assert (2, "x") in seen


async def test_a_failing_event_is_retried_then_succeeds_keeping_order(stores: Stores) -> None:
    calls: list[tuple[str, int]] = []

    async def handle(e: Event, attempt: int) -> None:
        calls.append((e.delivery_id, attempt))
        if e.delivery_id == "d1" and attempt < 3:
            raise RuntimeError("forge exploded")

    await submit(stores, event(1, "a", "d1"), event(1, "b", "d2"))
    w = worker(stores, handle)
    w.start()
    assert await w.join(10)
    await w.stop(1)
    assert calls == [("d1", 1), ("d1", 2), ("d1", 3), ("d2", 1)]
    assert (await stores.events.stats()).failed == 0


async def test_an_event_that_keeps_failing_is_parked_with_its_error(stores: Stores) -> None:
    handled: list[str] = []

    async def handle(e: Event, attempt: int) -> None:
        if e.delivery_id == "d1":
            raise RuntimeError("always")
        handled.append(e.delivery_id)

    await submit(stores, event(1, "a", "d1"), event(1, "b", "d2"))
    w = worker(stores, handle, max_attempts=3)
    w.start()
    assert await w.join(10)
    await w.stop(1)
    stats = await stores.events.stats()
    (failure,) = stats.recent_failures
    assert (failure.delivery, failure.attempts, failure.error) == ("github:d1", 3, "RuntimeError: always")
    assert handled == ["d2"]  # the item moved on


async def test_an_unreadable_record_is_parked_not_dropped(stores: Stores) -> None:
    await stores.events.submit("github:bad", "github:pull:1:acme/widgets", b'{"v": 99, "type": "CommentEvent"}')

    async def handle(e: Event, attempt: int) -> None:
        raise AssertionError("never called")

    w = worker(stores, handle)
    w.start()
    assert await w.join(10)
    await w.stop(1)
    (failure,) = (await stores.events.stats()).recent_failures
    assert "newer than this prowlet" in failure.error


async def test_stop_hands_unfinished_events_back_for_the_next_process(stores: Stores) -> None:
    started = asyncio.Event()

    async def stuck(e: Event, attempt: int) -> None:
        started.set()
        await asyncio.sleep(3600)

    await submit(stores, event(1, "a", "d1"))
    w = worker(stores, stuck)
    w.start()
    await asyncio.wait_for(started.wait(), 5)
    await w.stop(0.05)
    attempts: list[int] = []

    async def handle(e: Event, attempt: int) -> None:
        attempts.append(attempt)

    nxt = worker(stores, handle)
    nxt.start()
    assert await nxt.join(10)
    await nxt.stop(1)
    assert attempts == [2]  # the second run knows an earlier one may have acted


async def test_leases_of_events_in_hand_are_renewed(stores: Stores) -> None:
    release = asyncio.Event()

    async def slow(e: Event, attempt: int) -> None:
        await release.wait()

    await submit(stores, event(1, "a", "d1"))
    w = EventWorker(stores.events, slow, consumer="keeper", lease=0.3, poll=0.05)
    w.start()
    await asyncio.sleep(1.0)  # three leases long: without renewal another consumer could take it
    assert await stores.events.claim("other", 10, 30) == []
    release.set()
    assert await w.join(10)
    await w.stop(1)
