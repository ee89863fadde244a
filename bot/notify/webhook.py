"""The generic signed JSON webhook: the outcome's fields as JSON, signed like GitHub's webhooks:
``X-Prowlet-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.  The body's ``id`` (also in
``X-Prowlet-Delivery``) is the same on every attempt: a receiver de-duplicates on it."""

from __future__ import annotations

import hashlib
import hmac

from bot.notify.common import JSON, body, http_problem
from bot.notify.message import Message, Request, Target

SIGNATURE_HEADER = "X-Prowlet-Signature-256"


def signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def request(msg: Message, target: Target) -> Request:
    payload = body({"id": msg.key, "type": msg.outcome, "title": msg.title, "text": msg.text, "link": msg.link,
                    "outcome": msg.data, "sent_at": int(target.now)})
    return Request(target.url, payload, {**JSON, SIGNATURE_HEADER: signature(target.secret, payload)})


problem = http_problem
