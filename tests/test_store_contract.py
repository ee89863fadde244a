"""One contract for every store: SQLite, Redis (a real redis-server) and the in-memory one."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from bot.store import Claimed, Stores, open_stores
from tests.store_kinds import stores  # noqa: F401 (fixture)

LEASE = 30.0
SHORT = 0.2  # a lease or retry delay the tests wait out




async def _fill(stores: Stores, *items: tuple[str, str]) -> None:
    for delivery, key in items:
        assert await stores.events.submit(delivery, key, f"payload of {delivery}".encode())


# ---- the event queue ------------------------------------------------------------------------

async def test_a_submitted_event_is_claimed_with_its_payload(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"))
    (claimed,) = await stores.events.claim("c1", 10, LEASE)
    assert (claimed.delivery, claimed.order_key, claimed.payload, claimed.attempt) == ("d1", "pr-1", b"payload of d1", 1)
    assert await stores.events.claim("c2", 10, LEASE) == []  # held


@pytest.mark.parametrize("stage", ["pending", "running", "handled"])
async def test_a_known_delivery_is_a_duplicate(stores: Stores, stage: str) -> None:
    await _fill(stores, ("d1", "pr-1"))
    if stage != "pending":
        (claimed,) = await stores.events.claim("c1", 10, LEASE)
        if stage == "handled":
            assert await stores.events.ack(claimed)
    assert not await stores.events.submit("d1", "pr-1", b"again")
    assert await stores.events.seen("d1")


async def test_only_the_oldest_event_of_a_key_is_claimable(stores: Stores) -> None:
    await _fill(stores, ("a1", "A"), ("a2", "A"), ("b1", "B"))
    first = await stores.events.claim("c1", 10, LEASE)
    assert sorted(c.delivery for c in first) == ["a1", "b1"]
    assert await stores.events.claim("c1", 10, LEASE) == []
    for claimed in first:
        assert await stores.events.ack(claimed)
    assert [c.delivery for c in await stores.events.claim("c1", 10, LEASE)] == ["a2"]


async def test_claims_come_oldest_first_and_respect_the_limit(stores: Stores) -> None:
    await _fill(stores, *((f"d{i}", f"key-{i}") for i in range(5)))
    assert [c.delivery for c in await stores.events.claim("c1", 2, LEASE)] == ["d0", "d1"]
    assert [c.delivery for c in await stores.events.claim("c1", 10, LEASE)] == ["d2", "d3", "d4"]


async def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"), ("d2", "pr-1"))
    (old,) = await stores.events.claim("dead", 10, SHORT)
    await asyncio.sleep(SHORT * 2)
    (new,) = await stores.events.claim("alive", 10, LEASE)
    assert (new.delivery, new.attempt) == ("d1", 2)
    assert not await stores.events.ack(old)
    assert not await stores.events.extend(old, LEASE)
    assert not await stores.events.fail(old, "late", None)
    assert await stores.events.ack(new)
    assert [c.delivery for c in await stores.events.claim("alive", 10, LEASE)] == ["d2"]


async def test_extending_a_lease_keeps_the_claim(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"))
    (claimed,) = await stores.events.claim("c1", 10, SHORT)
    assert await stores.events.extend(claimed, LEASE)
    await asyncio.sleep(SHORT * 2)
    assert await stores.events.claim("c2", 10, LEASE) == []
    assert await stores.events.ack(claimed)


async def test_a_failure_with_retry_waits_and_keeps_the_order_of_its_key(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"), ("d2", "pr-1"))
    (claimed,) = await stores.events.claim("c1", 10, LEASE)
    assert await stores.events.fail(claimed, "boom", retry_in=SHORT)
    assert await stores.events.claim("c1", 10, LEASE) == []  # d2 may not overtake d1
    await asyncio.sleep(SHORT * 2)
    (again,) = await stores.events.claim("c1", 10, LEASE)
    assert (again.delivery, again.attempt) == ("d1", 2)


async def test_a_parked_failure_lets_its_key_move_on_and_can_be_retried(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"), ("d2", "pr-1"))
    (claimed,) = await stores.events.claim("c1", 10, LEASE)
    assert await stores.events.fail(claimed, "gave up: boom", retry_in=None)
    stats = await stores.events.stats()
    assert (stats.pending, stats.failed) == (1, 1)
    (failure,) = stats.recent_failures
    assert (failure.delivery, failure.order_key, failure.attempts, failure.error) == ("d1", "pr-1", 1, "gave up: boom")
    assert not await stores.events.seen("d1")  # repair may ask for it again
    (next_one,) = await stores.events.claim("c1", 10, LEASE)
    assert next_one.delivery == "d2"
    assert await stores.events.ack(next_one)
    assert await stores.events.retry_failed() == 1
    (retried,) = await stores.events.claim("c1", 10, LEASE)
    assert (retried.delivery, retried.payload) == ("d1", b"payload of d1")


async def test_a_redelivery_of_a_parked_failure_is_accepted(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"))
    (claimed,) = await stores.events.claim("c1", 10, LEASE)
    await stores.events.fail(claimed, "boom", retry_in=None)
    assert await stores.events.submit("d1", "pr-1", b"redelivered")
    (again,) = await stores.events.claim("c1", 10, LEASE)
    assert (again.payload, again.attempt) == (b"redelivered", 1)
    assert (await stores.events.stats()).failed == 0


async def test_retrying_one_named_failure(stores: Stores) -> None:
    await _fill(stores, ("d1", "A"), ("d2", "B"))
    for claimed in await stores.events.claim("c1", 10, LEASE):
        await stores.events.fail(claimed, "boom", retry_in=None)
    assert await stores.events.retry_failed("d2") == 1
    assert [c.delivery for c in await stores.events.claim("c1", 10, LEASE)] == ["d2"]
    assert (await stores.events.stats()).failed == 1


async def test_purge_forgets_old_handled_deliveries_only(stores: Stores) -> None:
    await _fill(stores, ("d1", "A"), ("d2", "B"))
    (d1, _) = sorted(await stores.events.claim("c1", 10, LEASE), key=lambda c: c.delivery)
    await stores.events.ack(d1)
    assert await stores.events.purge(time.time() + 1) == 1
    assert await stores.events.submit("d1", "A", b"new")  # forgotten: a new delivery
    assert not await stores.events.submit("d2", "B", b"again")  # still pending: remembered


async def test_release_all_makes_claims_available_at_once(stores: Stores) -> None:
    await _fill(stores, ("d1", "A"))
    await stores.events.claim("previous-process", 10, LEASE)
    assert await stores.events.release_all() == 1
    (claimed,) = await stores.events.claim("this-process", 10, LEASE)
    assert claimed.attempt == 2


async def test_stats_count_pending_running_and_the_oldest(stores: Stores) -> None:
    before = time.time()
    await _fill(stores, ("d1", "A"), ("d2", "A"), ("d3", "B"))
    await stores.events.claim("c1", 1, LEASE)
    stats = await stores.events.stats()
    assert (stats.pending, stats.running, stats.failed) == (3, 1, 0)
    assert stats.oldest_received_at is not None and before - 1 <= stats.oldest_received_at <= time.time() + 1


async def test_many_concurrent_submits_all_land(stores: Stores) -> None:
    results = await asyncio.gather(*(stores.events.submit(f"d{i}", f"k{i % 7}", b"x") for i in range(300)))
    assert all(results)
    assert (await stores.events.stats()).pending == 300


# ---- runs: the claim's holder takes the key's next events (take_next) --------------------------

async def _claim_run(stores: Stores, *deliveries: str, take: int | None = None) -> list[Claimed]:
    """Submit ``deliveries`` on one key, claim its head and take ``take`` (all) next ones: [head, taken...]."""
    await _fill(stores, *((d, "pr-1") for d in deliveries))
    (head,) = await stores.events.claim("c1", 10, LEASE)
    run = [head]
    for _ in range(len(deliveries) - 1 if take is None else take):
        taken = await stores.events.take_next(run[-1])
        assert taken is not None
        run.append(taken)
    return run


async def test_take_next_returns_the_following_events_in_order_then_none(stores: Stores) -> None:
    await _fill(stores, ("d1", "pr-1"), ("d2", "pr-1"), ("other", "pr-2"), ("d3", "pr-1"))
    head = next(c for c in await stores.events.claim("c1", 10, LEASE) if c.order_key == "pr-1")
    second = await stores.events.take_next(head)
    third = await stores.events.take_next(head)  # any Claimed of the claim: the one after the last taken
    assert second is not None and third is not None
    assert [(c.delivery, c.payload, c.attempt, c.token) for c in (second, third)] == [
        ("d2", b"payload of d2", 1, head.token), ("d3", b"payload of d3", 1, head.token)]
    assert await stores.events.take_next(third) is None


async def test_a_taken_event_is_not_claimable_even_after_the_head_is_acked(stores: Stores) -> None:
    head, taken = await _claim_run(stores, "d1", "d2")
    assert await stores.events.claim("c2", 10, LEASE) == []
    assert await stores.events.ack(head)
    assert await stores.events.claim("c2", 10, LEASE) == []  # the claim passed to d2
    assert (await stores.events.stats()).running == 1
    assert await stores.events.extend(taken, LEASE)
    assert await stores.events.ack(taken)


async def test_after_the_last_taken_event_is_acked_the_key_is_free(stores: Stores) -> None:
    head, taken = await _claim_run(stores, "d1", "d2", "d3", take=1)
    assert await stores.events.ack(head)
    assert await stores.events.ack(taken)
    (claimed,) = await stores.events.claim("c2", 10, LEASE)
    assert (claimed.delivery, claimed.attempt) == ("d3", 1) and claimed.token != head.token
    assert (await stores.events.stats()).pending == 1


async def test_acking_a_taken_event_before_its_head_is_refused_and_changes_nothing(stores: Stores) -> None:
    head, taken = await _claim_run(stores, "d1", "d2")
    assert not await stores.events.ack(taken)
    assert not await stores.events.fail(taken, "out of order", retry_in=None)
    assert not await stores.events.fail(taken, "out of order", retry_in=SHORT)
    assert (await stores.events.stats()).pending == 2
    assert await stores.events.claim("c2", 10, LEASE) == []
    assert await stores.events.ack(head)
    assert await stores.events.ack(taken)
    assert (await stores.events.stats()).pending == 0


async def test_a_retry_of_the_head_puts_the_taken_events_back_in_order(stores: Stores) -> None:
    head, *_ = await _claim_run(stores, "d1", "d2", "d3")
    assert await stores.events.fail(head, "boom", retry_in=SHORT)
    assert await stores.events.claim("c2", 10, LEASE) == []  # the key waits for d1's retry
    await asyncio.sleep(SHORT * 2)
    (again,) = await stores.events.claim("c2", 10, LEASE)
    second = await stores.events.take_next(again)
    third = await stores.events.take_next(again)
    assert [(c.delivery, c.attempt) for c in (again, second, third) if c] == [("d1", 2), ("d2", 2), ("d3", 2)]


async def test_a_retry_of_a_taken_event_after_its_head_was_acked_puts_the_rest_back(stores: Stores) -> None:
    """The worker's path when a run's second handler raises: ack the first, fail the second."""
    head, second, _ = await _claim_run(stores, "d1", "d2", "d3")
    assert await stores.events.ack(head)
    assert await stores.events.fail(second, "boom", retry_in=SHORT)
    assert (await stores.events.stats()).running == 0
    assert await stores.events.claim("c2", 10, LEASE) == []  # d3 may not overtake d2
    await asyncio.sleep(SHORT * 2)
    (again,) = await stores.events.claim("c2", 10, LEASE)
    third = await stores.events.take_next(again)
    assert [(c.delivery, c.attempt) for c in (again, third) if c] == [("d2", 2), ("d3", 2)]


async def test_parking_the_head_keeps_the_claim_on_the_taken_event(stores: Stores) -> None:
    head, taken = await _claim_run(stores, "d1", "d2")
    assert await stores.events.fail(head, "gave up", retry_in=None)
    assert await stores.events.claim("c2", 10, LEASE) == []
    stats = await stores.events.stats()
    assert (stats.pending, stats.running, stats.failed) == (1, 1, 1)
    assert await stores.events.ack(taken)
    assert (await stores.events.stats()).pending == 0


async def test_a_lost_claim_takes_nothing_and_its_stale_holder_cannot_finish_a_taken_event(stores: Stores) -> None:
    old_head, old_taken = await _claim_run(stores, "d1", "d2", "d3", take=1)
    assert await stores.events.extend(old_taken, SHORT)  # the lease now runs out soon
    await asyncio.sleep(SHORT * 2)
    assert await stores.events.take_next(old_head) is None  # lease ran out
    (new_head,) = await stores.events.claim("c2", 10, LEASE)
    assert (new_head.delivery, new_head.attempt) == ("d1", 2)
    assert await stores.events.take_next(old_taken) is None  # taken over
    assert not await stores.events.ack(old_head)
    assert not await stores.events.ack(old_taken)
    taken = await stores.events.take_next(new_head)
    assert taken is not None and (taken.delivery, taken.attempt) == ("d2", 2)
    assert await stores.events.ack(new_head) and await stores.events.ack(taken)


async def test_release_all_gives_back_the_taken_events(stores: Stores) -> None:
    await _claim_run(stores, "d1", "d2")
    assert await stores.events.release_all() == 1
    (head,) = await stores.events.claim("c2", 10, LEASE)
    taken = await stores.events.take_next(head)
    assert [(c.delivery, c.attempt) for c in (head, taken) if c] == [("d1", 2), ("d2", 2)]


async def test_a_sqlite_file_of_the_old_schema_is_migrated_at_open(tmp_path: Path) -> None:
    """Before runs, ``heads`` had no ``taken`` column: opening adds it, and the queued events work."""
    with sqlite3.connect(tmp_path / "state.sqlite3") as conn:
        conn.executescript("""
            CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery TEXT NOT NULL UNIQUE,
                order_key TEXT NOT NULL, payload BLOB, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                received_at REAL NOT NULL, finished_at REAL, error TEXT);
            CREATE TABLE heads (order_key TEXT PRIMARY KEY, seq INTEGER NOT NULL, available_at REAL NOT NULL,
                holder TEXT, token TEXT, lease_until REAL);
            INSERT INTO events (delivery, order_key, payload, state, received_at) VALUES
                ('d1', 'pr-1', x'6131', 'pending', 1.0), ('d2', 'pr-1', x'6132', 'pending', 2.0);
            INSERT INTO heads (order_key, seq, available_at) VALUES ('pr-1', 1, 1.0);
        """)
    conn.close()
    stores = open_stores(tmp_path, kind="sqlite")
    try:
        (head,) = await stores.events.claim("c1", 10, LEASE)
        taken = await stores.events.take_next(head)
        assert taken is not None and [(c.delivery, c.payload) for c in (head, taken)] == [("d1", b"a1"), ("d2", b"a2")]
        assert await stores.events.ack(head) and await stores.events.ack(taken)
    finally:
        await stores.close()


# ---- state -----------------------------------------------------------------------------------

VALUES: list[Any] = [1, "text", {"a": [1, 2], "b": None}, [["x", 1.5]], True]


@pytest.mark.parametrize("value", VALUES, ids=["int", "str", "dict", "nested-list", "bool"])
async def test_state_keeps_json_values(stores: Stores, value: Any) -> None:
    await stores.state.put("ns", "k", value)
    assert await stores.state.get("ns", "k") == value
    assert await stores.state.get("ns", "other") is None
    assert await stores.state.get("other-ns", "k") is None


async def test_state_entries_expire(stores: Stores) -> None:
    await stores.state.put("ns", "short", 1, ttl=SHORT)
    await stores.state.put("ns", "long", 2)
    await asyncio.sleep(SHORT * 2)
    assert await stores.state.get("ns", "short") is None
    assert await stores.state.items("ns") == {"long": 2}
    assert await stores.state.purge() >= 0


async def test_put_if_absent_sets_once_until_expiry(stores: Stores) -> None:
    assert await stores.state.put_if_absent("once", "k", "first", ttl=SHORT)
    assert not await stores.state.put_if_absent("once", "k", "second")
    assert await stores.state.get("once", "k") == "first"
    await asyncio.sleep(SHORT * 2)
    assert await stores.state.put_if_absent("once", "k", "third")


async def test_put_if_absent_has_one_winner_among_many(stores: Stores) -> None:
    wins = await asyncio.gather(*(stores.state.put_if_absent("once", "job", i) for i in range(20)))
    assert sum(wins) == 1


async def test_delete_and_items(stores: Stores) -> None:
    for key in ("a", "b", "c"):
        await stores.state.put("repos", key, {"key": key})
    await stores.state.delete("repos", "b")
    assert await stores.state.items("repos") == {"a": {"key": "a"}, "c": {"key": "c"}}


async def test_history_keeps_the_newest(stores: Stores) -> None:
    for i in range(7):
        await stores.state.append("merges", {"n": i}, keep=5)
    assert await stores.state.recent("merges", 3) == [{"n": 6}, {"n": 5}, {"n": 4}]
    assert [e["n"] for e in await stores.state.recent("merges", 100)] == [6, 5, 4, 3, 2]
    assert await stores.state.recent("empty", 10) == []


async def test_a_lease_has_one_holder_and_its_token_grows_when_it_changes_hands(stores: Stores) -> None:
    first = await stores.state.acquire("merge:acme/api", "r1", SHORT)
    assert first is not None
    assert await stores.state.acquire("merge:acme/api", "r2", LEASE) is None
    assert await stores.state.acquire("merge:acme/api", "r1", SHORT) == first  # renewal keeps the token
    await asyncio.sleep(SHORT * 2)
    second = await stores.state.acquire("merge:acme/api", "r2", LEASE)
    assert second is not None and second > first
    await stores.state.release("merge:acme/api", "r1")  # not the holder: no effect
    assert await stores.state.acquire("merge:acme/api", "r1", LEASE) is None
    await stores.state.release("merge:acme/api", "r2")
    third = await stores.state.acquire("merge:acme/api", "r1", LEASE)
    assert third is not None and third > second


async def test_a_named_queue_is_apart_from_the_events(stores: Stores) -> None:
    """An outbox (``Stores.queue``: bot.notify) never hands its entries to the webhook worker, nor
    takes the webhook events, and the same name is the same queue."""
    assert stores.queue is not None
    outbox = stores.queue("notify")
    assert await outbox.submit("slack:Merged:1", "channel:slack", b"message")
    assert await stores.events.submit("github:d1", "github|a/b|1", b"event")
    assert [c.delivery for c in await stores.events.claim("c", 10, LEASE)] == ["github:d1"]
    [claimed] = await stores.queue("notify").claim("c", 10, LEASE)
    assert claimed.delivery == "slack:Merged:1"
    assert await outbox.ack(claimed)
    assert not await outbox.submit("slack:Merged:1", "channel:slack", b"message")  # delivered: a duplicate
