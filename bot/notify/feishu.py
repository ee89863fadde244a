"""Feishu/Lark custom bot.  Signing: ``timestamp`` in seconds and
``sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))``, both in the JSON body.
Answers HTTP 200 with ``{"code": 0}`` (older bots: ``{"StatusCode": 0}``); non-zero is a refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from bot.notify.common import JSON, body, json_code_problem, with_keyword
from bot.notify.message import Message, Request, Target


def sign(timestamp: str, secret: str) -> str:
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def request(msg: Message, target: Target) -> Request:
    text = f"{msg.title}\n{msg.text}" + (f"\n{msg.link}" if msg.link else "")
    payload: dict[str, Any] = {"msg_type": "text", "content": {"text": with_keyword(text, target.keyword)}}
    if target.secret:
        timestamp = str(int(target.now))
        payload = {"timestamp": timestamp, "sign": sign(timestamp, target.secret), **payload}
    return Request(target.url, body(payload), dict(JSON))


def problem(status: int, text: bytes) -> str | None:
    return json_code_problem(status, text, "code", "StatusCode")
