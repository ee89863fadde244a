"""Microsoft Teams incoming webhook (a Workflows "when a Teams webhook request is received" flow, or
a classic connector): a message with one Adaptive Card attachment.  Any 2xx is taken."""

from __future__ import annotations

from typing import Any

from bot.notify.common import JSON, body, http_problem
from bot.notify.message import Message, Request, Target

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def request(msg: Message, target: Target) -> Request:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": msg.title, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": msg.text, "wrap": True},
        ],
    }
    if msg.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Details", "url": msg.link}]
    payload = {"type": "message", "attachments": [{"contentType": ADAPTIVE, "contentUrl": None, "content": card}]}
    return Request(target.url, body(payload), dict(JSON))


problem = http_problem
