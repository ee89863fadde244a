"""What the service modules share: JSON bodies and reading a JSON answer's error code."""

from __future__ import annotations

from typing import Any

import orjson

JSON = {"Content-Type": "application/json; charset=utf-8"}


def body(data: Any) -> bytes:
    return orjson.dumps(data)


def http_problem(status: int, text: bytes) -> str | None:
    if 200 <= status < 300:
        return None
    return f"HTTP {status}: {text[:200].decode('utf-8', 'replace')}"


def json_code_problem(status: int, text: bytes, *codes: str) -> str | None:
    """Services that answer HTTP 200 with an error code in the body (``errcode``, ``code``): non-zero
    is a refusal (bad signature, keyword missing, rate limited)."""
    problem = http_problem(status, text)
    if problem:
        return problem
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return f"not a JSON answer: {text[:200].decode('utf-8', 'replace')}"
    for code in codes:
        if isinstance(data, dict) and data.get(code) not in (None, 0):
            return f"{code} {data.get(code)}: {data.get('errmsg') or data.get('msg') or ''}"[:300]
    return None


def with_keyword(text: str, keyword: str) -> str:
    """A keyword rule rejects a message without the keyword: add it when the template left it out."""
    return text if not keyword or keyword in text else f"{text}\n\n{keyword}"
