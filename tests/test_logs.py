"""Log lines are JSON in production, carry bound context, and never contain secrets."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from bot.logs import _StdlibHandler, configure_logging


@pytest.fixture(autouse=True)
def _reset() -> None:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:  # it holds capsys's stream
        root.removeHandler(handler)


def test_json_lines_with_context_and_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(["ghp_supersecret", "whsec"], fmt="json")
    structlog.contextvars.bind_contextvars(delivery="d-1", forge="github", repo="a/b", number=3)
    structlog.get_logger("t").bind(plugin="lgtm").warning(
        "forge said no", error="401 for token ghp_supersecret", note="secret whsec here"
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["delivery"] == "d-1" and line["plugin"] == "lgtm" and line["number"] == 3
    assert "ghp_supersecret" not in json.dumps(line)
    assert "whsec" not in json.dumps(line)
    assert "[redacted]" in line["error"]


def test_stdlib_loggers_are_rendered_and_redacted_like_ours(capsys: pytest.CaptureFixture[str]) -> None:
    """aiohttp's and the SDKs' loggers go through the stdlib: their lines are JSON and redacted too."""
    configure_logging(["ghp_supersecret"], fmt="json")
    try:
        raise RuntimeError("failed with token ghp_supersecret")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("Error handling request from %s", "10.0.0.1")
    logging.getLogger("some.sdk").info("below the stdlib level: not shown")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "Error handling request from 10.0.0.1"
    assert line["logger"] == "aiohttp.server" and line["level"] == "error"
    assert "RuntimeError" in line["exception"] and "[redacted]" in line["exception"]
    assert "ghp_supersecret" not in lines[0]
