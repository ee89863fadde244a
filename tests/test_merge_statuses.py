"""Merge statuses: which remembered ones may be reused (only those that hold the PR back whatever
else is true), and which ones a pass that may not write them all writes first."""

from __future__ import annotations

import pytest

from bot.events import Item, ItemKind, ItemRef
from bot.forge.base import CommitStatus, PullState, StatusState
from bot.merge.readiness import Verdict
from bot.merge.status_writes import by_relevance
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


def _entry(number: int, labels: set[str], ready: bool) -> tuple[PullState, Verdict]:
    item = Item(ItemRef("acme/widgets", number, ItemKind.PULL), labels=frozenset(labels), head_sha=f"{number:040d}")
    return PullState(item), Verdict(ready, "In merge pool." if ready else "Not mergeable.")


ORDER = [
    ("ready, then labelled, then newest first",
     [(1, set(), False), (2, {"lgtm", "approved"}, False), (3, {"lgtm", "approved"}, True), (4, {"lgtm"}, False)],
     [3, 2, 4, 1]),
    ("labels compared without case", [(1, {"LGTM", "Approved"}, False), (2, set(), False)], [1, 2]),
    ("only newest first when nothing qualifies", [(5, set(), False), (9, set(), False), (7, {"kind/bug"}, False)],
     [9, 7, 5]),
]


@pytest.mark.parametrize("entries,expected", [c[1:] for c in ORDER], ids=[c[0] for c in ORDER])
def test_status_write_order(entries: list[tuple[int, set[str], bool]], expected: list[int]) -> None:
    ordered = by_relevance([_entry(*e) for e in entries], ["lgtm", "approved"])
    assert [pull.item.ref.number for pull, _ in ordered] == expected
