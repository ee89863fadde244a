"""Signature and token checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.verify import github_signature_ok, gitlab_token_ok

BODY = b'{"a": 1}'
GOOD = "sha256=" + hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()

GITHUB = [
    ("valid", GOOD, BODY, True),
    ("valid upper-case hex", "sha256=" + GOOD[7:].upper(), BODY, True),
    ("missing", None, BODY, False),
    ("empty", "", BODY, False),
    ("sha1 scheme", "sha1=" + GOOD[7:], BODY, False),
    ("other body", GOOD, BODY + b" ", False),
    ("truncated", GOOD[:-2], BODY, False),
    ("other secret", "sha256=" + hmac.new(b"other", BODY, hashlib.sha256).hexdigest(), BODY, False),
]


@pytest.mark.parametrize("header,body,ok", [c[1:] for c in GITHUB], ids=[c[0] for c in GITHUB])
def test_github_signature(header: str | None, body: bytes, ok: bool) -> None:
    assert github_signature_ok("s3cret", body, header) is ok


GITLAB = [("valid", "tok", True), ("missing", None, False), ("wrong", "tok2", False), ("empty", "", False),
          ("non-ascii", "tök", False)]


@pytest.mark.parametrize("header,ok", [c[1:] for c in GITLAB], ids=[c[0] for c in GITLAB])
def test_gitlab_token(header: str | None, ok: bool) -> None:
    assert gitlab_token_ok("tok", header) is ok
