"""WeCom (企业微信) group robot: ``…/cgi-bin/webhook/send?key=…`` takes a markdown message; the key in
the URL is the credential (no signature).  Answers ``{"errcode": 0, "errmsg": "ok"}``."""

from __future__ import annotations

from bot.notify.common import JSON, body, json_code_problem
from bot.notify.message import Message, Request, Target


def request(msg: Message, target: Target) -> Request:
    content = f"**{msg.title}**\n{msg.text}" + (f"\n[details]({msg.link})" if msg.link else "")
    return Request(target.url, body({"msgtype": "markdown", "markdown": {"content": content[:4096]}}), dict(JSON))


def problem(status: int, text: bytes) -> str | None:
    return json_code_problem(status, text, "errcode")
