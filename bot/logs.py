"""structlog set-up: JSON lines in production, readable lines on a terminal.

Context (delivery, forge, repo, number, plugin) is bound with contextvars by the dispatcher, so
every line a handler logs carries it.  A last processor redacts every configured secret value, in
case one ever reaches a log call (an SDK error message echoing a header, say).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog


class _Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is redacted whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, "[redacted]")
        return value

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        return {k: self._clean(v) for k, v in event_dict.items()}


def configure_logging(secrets: Iterable[str] = (), fmt: str = "auto", level: str = "info") -> None:
    """``fmt``: "json", "console", or "auto" (console when stderr is a terminal)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    redact = _Redactor(secrets)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _route_stdlib_logging(redact, renderer)


class _StdlibHandler(logging.StreamHandler):
    """Marks the root handler configure_logging installed, so calling it again replaces it."""


def _route_stdlib_logging(redact: _Redactor, renderer: Any) -> None:
    """SDK and aiohttp loggers (``aiohttp.server``, ``aiohttp.web``, ``github``, ``urllib3`` ...) go
    through the stdlib: render their records with the same processors, so every line is JSON (or
    console) and redacted like ours; keep them quiet unless something is wrong."""
    handler = _StdlibHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


log = structlog.get_logger("prowlet")
