"""What only the Redis stores promise: several processes (replicas) share one queue, and a Redis that
is down or refuses writes is reported as StoreUnavailable without the password.  Each test talks to a
real redis-server (tests/redis_server.py); the replicas are two RedisStores with their own pools."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.store import StoreUnavailable
from bot.store.redis import RedisStores
from bot.urls import redact_url
from tests.redis_server import RedisServer

LEASE = 30.0
SHORT = 0.2


@pytest.fixture
async def replicas(redis_server: Any, redis_prefix: str) -> AsyncIterator[tuple[RedisStores, RedisStores]]:
    one, two = RedisStores(redis_server.url, prefix=redis_prefix), RedisStores(redis_server.url, prefix=redis_prefix)
    yield one, two
    await one.close()
    await two.close()


async def test_a_claim_by_one_replica_is_invisible_to_the_other_until_its_lease_runs_out(
        replicas: tuple[RedisStores, RedisStores]) -> None:
    one, two = replicas
    assert await one.events.submit("d1", "pr-1", b"p1")
    assert not await two.events.submit("d1", "pr-1", b"p1")  # one queue: the other replica knows it
    (held,) = await one.events.claim("replica-1", 10, SHORT)
    assert await two.events.claim("replica-2", 10, LEASE) == []
    await asyncio.sleep(SHORT * 2)
    (taken,) = await two.events.claim("replica-2", 10, LEASE)
    assert (taken.delivery, taken.attempt) == ("d1", 2) and taken.token != held.token
    assert not await one.events.ack(held)  # fenced off
    assert await two.events.ack(taken)
    assert (await one.events.stats()).pending == 0


async def test_release_all_of_one_consumer_leaves_the_other_replicas_claims(
        replicas: tuple[RedisStores, RedisStores]) -> None:
    one, two = replicas
    await one.events.submit("a1", "A", b"")
    await one.events.submit("b1", "B", b"")
    (mine,) = await one.events.claim("replica-1", 1, LEASE)
    (theirs,) = await two.events.claim("replica-2", 1, LEASE)
    assert await one.events.release_all("replica-1") == 1
    (again,) = await two.events.claim("replica-2", 10, LEASE)
    assert again.delivery == mine.delivery
    assert await two.events.ack(theirs)


async def test_concurrent_claimers_on_two_replicas_handle_each_delivery_once_in_key_order(
        replicas: tuple[RedisStores, RedisStores]) -> None:
    one, two = replicas
    keys = [f"pr-{k}" for k in range(20)]
    submitted: dict[str, list[str]] = defaultdict(list)
    for i in range(200):
        key, delivery = keys[i % 20], f"d{i:03}"
        assert await (one if i % 2 else two).events.submit(delivery, key, delivery.encode())
        submitted[key].append(delivery)
    handled: dict[str, list[str]] = defaultdict(list)
    total = 0

    async def claim_loop(stores: RedisStores, name: str) -> None:
        nonlocal total
        while total < 200:
            batch = await stores.events.claim(name, 3, LEASE)
            if not batch:
                await asyncio.sleep(0.005)  # the other loops hold every ready key
                continue
            for claimed in batch:
                assert claimed.payload == claimed.delivery.encode() and claimed.attempt == 1
                handled[claimed.order_key].append(claimed.delivery)
                total += 1
                await asyncio.sleep(0)  # let the other loops claim while this one "works"
                assert await stores.events.ack(claimed), f"{name} lost {claimed.delivery}"

    await asyncio.wait_for(asyncio.gather(
        claim_loop(one, "r1-a"), claim_loop(one, "r1-b"), claim_loop(two, "r2-a"), claim_loop(two, "r2-b")), 60)
    assert handled == submitted  # every delivery exactly once, each key in the order submitted
    stats = await two.events.stats()
    assert (stats.pending, stats.running, stats.failed) == (0, 0, 0)


async def test_namespaces_and_keys_with_colons_stay_apart(replicas: tuple[RedisStores, RedisStores]) -> None:
    one, two = replicas
    await one.state.put("a:b", "c", "ns a:b")
    await one.state.put("a", "b:c", "ns a")
    assert await two.state.get("a:b", "c") == "ns a:b"
    assert await two.state.items("a") == {"b:c": "ns a"}


async def test_purge_drops_the_index_entries_of_expired_values(replicas: tuple[RedisStores, RedisStores]) -> None:
    one, _ = replicas
    await one.state.put("cache", "short", 1, ttl=SHORT)
    await one.state.put("cache", "long", 2, ttl=LEASE)
    await asyncio.sleep(SHORT * 2)
    assert await one.state.purge() == 1
    assert await one.state.purge() == 0
    assert await one.state.items("cache") == {"long": 2}


# ---- a Redis that is down or refuses writes -------------------------------------------------

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own, with a password, that the test may break or stop."""
    server = RedisServer()
    yield server
    server.stop()


