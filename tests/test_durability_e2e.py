"""Acknowledged means handled, and what people see happens once, on both forges."""

from __future__ import annotations

import importlib

import orjson

from bot.app import DISPATCH_KEY, STORES_KEY
from bot.events import Event
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed
from tests.fakes.base import Delivery


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
