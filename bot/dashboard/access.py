"""Who may see what on the dashboard.

A repository listed in ``dashboard.public_repos`` is shown to anyone; every other one only to a
request that proves it knows ``PROWLET_DASHBOARD_TOKEN``: as ``Authorization: Bearer <token>``, as
the password of basic auth (any user name), or through the login form, which sets a signed cookie.
The cookie holds an expiry and an HMAC of it under a key derived from the token (never the token
itself), so changing the token logs everyone out.  Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from aiohttp import web

from bot.config import DashboardSettings

COOKIE = "prowlet_dashboard"
SESSION_SECONDS = 12 * 3600


class Access:
    def __init__(self, token: str | None, settings: DashboardSettings, now=time.time) -> None:  # noqa: ANN001
        self._token = token or None
        self._settings = settings
        self._now = now
        # A key of its own for cookies: a leaked cookie says nothing about the token.
        self._key = hmac.new(token.encode(), b"prowlet dashboard session v1", hashlib.sha256).digest() if token else b""

    @property
    def login_enabled(self) -> bool:
        return self._token is not None

    @property
    def configured(self) -> bool:
        """Whether anybody can see any repository at all."""
        return self.login_enabled or bool(self._settings.public_repos)

    def can_see(self, repo: str, signed_in: bool) -> bool:
        return signed_in or self._settings.is_public(repo)

    # ---- proving access --------------------------------------------------------------------

    def token_matches(self, given: str) -> bool:
        if self._token is None:
            return False
        return hmac.compare_digest(given.encode(), self._token.encode())

    def signed_in(self, request: web.Request) -> bool:
        if self._token is None:
            return False
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return self.token_matches(value.strip())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            return self.token_matches(decoded.partition(":")[2])
        return self.valid_session(request.cookies.get(COOKIE, ""))

    def _signature(self, expires: int) -> str:
        return hmac.new(self._key, f"session|{expires}".encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        expires = int(self._now()) + SESSION_SECONDS
        return f"{expires}.{self._signature(expires)}"

    def valid_session(self, value: str) -> bool:
        if self._token is None or not value:
            return False
        expires_text, _, signature = value.partition(".")
        if not expires_text.isdigit() or len(expires_text) > 12:
            return False
        expires = int(expires_text)
        return hmac.compare_digest(signature.encode(), self._signature(expires).encode()) and expires > self._now()

    def set_session(self, response: web.StreamResponse, secure: bool) -> None:
        response.set_cookie(COOKIE, self.new_session(), max_age=SESSION_SECONDS, path="/", httponly=True,
                            samesite="Strict", secure=secure)

    @staticmethod
    def clear_session(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")


def local_path(target: str) -> str:
    """Where to go after logging in: a path on this site only (never ``//host`` or a URL)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
