"""Who may see what on the dashboard (bot/dashboard/access.py), as tables."""

from __future__ import annotations

import pytest

from bot.config import DashboardSettings
from bot.dashboard.access import SESSION_SECONDS, Access, local_path

NOW = 1_800_000_000.0


def access(token: str | None = "tok", public: tuple[str, ...] = ("acme/*",), now: float = NOW) -> Access:
    return Access(token, DashboardSettings(public_repos=list(public)), now=lambda: now)


TARGETS = [
    ("a page", "/repos/github/acme/x?y=1", "/repos/github/acme/x?y=1"),
    ("another host", "//evil.example/x", "/"),
    ("a URL", "https://evil.example/", "/"),
    ("backslash trick", "/\\evil.example", "/"),
    ("empty", "", "/"),
]


@pytest.mark.parametrize("given,expected", [c[1:] for c in TARGETS], ids=[c[0] for c in TARGETS])
def test_after_login_only_local_paths(given: str, expected: str) -> None:
    assert local_path(given) == expected


VISIBLE = [
    ("public, anonymous", "acme/site", False, True),
    ("public glob is case-insensitive", "ACME/site", False, True),
    ("private, anonymous", "other/thing", False, False),
    ("private, signed in", "other/thing", True, True),
]


@pytest.mark.parametrize("repo,signed_in,expected", [c[1:] for c in VISIBLE], ids=[c[0] for c in VISIBLE])
def test_can_see(repo: str, signed_in: bool, expected: bool) -> None:
    assert access().can_see(repo, signed_in) is expected


def test_a_session_expires_and_does_not_survive_a_new_token() -> None:
    cookie = access().new_session()
    assert access().valid_session(cookie)
    assert "tok" not in cookie
    assert not access(now=NOW + SESSION_SECONDS + 1).valid_session(cookie)
    assert not access(token="other").valid_session(cookie)
    expires, _, signature = cookie.partition(".")
    assert not access().valid_session(f"{int(expires) + 100}.{signature}")  # a longer life is not signed
    assert not access(token=None).valid_session(cookie)


CONFIGURED = [
    ("token only", "tok", (), True),
    ("public repos only", None, ("acme/*",), True),
    ("neither", None, (), False),
]


@pytest.mark.parametrize("token,public,expected", [c[1:] for c in CONFIGURED], ids=[c[0] for c in CONFIGURED])
def test_configured(token: str | None, public: tuple[str, ...], expected: bool) -> None:
    assert access(token, public).configured is expected
