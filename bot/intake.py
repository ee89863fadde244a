"""The webhook receiver: verify, translate, store durably (de-duplicating) — then answer.

A delivery is answered 2xx only once it is stored (``EventQueue.submit`` returns after the commit):
whatever happens to the process afterwards, this or the next process handles it.  A store that
cannot take it gets 503, so the forge records a failed delivery that repair (bot/repair.py) or the
forge's own retry brings back.  Nothing here calls a forge: the forge times deliveries out after
~10 s, and GitLab disables a hook after repeated failures (a 4xx disables it for good), so every
verified delivery gets an answer quickly and ignored events are answered 200 too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qs

import orjson
import structlog
from aiohttp import web

from bot.events import PayloadError, order_key
from bot.forge.driver import ForgeDriver, Translator
from bot.forge.drivers import DRIVERS
from bot.store.base import EventQueue, StoreUnavailable
from bot.store.codec import encode
from bot.http_guard import BodyReader

log = structlog.get_logger("prowlet.intake")

# Unauthenticated senders choose the event header: until a delivery is verified it is no metric label.
UNVERIFIED_EVENT = "unverified"


@dataclass(frozen=True)
class ForgeIntake:
    """What the receiver needs to know about one enabled forge."""

    name: str
    secret: str
    translate: Translator


def _reply(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=orjson.dumps({"status": message}), content_type="application/json")


def _not_configured(forge: str) -> web.Response:
    # 503, not 404: GitLab disables a hook for good after a 4xx, but only for a while after a 5xx,
    # so a hook pointed here before the credentials are set keeps working once they are.
    return _reply(503, f"{forge} is not configured on this prowlet (see the log at start-up)")


def _decode(body: bytes, content_type: str) -> dict[str, Any] | None:
    """JSON body, or GitHub's form-encoded ``payload=`` variant.  orjson: parsing is the largest
    share of intake's cost per delivery (bench/intake.py --breakdown)."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            body = parse_qs(body.decode()).get("payload", [""])[0].encode()
        payload = orjson.loads(body)
    except (ValueError, UnicodeDecodeError):  # orjson.JSONDecodeError is a ValueError
        return None
    return payload if isinstance(payload, dict) else None


class Intake:
    def __init__(self, forges: list[ForgeIntake], events: EventQueue, on_accept: Callable[[], None],
                 bodies: BodyReader | None = None,
                 observe: Callable[[str, str | None, str], None] | None = None,
                 drivers: Sequence[ForgeDriver] | None = None) -> None:
        self._forges = {f.name: f for f in forges}
        self._drivers = DRIVERS if drivers is None else drivers  # a route for each, enabled or not
        self._bodies = bodies or BodyReader()  # size, time and concurrency limits (bot/http_guard.py)
        self._events = events
        self._on_accept = on_accept  # wakes the worker
        self._observe = observe or (lambda forge, event, outcome: None)  # (forge, event type, outcome): metrics

    def routes(self) -> list[web.RouteDef]:
        return [
            *(web.post(driver.webhook.path, partial(self.receive, driver)) for driver in self._drivers),
            web.get("/healthz", self.healthz),
        ]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "forges": sorted(self._forges)})

    async def receive(self, driver: ForgeDriver, request: web.Request) -> web.Response:
        forge = self._forges.get(driver.name)
        if forge is None:
            return _not_configured(driver.display_name)
        hook = driver.webhook
        body = await self._bodies.read(request) if hook.signs_body else b""
        if not hook.verify(forge.secret, body, request.headers):
            self._observe(driver.name, UNVERIFIED_EVENT, "bad_signature")
            return _reply(401, hook.rejection)
        if not hook.signs_body:
            body = await self._bodies.read(request)
        event_type = request.headers.get(hook.event_header)
        delivery = hook.delivery_id(request.headers)
        return await self._accept(forge, event_type, delivery, body, request.content_type)

    async def _accept(
        self, forge: ForgeIntake, event_type: str | None, delivery: str | None, body: bytes, content_type: str
    ) -> web.Response:
        if not event_type:
            return self._answer(forge, event_type, "malformed", 400, "missing event type header")
        payload = _decode(body, content_type)
        if payload is None:
            return self._answer(forge, event_type, "malformed", 400, "body is not a JSON object")
        try:
            event = forge.translate(event_type, delivery or "", payload)
        except PayloadError as err:
            log.warning("malformed payload", forge=forge.name, event_type=event_type, delivery=delivery, error=str(err))
            return self._answer(forge, event_type, "malformed", 400, f"malformed {event_type} payload: {err}")
        if event is None:
            return self._answer(forge, event_type, "ignored", 200, "ignored")
        # The delivery id is the queue's key, so a redelivery is recognised as a duplicate; a
        # delivery without one cannot be, and gets a key of its own.
        key = f"{forge.name}:{delivery}" if delivery else f"{forge.name}:no-id:{uuid.uuid4().hex}"
        try:
            accepted = await self._events.submit(key, order_key(event), encode(event))
        except StoreUnavailable as err:
            log.error("delivery refused: the store cannot take it", forge=forge.name, delivery=delivery, error=str(err))
            return self._answer(forge, event_type, "refused", 503, "cannot store the delivery now; redeliver later")
        if not accepted:
            return self._answer(forge, event_type, "duplicate", 200, "duplicate")
        self._on_accept()
        return self._answer(forge, event_type, "accepted", 202, "accepted")

    def _answer(self, forge: ForgeIntake, event_type: str | None, outcome: str, status: int, message: str) -> web.Response:
        self._observe(forge.name, event_type, outcome)
        return _reply(status, message)
