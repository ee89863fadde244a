"""Ordering per key, concurrency across keys, isolation of failures, back-pressure."""

from __future__ import annotations

import asyncio

import pytest

from bot.workqueue import KeyedWorkQueue, QueueFull


async def test_items_of_one_key_run_in_order() -> None:
    seen: list[int] = []

    async def handle(item: int) -> None:
        await asyncio.sleep(0.001 * (5 - item % 5))  # later items would finish first if concurrent
        seen.append(item)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle)
    for i in range(20):
        queue.submit("pr-1", i)
    assert await queue.join(5)
    assert seen == list(range(20))


async def test_different_keys_run_concurrently() -> None:
    second_started = asyncio.Event()

    async def handle(item: str) -> None:
        if item == "a":  # waits for the other key's item: deadlocks if keys were serialised
            await asyncio.wait_for(second_started.wait(), 5)
        else:
            second_started.set()

    queue: KeyedWorkQueue[str] = KeyedWorkQueue(handle)
    queue.submit("pr-1", "a")
    queue.submit("pr-2", "b")
    assert await queue.join(5)


async def test_concurrency_is_bounded() -> None:
    running = 0
    peak = 0

    async def handle(item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_concurrent=3)
    for i in range(12):
        queue.submit(i, i)
    assert await queue.join(5)
    assert peak == 3


async def test_a_failing_item_does_not_stop_the_next() -> None:
    seen: list[int] = []

    async def handle(item: int) -> None:
        if item == 1:
            raise RuntimeError("boom")
        seen.append(item)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle)
    for i in range(3):
        queue.submit("k", i)
    assert await queue.join(5)
    assert seen == [0, 2]
    assert queue.pending == 0


async def test_full_queue_refuses() -> None:
    gate = asyncio.Event()

    async def handle(item: int) -> None:
        await gate.wait()

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle, max_pending=2)
    queue.submit("k", 1)
    queue.submit("k", 2)
    with pytest.raises(QueueFull):
        queue.submit("other", 3)
    gate.set()
    assert await queue.join(5)
    queue.submit("k", 4)  # room again
    assert await queue.join(5)


async def test_join_times_out_while_work_is_stuck() -> None:
    async def handle(item: int) -> None:
        await asyncio.sleep(10)

    queue: KeyedWorkQueue[int] = KeyedWorkQueue(handle)
    queue.submit("k", 1)
    assert await queue.join(0.05) is False
    await queue.close()
