"""An alias's HTTP action: a JSON POST signed like prowlet's generic webhook notifier
(``X-Prowlet-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``, bot.notify.webhook)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bot.notify.common import JSON
from bot.notify.webhook import SIGNATURE_HEADER, signature

TIMEOUT = 30.0  # seconds for the whole call; a slower endpoint is reported as an error
DELIVERY_HEADER = "X-Prowlet-Delivery"


@dataclass(frozen=True)
class HttpOutcome:
    status: str  # success (2xx) | failure (other answers) | error (no answer)
    url: str = ""  # the answer's JSON "url", when it gives one
    detail: str = ""  # for the log: the HTTP status or the error


async def call(url: str, secret: str, payload: Mapping[str, Any], delivery: str,
               timeout: float = TIMEOUT) -> HttpOutcome:
    """POST ``payload`` once; never raises for the endpoint's failures (they are the result)."""
    body = orjson.dumps(dict(payload))
    headers = {**JSON, SIGNATURE_HEADER: signature(secret, body), DELIVERY_HEADER: delivery}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(url, data=body, headers=headers) as response:
                text = await response.read()
                status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        return HttpOutcome("error", detail=type(err).__name__)
    link = ""
    try:
        answer = orjson.loads(text) if text else None
        if isinstance(answer, dict) and isinstance(answer.get("url"), str):
            link = answer["url"]
    except orjson.JSONDecodeError:
        pass
    return HttpOutcome("success" if 200 <= status < 300 else "failure", link, f"HTTP {status}")
