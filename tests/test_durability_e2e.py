"""Acknowledged means handled, and what people see happens once, on both forges."""

from __future__ import annotations

import importlib
from pathlib import Path

import orjson
from aiohttp.test_utils import TestClient, TestServer

from bot.app import DISPATCH_KEY, QUEUE_KEY, STORES_KEY, build_app
from bot.config import Config
from bot.events import Event
from bot.store import open_stores
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, enabled, typed
from tests.fakes.base import Delivery, FakeForge


def translated(bot: Bot, delivery: Delivery) -> Event:
    translate = importlib.import_module(f"bot.forge.{bot.fake.name}.translate").translate
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    event_type = headers.get("x-github-event") or headers["x-gitlab-event"]
    delivery_id = headers.get("x-github-delivery") or headers.get("idempotency-key") or headers["x-gitlab-event-uuid"]
    event = translate(event_type, delivery_id, orjson.loads(delivery.body))
    assert event is not None
    return event


async def test_a_rerun_after_a_crash_does_not_post_a_reply_again(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    delivery = bot.fake.comment(REPO, number, COLLAB, typed(bot.fake.name, "/help\n/assign @nobody-here"))
    await bot.deliver(delivery)
    first = bot.bot_comments(number)
    assert len(first) == 2  # the help table and the "cannot assign" reply
    dispatcher = bot.client.app[DISPATCH_KEY]
    # The queue runs an event again when its first run may have been cut off after posting.
    await dispatcher.handle(translated(bot, delivery), attempt=2)
    assert bot.bot_comments(number) == first
    # A first attempt does not look (nothing can be there yet): it would post, which shows the
    # marker check, not luck, is what kept the rerun quiet.
    await dispatcher.handle(translated(bot, delivery), attempt=1)
    assert len(bot.bot_comments(number)) == 4


async def test_a_reply_lost_before_the_crash_is_posted_on_the_rerun(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    delivery = bot.fake.comment(REPO, number, COLLAB, "/help")
    await bot.client.app[DISPATCH_KEY].handle(translated(bot, delivery), attempt=2)
    assert len(bot.bot_comments(number)) == 1


async def test_an_accepted_delivery_is_in_the_store_before_the_answer(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    worker = bot.queue
    await worker.stop(1)  # nothing handles it now: it can only be in the store
    status = await bot.post(bot.fake.comment(REPO, number, COLLAB, "/hold"))
    assert status == 202
    assert (await bot.client.app[STORES_KEY].events.stats()).pending == 1
    assert bot.fake.labels(REPO, number) == set()


async def test_a_store_that_cannot_take_a_delivery_gets_503_and_it_is_not_lost(
        fake: FakeForge, config: Config, tmp_path: Path, redis_prefix: str) -> None:
    """Redis down: the forge is told 503 (it records a failed delivery, which repair brings back);
    once Redis is back, the same delivery is accepted and handled."""
    from tests.redis_server import RedisServer

    own = RedisServer()  # one this test may stop
    stores = open_stores(tmp_path, own.url, redis_prefix=redis_prefix)
    app = build_app(config, {fake.name: enabled(fake)}, tmp_path, stores=stores)
    try:
        async with TestClient(TestServer(app)) as client:
            number, _ = fake.open_pull(REPO, author=AUTHOR)
            delivery = fake.comment(REPO, number, COLLAB, "/hold")
            own.proc.terminate()
            own.proc.wait(10)
            resp = await client.post(delivery.path, data=delivery.body, headers=delivery.headers)
            assert resp.status == 503
            assert "cannot store" in (await resp.json())["status"]
    finally:
        own.stop()
    # The forge redelivers (repair, or GitLab's own retry) to a prowlet whose store works.
    async with TestClient(TestServer(build_app(config, {fake.name: enabled(fake)}, tmp_path / "next"))) as client:
        resp = await client.post(delivery.path, data=delivery.body, headers=delivery.headers)
        assert resp.status == 202
        assert await client.app[QUEUE_KEY].join(30)
    assert fake.labels(REPO, number) == {"do-not-merge/hold"}