async def _with_password(server: RedisServer) -> str:
    admin = aioredis.Redis(host="127.0.0.1", port=server.port)
    await admin.config_set("requirepass", PASSWORD)
    await admin.aclose()
    return f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"


async def _admin(server: RedisServer, *settings: str) -> None:
    admin = aioredis.Redis(host="127.0.0.1", port=server.port, password=PASSWORD)
    for setting in settings:
        name, value = setting.split("=")
        await admin.config_set(name, value)
    await admin.aclose()


OPERATIONS: dict[str, Callable[[RedisStores], Awaitable[Any]]] = {
    "submit": lambda s: s.events.submit("d2", "pr-2", b"payload"),
    "claim": lambda s: s.events.claim("c1", 10, LEASE),
    "state-put": lambda s: s.state.put("ns", "k", 1),
    "lease": lambda s: s.state.acquire("merge:acme/api", "r1", LEASE),
}


BROKEN = [pytest.param(breakage, operation, id=f"{breakage}-{operation}")
          for breakage in ("stopped", "out-of-memory", "wrong-password") for operation in OPERATIONS
          if (breakage, operation) != ("out-of-memory", "claim")]  # a full Redis lets consumers drain it


@pytest.mark.parametrize(("breakage", "operation"), BROKEN)
async def test_a_broken_redis_is_store_unavailable_without_the_password(
        own_server: RedisServer, redis_prefix: str, breakage: str, operation: str) -> None:
    url = await _with_password(own_server)
    healthy = RedisStores(url, prefix=redis_prefix)
    assert await healthy.events.submit("d1", "pr-1", b"payload")  # so that a claim has something to write
    await healthy.close()
    if breakage == "out-of-memory":
        await _admin(own_server, "maxmemory=1")  # every write refused: OOM
    elif breakage == "stopped":
        own_server.stop()
    else:
        url = url.replace(PASSWORD, "wrong-" + PASSWORD)
    stores = RedisStores(url, prefix=redis_prefix)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await OPERATIONS[operation](stores)
    finally:
        await stores.close()
    message = str(caught.value)
    assert "Pa55" not in message
    assert f"redis://:***@127.0.0.1:{own_server.port}/0" in message


async def test_a_full_redis_refuses_new_events_but_lets_consumers_drain_it(
        own_server: RedisServer, redis_prefix: str) -> None:
    stores = RedisStores(await _with_password(own_server), prefix=redis_prefix)
    try:
        for i in range(3):
            assert await stores.events.submit(f"d{i}", f"pr-{i}", b"payload")
        await _admin(own_server, "maxmemory=1")
        with pytest.raises(StoreUnavailable, match="OutOfMemoryError"):
            await stores.events.submit("d9", "pr-9", b"payload")
        first, second, third = await stores.events.claim("c1", 10, LEASE)
        assert await stores.events.extend(first, LEASE)
        assert await stores.events.ack(first)
        assert await stores.events.fail(second, "boom", retry_in=None)
        assert await stores.events.fail(third, "boom", retry_in=0)
        assert await stores.events.purge(time.time() + 1) == 1
        assert (await stores.events.stats()).pending == 1
    finally:
        await stores.close()


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("redis://:secret@redis:6379/0", "redis://:***@redis:6379/0"),
    ("redis://bot:secret@redis/2", "redis://bot:***@redis/2"),
    ("redis://secret@redis", "redis://***@redis"),
    ("rediss://bot:p%40ss@redis.example:6380/0?ssl_cert_reqs=none", "rediss://bot:***@redis.example:6380/0"),
    ("unix://:secret@/run/redis.sock?db=1", "unix://:***@/run/redis.sock"),
], ids=["no-password", "password-only", "user-and-password", "lone-user-info", "tls-with-query", "unix-socket"])
def test_the_url_shown_to_operators_has_no_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["http://:secret@redis:6379/0", "redis://:secret@redis:port/0"],
                         ids=["wrong-scheme", "bad-port"])
def test_a_malformed_url_is_store_unavailable_without_the_password(url: str) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        RedisStores(url)
    assert "secret" not in str(caught.value)
