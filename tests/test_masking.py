"""Secrets masked in job logs: every form of them, whole or streamed in pieces."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from bot.ci.masking import MASK, Masker, header_secrets

SECRET = "s3cr3t/t0ken+with=odd&chars"
TOKEN = "ghs_installationtoken0123456789"
HEADER = "Authorization: Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


def b64_in_context(prefix: bytes, secret: str) -> str:
    """base64 of the secret as part of a longer value (so not aligned at a 3-byte boundary)."""
    return base64.b64encode(prefix + secret.encode() + b"!").decode()


FORMS = [
    ("raw", f"the secret is {SECRET} ok"),
    ("url-encoded", f"https://user:{quote(SECRET, safe='')}@example.com/"),
    ("url-encoded with plus for space", "pw=" + quote("has space 123456", safe="").replace("%20", "+")),
    ("base64 aligned", base64.b64encode(SECRET.encode()).decode()),
    ("base64 after one byte", b64_in_context(b"x", SECRET)),
    ("base64 after two bytes", b64_in_context(b"xy", SECRET)),
    ("base64url", base64.urlsafe_b64encode(b"\xff" + SECRET.encode()).decode()),
]


@pytest.mark.parametrize("text", [c[1] for c in FORMS], ids=[c[0] for c in FORMS])
def test_every_form_of_a_secret_is_masked(text: str) -> None:
    masker = Masker([SECRET, "has space 123456"])
    masked = masker.mask(text.encode()).decode()
    assert MASK.decode() in masked
    assert SECRET not in masked and quote(SECRET, safe="") not in masked
    assert base64.b64encode(SECRET.encode()).decode()[2:-2] not in masked


HEADER_PARTS = [
    ("the whole header", HEADER),
    ("the header's value", HEADER.split(": ", 1)[1]),
    ("the basic credential", HEADER.split()[-1]),
    ("the token inside it", TOKEN),
    ("the token url-encoded", quote(TOKEN)),
]


@pytest.mark.parametrize("text", [c[1] for c in HEADER_PARTS], ids=[c[0] for c in HEADER_PARTS])
def test_the_clone_credential_is_masked_in_every_part(text: str) -> None:
    masked = Masker(header_secrets(HEADER)).mask(f"fatal: {text}\n".encode()).decode()
    assert TOKEN not in masked and HEADER.split()[-1] not in masked
    assert masked.startswith("fatal: ***")


SAFE = [
    ("short values are not secrets", ["1234"], "port 1234 open"),
    ("ordinary words stay", [TOKEN], "Basic auth failed; x-access-token expected"),
    ("no secrets at all", [], "anything at all"),
]


@pytest.mark.parametrize("secrets,text", [c[1:] for c in SAFE], ids=[c[0] for c in SAFE])
def test_text_without_secrets_is_unchanged(secrets: list[str], text: str) -> None:
    assert Masker(secrets).mask(text.encode()).decode() == text


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
def test_a_secret_split_across_reads_is_still_masked(chunk: int) -> None:
    masker = Masker([SECRET, TOKEN])
    text = f"a {SECRET} b {TOKEN}{TOKEN} c {base64.b64encode(SECRET.encode()).decode()} end\n".encode()
    stream = masker.stream()
    out = b"".join(stream.feed(text[i:i + chunk]) for i in range(0, len(text), chunk)) + stream.flush()
    assert out == masker.mask(text)
    assert out.decode() == "a *** b ****** c *** end\n"


def test_a_stream_ending_inside_a_prefix_of_a_secret_keeps_it() -> None:
    stream = Masker([TOKEN]).stream()
    out = stream.feed(b"ends with " + TOKEN[:5].encode()) + stream.flush()
    assert out == b"ends with " + TOKEN[:5].encode()
