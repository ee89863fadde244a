"""Conditional reads through the real SDKs: a repeat read sends If-None-Match, a 304 is free and
the SDK sees the stored answer; validators are bounded in memory and shared through Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.app import compose_forge
from bot.events import ItemKind, ItemRef
from bot.forge.transport import ConditionalCache, Stored, Transport
from tests.conftest import AUTHOR, REPO, make_client
from tests.fakes.base import FakeForge


def _since(fake: FakeForge, before: int) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in fake.requests[before:]]


def test_a_repeat_read_is_a_free_304_with_the_same_answer(fake: FakeForge) -> None:
    client = make_client(fake)
    number, _ = fake.open_pull(REPO, author=AUTHOR, title="Blue")
    ref = ItemRef(REPO, number, ItemKind.PULL)
    first = client.get_item(ref)
    before = len(fake.requests)
    assert client.get_item(ref) == first
    assert _since(fake, before) == [("GET", 304)]
    assert client.transport.meter.counts["not_modified"] >= 1


def test_a_changed_resource_is_read_afresh(fake: FakeForge) -> None:
    client = make_client(fake)
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    client.get_item(ref)
    fake.set_labels(REPO, number, ["kind/bug"])
    before = len(fake.requests)
    assert client.get_item(ref).labels == {"kind/bug"}
    assert _since(fake, before) == [("GET", 200)]


def test_writes_are_never_conditional_and_always_counted(fake: FakeForge) -> None:
    client = make_client(fake)
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    client.add_labels(ref, ["lgtm"])
    client.add_labels(ref, ["lgtm"])
    writes = [r for r in fake.requests if r.method != "GET"]
    assert writes and all(r.counted for r in writes)


def test_a_graphql_query_is_metered_as_a_read(fake: FakeForge) -> None:
    """GitHub's open-PR listing is a POST that writes nothing: counted, but not as a write."""
    client = make_client(fake)
    fake.open_pull(REPO, author=AUTHOR)
    meter = client.transport.meter
    writes, requests = meter.counts["writes"], meter.counts["requests"]
    client.list_open_pulls(REPO)
    assert meter.counts["requests"] > requests
    assert meter.counts["writes"] == writes


def _stored(size: int) -> Stored:
    return Stored('"x"', None, {}, b"x" * size)


@pytest.mark.parametrize(
    "sizes,max_bytes,kept",
    [
        ([100, 100], 10_000, ["0", "1"]),
        ([3_000, 3_000, 3_000], 7_000, ["1", "2"]),  # the least recently used goes first
        ([20_000], 10_000, []),  # larger than the whole cache: never kept
    ],
    ids=["both-fit", "oldest-evicted", "too-large"],
)
def test_validators_are_bounded_in_memory(sizes: list[int], max_bytes: int, kept: list[str]) -> None:
    cache = ConditionalCache(max_bytes=max_bytes, max_entry=max_bytes)
    for i, size in enumerate(sizes):
        cache.put(str(i), _stored(size))
    assert [k for k in map(str, range(len(sizes))) if cache.get(k) is not None] == kept
    assert cache.bytes <= max_bytes


async def test_replicas_share_validators_through_redis(fake: FakeForge, redis_server: Any, redis_prefix: str) -> None:
    from bot.store.redis import RedisStores

    number, _ = fake.open_pull(REPO, author=AUTHOR)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    stores = [RedisStores(redis_server.url, prefix=redis_prefix) for _ in range(2)]
    forges = []
    for store in stores:
        client = make_client(fake)
        client.transport.share(store.state, asyncio.get_running_loop())
        forges.append(compose_forge(client))
    try:
        one, two = forges
        await one.get_item(ref)
        await asyncio.sleep(0)  # the shared write is not waited for by the reader
        for _ in range(50):
            if await stores[1].state.items("etag"):
                break
            await asyncio.sleep(0.05)
        before = len(fake.requests)
        assert (await two.get_item(ref)).ref == ref  # the other replica's first read
        assert _since(fake, before) == [("GET", 304)]
    finally:
        for forge in forges:
            forge.close()
        for store in stores:
            await store.close()


def test_transport_keys_by_credential() -> None:
    import requests

    from bot.forge.transport import _cache_key

    def prepared(token: str) -> requests.PreparedRequest:
        return requests.Request("GET", "http://x/api/v4/user", headers={"PRIVATE-TOKEN": token}).prepare()

    assert _cache_key(prepared("a")) != _cache_key(prepared("b"))
    assert "glpat-secret" not in _cache_key(prepared("glpat-secret"))  # only a hash of it
    assert Transport("gitlab").meter.counted == 0
