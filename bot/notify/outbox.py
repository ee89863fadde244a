"""Notifications through a durable outbox (an ``EventQueue`` of its own, ``Stores.queue("notify")``).

``Notifications.publish`` (subscribed to every outcome type on the bus) stores one entry per
(outcome, channel), keyed by the message's idempotency key: an outcome published again after a crash
is a duplicate, not a second message.  The relay (an ``EventWorker``) posts each entry; a post that
fails is retried with backoff and, after ``max_attempts``, parked (``failed``, visible in the queue's
stats); an entry is acknowledged only once the service took it, and an unacknowledged one survives a
restart.  Entries are ordered per channel, so one failing channel waits alone: the others go on.
Every request carries ``X-Prowlet-Delivery: <key>`` (the generic webhook also has it as ``id``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import orjson
import structlog

from bot.config import NotifySettings
from bot.notify.health import ChannelHealth, HealthBook
from bot.notify.message import Message, Target, message
from bot.notify.routing import channels_for
from bot.notify.services import SERVICES
from bot.outcomes import OUTCOME_TYPES, Bus
from bot.store.base import EventQueue
from bot.store.codec import CodecError
from bot.worker import EventWorker

log = structlog.get_logger("prowlet.notify")

QUEUE_NAME = "notify"
DELIVERY_HEADER = "X-Prowlet-Delivery"


class DeliveryFailed(Exception):
    """Said without the URL: webhook URLs carry credentials (DingTalk/WeCom tokens, Slack paths)."""


def encode(channel: str, msg: Message) -> bytes:
    return orjson.dumps({"v": 1, "channel": channel, "key": msg.key, "title": msg.title, "text": msg.text,
                         "link": msg.link, "outcome": msg.outcome, "data": msg.data})


def decode(payload: bytes) -> tuple[str, Message]:
    try:
        d = orjson.loads(payload)
        return d["channel"], Message(d["key"], d["title"], d["text"], d["link"], d["outcome"], d["data"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise CodecError(f"not a notification: {type(err).__name__}") from None


class Notifications:
    def __init__(self, settings: NotifySettings, outbox: EventQueue, *, consumer: str, env: Mapping[str, str],
                 lease: float = 60.0) -> None:
        self._settings = settings
        self.outbox = outbox
        self._env = env
        self._session: aiohttp.ClientSession | None = None
        self._health = HealthBook(list(settings.channels))
        # The change's files, for routes with ``paths`` (bot.notify.paths.ChangedPaths); None: unknown.
        self.paths_of: Callable[[object], Awaitable[list[str] | None]] | None = None
        self._needs_paths = any(route.paths for route in settings.routes)
        # Told (channel, "sent" | "failed") after each post (metrics).
        self.on_delivery: Callable[[str, str], None] = lambda channel, result: None
        self.worker = EventWorker(outbox, self._send_and_record, consumer=consumer, max_concurrent=settings.max_concurrent,
                                  lease=lease, max_attempts=settings.max_attempts, retry_base=settings.retry_after,
                                  poll=min(1.0, settings.retry_after), decode=decode)
        for name, channel in settings.channels.items():  # said once at start-up, again at each failed post
            for var in (channel.url_env, channel.secret_env):
                if var and not env.get(var):
                    log.warning("a notification channel's variable is not set; its messages will wait",
                                channel=name, variable=var)

    def attach(self, bus: Bus) -> Notifications:
        for kind in OUTCOME_TYPES.values():
            bus.subscribe(kind, self.publish)
        return self

    async def publish(self, outcome: object) -> None:
        """Store the outcome's messages; raises StoreUnavailable (the bus logs it) when it cannot."""
        stored = False
        paths = await self.paths_of(outcome) if self._needs_paths and self.paths_of is not None else None
        for name in channels_for(self._settings.routes, outcome, paths):
            channel = self._settings.channels[name]
            msg = message(outcome, name, channel.template)
            stored |= await self.outbox.submit(msg.key, f"channel:{name}", encode(name, msg))
        if stored:
            self.worker.wake()

    def health(self) -> dict[str, ChannelHealth]:
        """Per channel: last success, last failure and its error (this process's posts)."""
        return self._health.snapshot()

    async def _send_and_record(self, entry: tuple[str, Message], attempt: int) -> None:
        name = entry[0]
        try:
            await self._send(entry, attempt)
        except DeliveryFailed as err:
            self._health.failed(name, str(err))
            self.on_delivery(name, "failed")
            raise
        self._health.succeeded(name)
        self.on_delivery(name, "sent")

    async def _send(self, entry: tuple[str, Message], attempt: int) -> None:
        name, msg = entry
        channel = self._settings.channels.get(name)
        if channel is None:
            raise DeliveryFailed(f"channel {name!r} is no longer configured")
        url = self._env.get(channel.url_env, "")
        secret = self._env.get(channel.secret_env, "") if channel.secret_env else ""
        if not url or (channel.secret_env and not secret):
            raise DeliveryFailed(f"channel {name!r}: environment variable {channel.url_env if not url else channel.secret_env} is not set")
        service = SERVICES[channel.kind]
        assert self._session is not None, "start() first"
        try:
            request = service.request(msg, Target(url, secret, channel.keyword, time.time()))
            async with self._session.post(request.url, data=request.body,
                                          headers={**request.headers, DELIVERY_HEADER: msg.key}) as response:
                problem = service.problem(response.status, await response.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:  # ValueError: a malformed URL
            raise DeliveryFailed(f"channel {name!r}: {type(err).__name__}") from None
        if problem:
            raise DeliveryFailed(f"channel {name!r}: {problem}")
        log.info("notification sent", channel=name, key=msg.key, attempt=attempt)

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._settings.timeout))
        self.worker.start()

    async def stop(self, grace: float) -> None:
        await self.worker.stop(grace)
        if self._session is not None:
            await self._session.close()


def build_notifications(settings: NotifySettings, queue: EventQueue | None, *, consumer: str,
                        env: Mapping[str, str]) -> Notifications | None:
    """None when no route is configured (nothing to send) or the stores have no second queue."""
    if not settings.routes or queue is None:
        return None
    return Notifications(settings, queue, consumer=consumer, env=env)
