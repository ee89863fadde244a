"""DingTalk custom robot.  Signing ("加签"): ``timestamp`` in milliseconds and
``sign = base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))`` added to the URL's query
(beside its ``access_token``).  A keyword rule rejects messages without the keyword.  DingTalk answers
HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; any other errcode is a refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac

from yarl import URL

from bot.notify.common import JSON, body, json_code_problem, with_keyword
from bot.notify.message import Message, Request, Target


def sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def request(msg: Message, target: Target) -> Request:
    url = URL(target.url)
    if target.secret:
        timestamp = str(int(target.now * 1000))
        url = url.update_query(timestamp=timestamp, sign=sign(timestamp, target.secret))
    text = f"#### {msg.title}\n\n{msg.text}" + (f"\n\n[details]({msg.link})" if msg.link else "")
    payload = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": with_keyword(text, target.keyword)}}
    return Request(str(url), body(payload), dict(JSON))


def problem(status: int, text: bytes) -> str | None:
    return json_code_problem(status, text, "errcode")
