"""URLs that may carry credentials (``redis://:secret@host/0``): what is safe to show, what to hide."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL to show an operator: no password (nor a lone user-info, which may be one), no query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        hostport = f"{user}:***@{hostport}" if colon else f"***@{hostport}"
    return urlunsplit((parts.scheme, hostport, parts.path, "", ""))


def url_secrets(url: str) -> list[str]:
    """What in a URL must never reach a log: the password (or a lone user-info) and the query, as
    written and percent-decoded (as a client sends it)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = (parts.password, parts.username if parts.password is None else None, parts.query)
    return [s for raw in found if raw for s in {raw, unquote(raw)}]
