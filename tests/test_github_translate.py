"""bot.forge.github.translate against the real webhook payloads in tests/fixtures/github."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.events import (
    NO_NUMBER,
    CIEvent,
    RunFinished,
    CommentEvent,
    CommitCIEvent,
    ItemAction,
    ItemEvent,
    ItemKind,
    PayloadError,
    ReviewEvent,
    ReviewState,
)
from bot.forge.github.translate import translate

FIXTURES = Path(__file__).parent / "fixtures" / "github"
FILES = sorted(FIXTURES.glob("*.json"))

# (X-GitHub-Event, action) → event type, or None when deliberately ignored.  A fixture whose pair is
# missing here fails, so every new kind of payload gets a decision.
EXPECTED: dict[tuple[str, str], type | None] = {
    ("issue_comment", "created"): CommentEvent,
    ("issue_comment", "edited"): None,
    ("issue_comment", "deleted"): None,
    ("pull_request_review", "submitted"): ReviewEvent,
    ("pull_request_review", "dismissed"): ReviewEvent,
    ("pull_request_review", "edited"): None,
    ("pull_request_review_comment", "created"): CommentEvent,
    ("pull_request_review_comment", "edited"): None,
    ("pull_request_review_comment", "deleted"): None,
    **{
        ("pull_request", action): ItemEvent
        for action in (
            "opened",
            "reopened",
            "synchronize",
            "edited",
            "labeled",
            "unlabeled",
            "closed",
            "ready_for_review",
            "converted_to_draft",
        )
    },
    **{
        ("pull_request", action): None
        for action in (
            "assigned",
            "unassigned",
            "locked",
            "unlocked",
            "review_requested",
            "review_request_removed",
        )
    },
    **{("issues", action): ItemEvent for action in ("opened", "reopened", "edited", "labeled", "unlabeled", "closed")},
    **{
        ("issues", action): None
        for action in (
            "assigned",
            "unassigned",
            "deleted",
            "locked",
            "unlocked",
            "milestoned",
            "demilestoned",
            "pinned",
            "unpinned",
            "transferred",
        )
    },
    **{("check_run", action): None for action in ("created", "rerequested", "requested_action")},
    ("check_run", "completed"): CommitCIEvent,  # those naming no PR (a fork's); the others are None
    **{("check_suite", action): None for action in ("requested", "rerequested")},
    ("check_suite", "completed"): CIEvent,  # those naming a PR; the others CommitCIEvent (see below)
    ("workflow_run", "requested"): None,
    ("workflow_run", "completed"): CIEvent,
    **{
        ("installation", action): None
        for action in ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted")
    },
    ("ping", "none"): None,
    ("push", "none"): None,
    ("status", "none"): CommitCIEvent,  # success, failure, error; pending is None (see below)
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_fixtures_are_present() -> None:
    assert len(FILES) == 121


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_fixture_translates_as_expected(path: Path) -> None:
    event_type, action, _ = path.stem.split("__")
    assert (event_type, action) in EXPECTED, f"no expectation for {event_type}/{action}: add one to EXPECTED"
    payload = json.loads(path.read_text())
    assert payload.get("action", "none") == action

    event = translate(event_type, "delivery-1", payload)

    expected = EXPECTED[(event_type, action)]
    if event_type == "workflow_run" and action == "completed" and payload["workflow_run"]["event"] == "workflow_dispatch":
        expected = RunFinished  # a dispatched run belongs to its branch, whatever PRs are listed
    elif expected is CIEvent and not payload[event_type].get("pull_requests"):
        # CI for no PR of this repository (a branch push, a fork's PR): mapped by its head sha later
        expected = CommitCIEvent if event_type == "check_suite" else None
    elif event_type == "check_run" and payload["check_run"].get("pull_requests"):
        expected = None  # its suite's completion names the PR
    elif event_type == "status" and payload["state"] == "pending":
        expected = None
    if expected is None:
        assert event is None
        return
    assert type(event) is expected
    assert (event.delivery_id, event.forge) == ("delivery-1", "github")
    assert event.actor == payload["sender"]["login"]
    assert event.repo == payload["repository"]["full_name"]
    if isinstance(event, CommitCIEvent):  # names the sha, and no PR
        body = payload.get(event_type, payload)
        assert event.ref.number == NO_NUMBER
        assert event.sha == (body.get("head_sha") or body["sha"])
        assert event.state == (body.get("conclusion") or body.get("state"))
        return
    if isinstance(event, RunFinished):  # the run and its branch, for an alias's result
        run = payload["workflow_run"]
        assert (event.ref.number, event.run_id, event.branch, event.run_url) == (
            0, run["id"], run["head_branch"], run["html_url"])
        return
    if isinstance(event, CIEvent):  # names the PR and the head CI ran on, nothing more
        assert event.ref.number == payload[event_type]["pull_requests"][0]["number"]
        assert event.item.head_sha == payload[event_type]["head_sha"]
        assert event.conclusion == payload[event_type]["conclusion"]
        return
    assert event.item.author


def _at(payload: dict, path: str) -> tuple[dict, str]:
    """The object holding the last key of a dotted ``path``, and that key."""
    *parents, last = path.split(".")
    for key in parents:
        payload = payload[key]
    return payload, last


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        parent, key = _at(payload, path)
        parent[key] = value

    return edit


def _delete(path: str) -> Callable[[dict], None]:
    def edit(payload: dict) -> None:
        parent, key = _at(payload, path)
        del parent[key]

    return edit


def _translated(name: str, *edits: Callable[[dict], None]) -> Any:
    payload = load(name)
    for edit in edits:
        edit(payload)
    return translate(name.split("__")[0], "d", payload)


PR_LINK = {"url": "https://api.github.com/repos/o/r/pulls/1", "merged_at": None}

# (name, fixture, edits, check on the translated event)
FIELD_CASES: list[tuple[str, str, tuple, Callable[[Any], bool]]] = [
    (
        "comment on an issue",
        "issue_comment__created__1.json",
        (),
        lambda e: (
            e.ref.kind is ItemKind.ISSUE and e.body.startswith("You are totally right") and e.comment_id == 492700400
        ),
    ),
    (
        "comment on a PR is PULL",
        "issue_comment__created__1.json",
        (_set("issue.pull_request", PR_LINK),),
        lambda e: e.ref.kind is ItemKind.PULL and e.item.state == "open",
    ),
    (
        "comment on a merged PR",
        "issue_comment__created__1.json",
        (_set("issue.pull_request", {**PR_LINK, "merged_at": "2024-01-01T00:00:00Z"}), _set("issue.state", "closed")),
        lambda e: e.item.state == "merged",
    ),
    (
        "comment fields",
        "issue_comment__created__1.json",
        (),
        lambda e: (
            e.item.labels == {"bug"}
            and e.item.assignees == {"Codertocat"}
            and e.item.title == "Spelling error in the README file"
            and e.item.url == "https://github.com/Codertocat/Hello-World/issues/1"
            and e.url.endswith("#issuecomment-492700400")
        ),
    ),
    (
        "null issue body",
        "issue_comment__created__1.json",
        (_set("issue.body", None),),
        lambda e: e.item.body == "",
    ),
    (
        "inline review comment is on the PR",
        "pull_request_review_comment__created__1.json",
        (),
        lambda e: isinstance(e, CommentEvent) and e.ref.kind is ItemKind.PULL and e.ref.number == 2,
    ),
    (
        "closed without merge",
        "pull_request__closed__1.json",
        (),
        lambda e: e.action is ItemAction.CLOSED and e.item.state == "closed",
    ),
    (
        "closed by merge",
        "pull_request__closed__1.json",
        (_set("pull_request.merged", True), _set("pull_request.merged_at", "2024-01-01T00:00:00Z")),
        lambda e: e.action is ItemAction.MERGED and e.item.state == "merged",
    ),
    (
        "synchronize is NEW_COMMITS with the new head and the one before",
        "pull_request__synchronize__1.json",
        (),
        lambda e: (
            e.action is ItemAction.NEW_COMMITS
            and e.item.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
            and e.before_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
            and e.item.base_ref == "master"
        ),
    ),
    (
        "PR labeled",
        "pull_request__labeled__1.json",
        (),
        lambda e: e.action is ItemAction.LABELED and e.labels_changed == {"bug"} and e.ref.kind is ItemKind.PULL,
    ),
    (
        "issue unlabeled",
        "issues__unlabeled__1.json",
        (),
        lambda e: e.action is ItemAction.UNLABELED and e.labels_changed == {"bug"} and e.ref.kind is ItemKind.ISSUE,
    ),
    (
        "labels_changed only for label actions",
        "pull_request__opened__1.json",
        (),
        lambda e: e.action is ItemAction.OPENED and e.labels_changed == frozenset(),
    ),
    (
        "draft PR",
        "pull_request__converted_to_draft__1.json",
        (),
        lambda e: e.action is ItemAction.CONVERTED_TO_DRAFT and e.item.draft,
    ),
    (
        "ready for review",
        "pull_request__ready_for_review__1.json",
        (),
        lambda e: e.action is ItemAction.READY_FOR_REVIEW and not e.item.draft,
    ),
    (
        "review approved",
        "pull_request_review__submitted__1.json",
        (_set("review.state", "approved"), _set("review.body", "/lgtm")),
        lambda e: e.state is ReviewState.APPROVED and e.body == "/lgtm",
    ),
    (
        "review state is case-insensitive",
        "pull_request_review__submitted__1.json",
        (_set("review.state", "CHANGES_REQUESTED"),),
        lambda e: e.state is ReviewState.CHANGES_REQUESTED,
    ),
    (
        "review commented with null body",
        "pull_request_review__submitted__2.json",
        (),
        lambda e: e.state is ReviewState.COMMENTED and e.body == "",
    ),
    (
        "review on a merged PR (no merged flag, only merged_at)",
        "pull_request_review__submitted__1.json",
        (_set("pull_request.merged_at", "2024-01-01T00:00:00Z"), _set("pull_request.state", "closed")),
        lambda e: (
            "merged" not in load("pull_request_review__submitted__1.json")["pull_request"] and e.item.state == "merged"
        ),
    ),
    (
        "review dismissed",
        "pull_request_review__dismissed__1.json",
        (),
        lambda e: e.state is ReviewState.DISMISSED and e.ref.kind is ItemKind.PULL,
    ),
    (
        # GitHub sends some issues events (milestoned, demilestoned) for PRs too; the kind follows the payload
        "issues event whose issue is a PR",
        "issues__demilestoned__1.json",
        (_set("action", "edited"),),
        lambda e: e.action is ItemAction.EDITED and e.ref.kind is ItemKind.PULL,
    ),
    (
        "issues event for an issue",
        "issues__opened__1.json",
        (),
        lambda e: e.action is ItemAction.OPENED and e.ref.kind is ItemKind.ISSUE and e.item.head_sha is None,
    ),
]


@pytest.mark.parametrize(("fixture", "edits", "check"), [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES])
def test_fields(fixture: str, edits: tuple, check: Callable[[Any], bool]) -> None:
    event = _translated(fixture, *edits)
    assert event is not None
    assert check(event), event


@pytest.mark.parametrize(
    ("fixture", "edits"),
    [
        ("pull_request__assigned__1.json", ()),
        ("issue_comment__edited__1.json", ()),
        ("pull_request_review__submitted__1.json", (_set("action", "edited"),)),
        ("pull_request_review_comment__edited__1.json", ()),
    ],
    ids=["pull_request assigned", "comment edited", "review edited", "review comment edited"],
)
def test_ignored(fixture: str, edits: tuple) -> None:
    assert _translated(fixture, *edits) is None


SECRET = "s3cr3t-value-never-echoed"

ERROR_CASES = [
    ("action missing", "issue_comment__created__1.json", (_delete("action"),), "action"),
    ("repository missing", "issue_comment__created__1.json", (_delete("repository"),), "repository"),
    (
        "repository.full_name missing",
        "pull_request__opened__1.json",
        (_delete("repository.full_name"),),
        "repository.full_name",
    ),
    ("sender missing", "pull_request__opened__1.json", (_delete("sender"),), "sender"),
    ("sender.login null", "issues__opened__1.json", (_set("sender.login", None),), "sender.login"),
    ("number missing", "issue_comment__created__1.json", (_delete("issue.number"),), "issue.number"),
    (
        "number not an int",
        "pull_request__opened__1.json",
        (_set("pull_request.number", SECRET),),
        "pull_request.number",
    ),
    ("issue missing", "issue_comment__created__1.json", (_delete("issue"),), "issue"),
    ("comment missing", "issue_comment__created__1.json", (_delete("comment"),), "comment"),
    (
        "label name of wrong type",
        "issues__labeled__1.json",
        (_set("issue.labels", [{"name": 7}]),),
        "issue.labels[0].name",
    ),
    ("unknown review state", "pull_request_review__submitted__1.json", (_set("review.state", SECRET),), "review.state"),
    ("title of wrong type", "issues__opened__1.json", (_set("issue.title", ["x"]),), "issue.title"),
]


@pytest.mark.parametrize(("fixture", "edits", "field"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_payload_errors_name_the_field(fixture: str, edits: tuple, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        _translated(fixture, *edits)
    message = str(caught.value)
    assert message.startswith(f"{field}:")
    assert SECRET not in message


@pytest.mark.parametrize("payload", [None, [], "text", 3])
def test_payload_that_is_not_an_object(payload: Any) -> None:
    with pytest.raises(PayloadError, match=r"^payload:"):
        translate("issue_comment", "d", payload)


def test_unsupported_event_is_ignored_whatever_its_body() -> None:
    assert translate("deployment", "d", {"action": "created"}) is None
    assert translate("ping", "d", None) is None


# A commit status or a check for no PR of this repository: mapped to its PR by head sha later.
COMMIT_CI = [
    ("status success", "status", "status__none__2.json", {"state": "success"}, ("default", "success")),
    ("status failure", "status", "status__none__2.json", {"state": "failure"}, ("default", "failure")),
    ("status error", "status", "status__none__2.json", {"state": "error"}, ("default", "error")),
    ("status pending", "status", "status__none__2.json", {"state": "pending"}, None),
    ("fork suite", "check_suite", "check_suite__completed__1.json", {"check_suite.pull_requests": []}, ("", "success")),
    ("fork run", "check_run", "check_run__completed__1.json", {"check_run.pull_requests": []},
     ("Octocoders-linter", "failure")),
    ("run naming a PR", "check_run", "check_run__completed__1.json", {}, None),
    ("fork workflow run", "workflow_run", "workflow_run__completed__1.json",
     {"workflow_run.pull_requests": [], "workflow_run.event": "pull_request"}, None),  # its suite reports
]


@pytest.mark.parametrize("event_type,fixture,edits,expected", [c[1:] for c in COMMIT_CI], ids=[c[0] for c in COMMIT_CI])
def test_commit_ci(event_type: str, fixture: str, edits: dict[str, Any], expected: tuple[str, str] | None) -> None:
    payload = load(fixture)
    for path, value in edits.items():
        _set(path, value)(payload)
    event = translate(event_type, "d1", payload)
    if expected is None:
        assert event is None
        return
    assert isinstance(event, CommitCIEvent)
    body = payload.get(event_type, payload)
    assert (event.context, event.state) == expected
    assert event.sha == (body.get("head_sha") or body["sha"])
    assert (event.repo, event.ref.number) == (payload["repository"]["full_name"], NO_NUMBER)


def test_commit_status_without_sha_is_refused() -> None:
    payload = load("status__none__2.json")
    del payload["sha"]
    with pytest.raises(PayloadError, match="sha"):
        translate("status", "d1", payload)
