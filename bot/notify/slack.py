"""Slack incoming webhook: a Block Kit message; ``text`` is the notification fallback.
Slack answers 200 ``ok``, or 4xx with a reason (``invalid_blocks``, ``no_text`` ...)."""

from __future__ import annotations

from bot.notify.common import JSON, body, http_problem
from bot.notify.message import Message, Request, Target


def request(msg: Message, target: Target) -> Request:
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": msg.text[:3000]}},
    ]
    if msg.link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{msg.link}|{msg.outcome or 'details'}>"}]})
    return Request(target.url, body({"text": msg.title, "blocks": blocks}), dict(JSON))


problem = http_problem
