"""Notifications through a durable outbox (an ``EventQueue`` of its own, ``Stores.queue("notify")``).

``Notifications.publish`` (subscribed to every outcome type on the bus) stores one entry per
(outcome, channel), keyed by the message's idempotency key: an outcome published again after a crash
is a duplicate, not a second message.  The relay (an ``EventWorker``) posts each entry; a post that
fails is retried with backoff and, after ``max_attempts``, parked (``failed``, visible in the queue's
stats); an entry is acknowledged only once the service took it, and an unacknowledged one survives a
restart.  Entries are ordered per channel, so one failing channel waits alone: the others go on.
Every request carries ``X-Prowlet-Delivery: <key>`` (the generic webhook also has it as ``id``).

A channel with quiet hours or batching gathers its messages instead (bot.notify.digest) and sends
one digest when they are due: the next entry of the channel sends a due digest first, and a tick
(every ``tick`` seconds, in every replica) queues a flush entry for a due digest no entry came for —
keyed by the digest, so replicas queue it once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import orjson
import structlog

from bot.notify.settings import NotifySettings
from bot.notify.digest import DEFAULT_KEEP, KEEP_TTL, NS as DIGEST_NS, Pending, digest
from bot.notify.health import ChannelHealth, HealthBook
from bot.notify.message import Message, Target, message
from bot.notify.quiet import digest_due
from bot.notify.routing import channels_for
from bot.notify.services import SERVICES
from bot.outcomes import OUTCOME_TYPES, Bus
from bot.store.base import EventQueue, StateStore, StoreUnavailable
from bot.store.codec import CodecError
from bot.tasks import cancel_and_wait
from bot.worker import EventWorker

log = structlog.get_logger("prowlet.notify")

QUEUE_NAME = "notify"
HEALTH_NS = "notify.health"  # channel → its health, for the dashboard (bot.notify.health)
DELIVERY_HEADER = "X-Prowlet-Delivery"


class DeliveryFailed(Exception):
    """Said without the URL: webhook URLs carry credentials (DingTalk/WeCom tokens, Slack paths)."""


def encode(channel: str, msg: Message) -> bytes:
    return orjson.dumps({"v": 1, "channel": channel, "key": msg.key, "title": msg.title, "text": msg.text,
                         "link": msg.link, "outcome": msg.outcome, "data": msg.data})


def encode_flush(channel: str) -> bytes:
    return orjson.dumps({"v": 1, "channel": channel, "flush": True})


def decode(payload: bytes) -> tuple[str, Message | None]:
    """(channel, message); the message is None for a flush entry (send the channel's due digest)."""
    try:
        d = orjson.loads(payload)
        if d.get("flush"):
            return d["channel"], None
        return d["channel"], Message(d["key"], d["title"], d["text"], d["link"], d["outcome"], d["data"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise CodecError(f"not a notification: {type(err).__name__}") from None


class Notifications:
    def __init__(self, settings: NotifySettings, outbox: EventQueue, *, consumer: str, env: Mapping[str, str],
                 lease: float = 60.0, state: StateStore | None = None, clock: Callable[[], float] = time.time,
                 tick: float = 5.0) -> None:
        self._settings = settings
        self.outbox = outbox
        self._state = state
        self.clock = clock
        self._tick = tick
        self._ticker: asyncio.Task[None] | None = None
        # Channels that gather messages into digests (they need the state store to keep them).
        self._gathering = {name: c for name, c in settings.channels.items()
                           if (c.quiet_hours or c.batch) and state is not None}
        self._quiet = {name: c.quiet_hours.window() for name, c in self._gathering.items() if c.quiet_hours}
        self._env = env
        self._session: aiohttp.ClientSession | None = None
        self._health = HealthBook(list(settings.channels))
        self._health_writes: set[asyncio.Task[None]] = set()  # copies to the state store, in flight
        # The change's files, for routes with ``paths`` (bot.notify.paths.ChangedPaths); None: unknown.
        self.paths_of: Callable[[object], Awaitable[list[str] | None]] | None = None
        self._needs_paths = any(route.paths for route in settings.routes)
        # Told (channel, "sent" | "failed") after each post (metrics).
        self.on_delivery: Callable[[str, str], None] = lambda channel, result: None
        self.worker = EventWorker(outbox, self._handle_entry, consumer=consumer, max_concurrent=settings.max_concurrent,
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

    async def shared_health(self) -> dict[str, ChannelHealth]:
        """Per configured channel, the newest word from any replica (this process's, without a store)."""
        if self._state is None:
            return self.health()
        stored = await self._state.items(HEALTH_NS)
        return {name: ChannelHealth.from_store(stored.get(name)) for name in self._settings.channels}

    async def _handle_entry(self, entry: tuple[str, Message | None], attempt: int) -> None:
        name, msg = entry
        if name in self._gathering:
            await self._gather(name, msg, attempt)
        elif msg is not None:
            await self._post(name, msg, attempt)

    async def _gather(self, name: str, msg: Message | None, attempt: int) -> None:
        """Send the channel's digest if it is due, then gather ``msg`` (or send it, when the channel
        neither batches nor is quiet now).  Runs one entry of a channel at a time (the outbox's order)."""
        assert self._state is not None
        channel = self._settings.channels[name]
        keep = channel.batch.max if channel.batch else DEFAULT_KEEP
        window = float(channel.batch.window) if channel.batch else 0.0
        quiet = self._quiet.get(name)
        now = self.clock()
        pending = Pending.from_store(await self._state.get(DIGEST_NS, name))
        if pending is not None and digest_due(pending.since, now, window, quiet):
            await self._post_pending(name, pending, attempt)
            pending = None
        if msg is None:
            return  # a flush entry: nothing more to gather
        quiet_now = quiet is not None and quiet.is_quiet(now)
        if pending is None and not quiet_now and channel.batch is None:
            await self._post(name, msg, attempt)
            return
        pending = pending or Pending(since=now)
        if not pending.add(msg, keep):
            return
        if channel.batch is not None and not quiet_now and pending.count >= channel.batch.max:
            await self._post_pending(name, pending, attempt)
            return
        await self._state.put(DIGEST_NS, name, pending.to_store(), ttl=KEEP_TTL)

    async def _post_pending(self, name: str, pending: Pending, attempt: int) -> None:
        """Post what was gathered — the message itself when there is one — then forget it.  A crash
        between the two posts it again with the same key (the receiver's de-duplication key)."""
        assert self._state is not None
        if pending.count:
            one = pending.messages[0] if pending.count == 1 and pending.messages else None
            await self._post(name, one or digest(name, pending), attempt)
        await self._state.delete(DIGEST_NS, name)

    async def flush_due(self) -> int:
        """Queue a flush entry for each channel whose digest is due (the tick; tests call it too)."""
        queued = 0
        now = self.clock()
        for name, channel in self._gathering.items():
            assert self._state is not None
            try:
                pending = Pending.from_store(await self._state.get(DIGEST_NS, name))
                window = float(channel.batch.window) if channel.batch else 0.0
                if pending is not None and digest_due(pending.since, now, window, self._quiet.get(name)):
                    # Once per digest across replicas; a flush parked after its last attempt (its
                    # service down for long) is queued again by the next tick (the outbox revives it).
                    queued += await self.outbox.submit(f"{name}:flush:{pending.since!r}", f"channel:{name}",
                                                       encode_flush(name))
            except StoreUnavailable as err:
                log.warning("cannot check a channel's digest; will try again", channel=name, error=str(err))
        if queued:
            self.worker.wake()
        return queued

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self.flush_due()
            except Exception:  # noqa: BLE001 - the next tick tries again; the loop must not die
                log.exception("checking digests failed")

    async def _post(self, name: str, msg: Message, attempt: int) -> None:
        try:
            await self._send((name, msg), attempt)
        except DeliveryFailed as err:
            self._health.failed(name, str(err))
            self.on_delivery(name, "failed")
            self._share_health(name)
            raise
        self._health.succeeded(name)
        self.on_delivery(name, "sent")
        self._share_health(name)

    def _share_health(self, name: str) -> None:
        """Copy the channel's health to the state store beside the delivery, not before its outbox
        entry is settled: only the dashboard waits for it."""
        if self._state is None:
            return
        task = asyncio.get_running_loop().create_task(self._put_health(name))
        self._health_writes.add(task)
        task.add_done_callback(self._health_writes.discard)

    async def _put_health(self, name: str) -> None:
        assert self._state is not None
        try:
            await self._state.put(HEALTH_NS, name, self._health.get(name).to_store())
        except StoreUnavailable as err:  # only the dashboard's view is late
            log.warning("cannot record a channel's health", channel=name, error=str(err))

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
        if self._gathering:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def stop(self, grace: float) -> None:
        await cancel_and_wait([self._ticker])
        await self.worker.stop(grace)
        await asyncio.gather(*self._health_writes, return_exceptions=True)  # before the store closes
        if self._session is not None:
            await self._session.close()


def build_notifications(settings: NotifySettings, queue: EventQueue | None, *, consumer: str,
                        env: Mapping[str, str], state: StateStore | None = None) -> Notifications | None:
    """None when no route is configured (nothing to send) or the stores have no second queue.
    ``state``: where digests are gathered (quiet hours, batching)."""
    if not settings.routes or queue is None:
        return None
    return Notifications(settings, queue, consumer=consumer, env=env, state=state)
