"""Local stand-ins for the chat services: each checks what its service documents (payload shape,
signature, keyword rule) and answers the way that service does.  They verify signatures with their
own code, not prowlet's.  ``fail_next[service] = n`` makes the next n posts fail (HTTP 503)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DING_TOKEN, DING_SECRET, DING_KEYWORD = "ding-token", "SECding-secret", "prowlet"
FEISHU_SECRET, WECOM_KEY, HOOK_SECRET = "feishu-secret", "wecom-key", "hook-secret"
ONE_HOUR = 3600


@dataclass
class Received:
    service: str
    key: str  # X-Prowlet-Delivery
    body: dict[str, Any]


@dataclass
class Receivers:
    accepted: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (service, why)
    fail_next: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)

    def keys(self, service: str) -> list[str]:
        return [r.key for r in self.accepted if r.service == service]

    async def wait(self, done: Callable[[], bool], timeout: float = 60.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(done), timeout)

    async def _note(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def app(self) -> web.Application:
        app = web.Application()
        for service, check in (("slack", _slack), ("dingtalk", _dingtalk), ("feishu", _feishu),
                               ("wecom", _wecom), ("teams", _teams), ("webhook", _webhook)):
            app.router.add_post(f"/{service}/{{tail:.*}}", self._handler(service, check))
        return app

    def _handler(self, service: str, check: Callable[[web.Request, bytes], Any]) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            self.attempts[service] += 1
            try:
                if service in self.hold:
                    await self._note()  # the post arrived: a test may wait for that
                    await self.hold[service].wait()
                if self.fail_next[service] > 0:
                    self.fail_next[service] -= 1
                    return web.Response(status=503, text="try later")
                why, body, answer = check(request, raw)
                if why:
                    self.refused.append((service, why))
                else:
                    self.accepted.append(Received(service, request.headers.get("X-Prowlet-Delivery", ""), body))
                return answer
            finally:
                await self._note()
        return handle


def _json(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


def _fresh(timestamp: str, scale: int) -> bool:
    return timestamp.isdigit() and abs(int(timestamp) / scale - time.time()) < ONE_HOUR


def _slack(request: web.Request, raw: bytes) -> tuple[str, Any, web.Response]:
    body = _json(raw)
    blocks = body.get("blocks")
    ok = (isinstance(body.get("text"), str) and body["text"] and isinstance(blocks, list) and blocks
          and all(b.get("type") in {"section", "context", "header", "divider", "actions"} for b in blocks)
          and blocks[0]["text"]["type"] in {"mrkdwn", "plain_text"} and blocks[0]["text"]["text"])
    return ("" if ok else "invalid_blocks"), body, web.Response(status=200 if ok else 400, text="ok" if ok else "invalid_blocks")


def _dingtalk(request: web.Request, raw: bytes) -> tuple[str, Any, web.Response]:
    q, body = request.query, _json(raw)
    ts, sign = q.get("timestamp", ""), q.get("sign", "")
    expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256).digest()).decode()
    if q.get("access_token") != DING_TOKEN:
        return "token", body, web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
    if not _fresh(ts, 1000) or not hmac.compare_digest(sign, expected):
        return "sign", body, web.json_response({"errcode": 310000, "errmsg": "sign not match"})
    md = body.get("markdown") or {}
    if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
        return "shape", body, web.json_response({"errcode": 40035, "errmsg": "缺少参数 json"})
    if DING_KEYWORD not in md["text"]:
        return "keyword", body, web.json_response({"errcode": 310000, "errmsg": "keywords not in content"})
    return "", body, web.json_response({"errcode": 0, "errmsg": "ok"})


def _feishu(request: web.Request, raw: bytes) -> tuple[str, Any, web.Response]:
    body = _json(raw)
    ts, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
    expected = base64.b64encode(hmac.new(f"{ts}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
    if not _fresh(ts, 1) or not hmac.compare_digest(sign, expected):
        return "sign", body, web.json_response(
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
    if body.get("msg_type") != "text" or not (body.get("content") or {}).get("text"):
        return "shape", body, web.json_response({"code": 9499, "msg": "Bad Request"})
    return "", body, web.json_response({"code": 0, "data": {}, "msg": "success"})


def _wecom(request: web.Request, raw: bytes) -> tuple[str, Any, web.Response]:
    body = _json(raw)
    if request.query.get("key") != WECOM_KEY:
        return "key", body, web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
    content = (body.get("markdown") or {}).get("content", "")
    if body.get("msgtype") != "markdown" or not content or len(content.encode()) > 4096:
        return "shape", body, web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
    return "", body, web.json_response({"errcode": 0, "errmsg": "ok"})


def _teams(request: web.Request, raw: bytes) -> tuple[str, Any, web.Response]:
    body = _json(raw)
    attachments = body.get("attachments") or [{}]
    card = attachments[0].get("content") or {}
    ok = (body.get("type") == "message" and attachments[0].get("contentType") == "application/vnd.microsoft.card.adaptive"
          and card.get("type") == "AdaptiveCard" and card.get("version") and card.get("body"))
    return ("" if ok else "shape"), body, web.Response(status=202 if ok else 400)


def _webhook(request: web.Request, raw: bytes) -> tuple[str, Any, web.Response]:
    body = _json(raw)
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Prowlet-Signature-256", ""), expected):
        return "signature", body, web.Response(status=401)
    if body.get("id") != request.headers.get("X-Prowlet-Delivery") or not body.get("type"):
        return "shape", body, web.Response(status=400)
    return "", body, web.Response(status=204)
