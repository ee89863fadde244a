"""Which remembered statuses may be reused: only those that hold the PR back whatever else is true."""

from __future__ import annotations

import pytest

from bot.forge.base import CommitStatus, StatusState
from bot.merge.statuses import keeps_waiting

OK, PENDING, FAILED = StatusState.SUCCESS, StatusState.PENDING, StatusState.FAILURE
EXEMPT = {"merge", "lint-optional"}

CASES = [
    ("none at all", [], False),
    ("all succeeded", [("unit", OK), ("e2e", OK)], False),
    ("one pending", [("unit", OK), ("e2e", PENDING)], True),
    ("one failed", [("unit", FAILED)], True),
    ("only the bot's own status pending", [("unit", OK), ("merge", PENDING)], False),
    ("only an optional job failed", [("unit", OK), ("lint-optional", FAILED)], False),
    ("an error", [("unit", StatusState.ERROR)], True),
]


@pytest.mark.parametrize("statuses,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_keeps_waiting(statuses: list[tuple[str, StatusState]], expected: bool) -> None:
    assert keeps_waiting([CommitStatus(context, state) for context, state in statuses], EXEMPT) is expected
