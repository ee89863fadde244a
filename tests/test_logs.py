"""Log lines are JSON in production, carry bound context, and never contain secrets."""

from __future__ import annotations

import json

import pytest
import structlog

from bot.logs import configure_logging


@pytest.fixture(autouse=True)
def _reset() -> None:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


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
