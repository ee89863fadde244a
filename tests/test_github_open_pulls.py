"""Reading the GraphQL open-PR listing (bot.forge.github.open_pulls): the parts the fake cannot
produce — GitHub's other status and merge states, a deleted author, a state added later."""

from __future__ import annotations

from typing import Any

import pytest

from bot.forge.base import Mergeability, StatusState
from bot.forge.github.open_pulls import read_page


def _answer(**node: Any) -> dict[str, Any]:
    base = {
        "number": 3, "title": "Fix", "body": None, "url": "https://github.com/acme/widgets/pull/3", "isDraft": False,
        "headRefOid": "a" * 40, "baseRefName": "main", "mergeable": "MERGEABLE", "mergeStateStatus": "CLEAN",
        "author": {"login": "bob"}, "labels": {"totalCount": 0, "nodes": []}, "assignees": {"nodes": []},
        "commits": {"nodes": [{"commit": {"statusCheckRollup": None}}]},
    }
    connection = {"pageInfo": {"hasNextPage": False, "endCursor": "x"}, "nodes": [base | node]}
    return {"data": {"repository": {"pullRequests": connection}}}


def _rollup(*contexts: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": [{"commit": {"statusCheckRollup": {"contexts": {"totalCount": len(contexts), "nodes": list(contexts)}}}}]}


MERGE = [
    ("clean", "MERGEABLE", "CLEAN", Mergeability.CLEAN, ""),
    ("conflict", "CONFLICTING", "DIRTY", Mergeability.CONFLICT, "dirty"),
    ("computing", "UNKNOWN", "UNKNOWN", Mergeability.UNKNOWN, ""),
    ("computing, old state kept", "UNKNOWN", "BLOCKED", Mergeability.UNKNOWN, ""),
    ("a state added later, mergeable", "MERGEABLE", "QUEUED", Mergeability.BLOCKED, "queued"),
    ("a state added later, conflicting", "CONFLICTING", "QUEUED", Mergeability.CONFLICT, "queued"),
]


@pytest.mark.parametrize("mergeable,state,verdict,reason", [c[1:] for c in MERGE], ids=[c[0] for c in MERGE])
def test_mergeability(mergeable: str, state: str, verdict: Mergeability, reason: str) -> None:
    (pull,), _, _ = read_page("acme/widgets", _answer(mergeable=mergeable, mergeStateStatus=state))
    assert (pull.mergeable, pull.reason) == (verdict, reason)


def _status(state: str, at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"__typename": "StatusContext", "context": "ci", "state": state, "description": None, "targetUrl": None,
            "createdAt": at}


def _run(status: str, conclusion: str | None, at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"__typename": "CheckRun", "databaseId": 1, "name": "ci", "status": status, "conclusion": conclusion,
            "title": None, "detailsUrl": None, "startedAt": at, "completedAt": at if conclusion else None}


STATES = [
    ("expected by protection", [_status("EXPECTED")], StatusState.PENDING),
    ("status error", [_status("ERROR")], StatusState.ERROR),
    ("run waiting", [_run("WAITING", None)], StatusState.PENDING),
    ("run neutral", [_run("COMPLETED", "NEUTRAL")], StatusState.SUCCESS),
    ("run timed out", [_run("COMPLETED", "TIMED_OUT")], StatusState.FAILURE),
    ("run stale", [_run("COMPLETED", "STALE")], StatusState.ERROR),
    ("a later run wins over a status", [_status("FAILURE"), _run("COMPLETED", "SUCCESS", "2026-01-02T00:00:00Z")],
     StatusState.SUCCESS),
    ("a later status wins over a run", [_run("COMPLETED", "SUCCESS"), _status("FAILURE", "2026-01-02T00:00:00Z")],
     StatusState.FAILURE),
]


@pytest.mark.parametrize("contexts,state", [c[1:] for c in STATES], ids=[c[0] for c in STATES])
def test_statuses(contexts: list[dict[str, Any]], state: StatusState) -> None:
    (pull,), _, _ = read_page("acme/widgets", _answer(commits=_rollup(*contexts)))
    assert [(s.context, s.state) for s in pull.statuses or ()] == [("ci", state)]


def test_a_deleted_author_and_the_last_page() -> None:
    (pull,), cursor, overflowing = read_page("acme/widgets", _answer(author=None))
    assert (pull.item.author, pull.item.body, cursor, overflowing) == (None, "", None, [])
