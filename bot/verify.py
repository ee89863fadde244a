"""Webhook authenticity checks, in constant time."""

from __future__ import annotations

import hashlib
import hmac


def github_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())


def gitlab_token_ok(secret: str, header: str | None) -> bool:
    """``X-Gitlab-Token`` carries the secret verbatim."""
    if header is None:
        return False
    return hmac.compare_digest(secret.encode(), header.encode())
