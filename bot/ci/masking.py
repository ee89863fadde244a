"""Secrets never reach a stored job log: every form of them is masked while the output streams.

Forms masked, for each secret: the value itself, its URL-encoding (what a job printing a URL with
credentials shows) and its base64 encoding at each of the three byte alignments (a token inside
``base64("x-access-token:" + token)`` — an HTTP Basic header — is not the base64 of the token
alone).  A ``StreamMasker`` holds back the last few bytes of each chunk, so a secret split across
two reads of the pipe is still found whole.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = b"***"
MIN_SECRET = 6  # shorter values ("true", "1234") would mask ordinary words; never treated as secrets
MIN_FORM = 8  # a base64 fragment shorter than this is too likely to occur by chance


def _base64_forms(secret: bytes) -> set[bytes]:
    """The base64 characters that encode ``secret`` alone, whatever bytes precede it (0, 1 or 2
    modulo 3): skip the characters that mix in earlier bytes and those that mix in later ones."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret)
        start = -(-8 * offset // 6)  # ceil: first character made of secret bits only
        end = 8 * (offset + len(secret)) // 6  # floor: past the last such character
        for alphabet in (encoded, encoded.replace(b"+", b"-").replace(b"/", b"_")):  # also base64url
            form = alphabet[start:end]
            if len(form) >= MIN_FORM:
                forms.add(form)
    return forms


def secret_forms(secrets: Iterable[str]) -> list[bytes]:
    """Every form to mask, longest first (so a secret containing another is masked whole)."""
    forms: set[bytes] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET:
            continue
        raw = secret.encode()
        forms.add(raw)
        forms.update(f.encode() for f in (quote(secret, safe=""), quote_plus(secret, safe="")))
        forms.update(_base64_forms(raw))
    return sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)


def header_secrets(header: str) -> list[str]:
    """A git credential header (``Authorization: Basic <b64>``) and the parts of it that are secret
    on their own: the whole value, and the credential after the scheme."""
    if not header:
        return []
    parts = [header]
    if ":" in header:
        value = header.split(":", 1)[1].strip()
        parts.append(value)
        words = value.split()
        if words:
            parts.append(words[-1])
            if words[0].lower() == "basic":  # user:password inside; both halves may appear alone
                try:
                    decoded = base64.b64decode(words[-1], validate=True).decode()
                except (ValueError, UnicodeDecodeError):
                    decoded = ""
                parts.append(decoded)
                parts.extend(decoded.split(":", 1)[1:])
    return [p for p in parts if p]


class Masker:
    """Replaces every form of the given secrets in a whole buffer."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms = secret_forms(secrets)
        self.longest = len(forms[0]) if forms else 0
        self._pattern = re.compile(b"|".join(re.escape(f) for f in forms)) if forms else None

    def mask(self, data: bytes) -> bytes:
        return self._pattern.sub(MASK, data) if self._pattern is not None else data

    def stream(self) -> StreamMasker:
        return StreamMasker(self)


class StreamMasker:
    """Masks a byte stream fed in arbitrary chunks: ``feed`` returns what is safe to write now,
    ``flush`` the rest at the end."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        pattern = self._masker._pattern
        if pattern is None:
            return chunk
        buf = self._held + chunk
        # A secret starting before ``safe`` lies wholly inside ``buf``; one starting later may go on
        # in the next chunk, so those bytes wait.
        safe = max(len(buf) - (self._masker.longest - 1), 0)
        out, pos = [], 0
        for match in pattern.finditer(buf):
            if match.start() >= safe:
                break
            out += [buf[pos:match.start()], MASK]
            pos = match.end()
        end = max(pos, safe)
        out.append(buf[pos:end])
        self._held = buf[end:]
        return b"".join(out)

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._masker.mask(held)


__all__ = ["MASK", "Masker", "StreamMasker", "header_secrets", "secret_forms"]
