"""GitLab webhook translation, from GitLab's documented payload examples and variations of them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.events import (
    NO_NUMBER,
    CIEvent,
    RunFinished,
    CommentEvent,
    CommitCIEvent,
    Item,
    ItemAction,
    ItemEvent,
    ItemKind,
    ItemRef,
    PayloadError,
    ReviewEvent,
    ReviewState,
)
from bot.forge.gitlab.translate import translate

FIXTURES = Path(__file__).parent / "fixtures" / "gitlab"

MR_ITEM = Item(
    ref=ItemRef("gitlabhq/gitlab-test", 1, ItemKind.PULL),
    author=None,  # author_id 51 is not the acting user (id 1)
    title="MS-Viewport",
    body="",
    state="open",
    draft=False,
    labels=frozenset({"API"}),
    assignees=frozenset({"user1"}),
    head_sha="da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    base_ref="master",
    url="http://example.com/diaspora/merge_requests/1",
)

NOTE_ITEM = Item(
    ref=ItemRef("gitlab-org/gitlab-test", 1, ItemKind.PULL),
    author=None,
    title="Tempora et eos debitis quae laborum et.",
    body="Et voluptas corrupti assumenda temporibus. Architecto cum animi eveniet amet asperiores. "
    "Vitae numquam voluptate est natus sit et ad id.",
    state="open",
    labels=frozenset({"Afterpod", "Element"}),
    head_sha="562e173be03b8ff2efb05345d12df18815438a4b",
    base_ref="markdown",
)

# Every file in tests/fixtures/gitlab: its X-Gitlab-Event header and the expected event (None = ignored).
FIXTURE_EXPECTATIONS = {
    "merge_request__open__1.json": (
        "Merge Request Hook",
        ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.OPENED),
    ),
    "note__merge_request__1.json": (
        "Note Hook",
        CommentEvent(
            "d1",
            "gitlab",
            "root",
            NOTE_ITEM,
            body="This MR needs work.",
            comment_id=1244,
            url="http://example.com/gitlab-org/gitlab-test/merge_requests/1#note_1244",
        ),
    ),
    "pipeline__success__1.json": (
        "Pipeline Hook",
        CIEvent("d1", "gitlab", "root",
                Item(ItemRef("gitlab-org/gitlab-test", 1, ItemKind.PULL),
                     head_sha="bcbb5ec396a2c0f828686f14fac9b80b780504f2"),
                conclusion="success"),
    ),
    "push__none__1.json": ("Push Hook", None),
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_fixture_translates_as_expected(path: Path) -> None:
    assert path.name in FIXTURE_EXPECTATIONS, f"new fixture {path.name}: add its expectation"
    event_type, expected = FIXTURE_EXPECTATIONS[path.name]
    assert translate(event_type, "d1", json.loads(path.read_text())) == expected


def test_expectation_table_names_only_existing_fixtures() -> None:
    assert set(FIXTURE_EXPECTATIONS) == {p.name for p in FIXTURES.glob("*.json")}


# ---- variations built from the fixtures -----------------------------------------------------


def mr_hook(action: str, changes: dict | None = None, **attrs: object) -> dict:
    payload = load("merge_request__open__1.json")
    payload["object_attributes"].update(action=action, **attrs)
    payload["changes"] = changes or {}
    return payload


def note(noteable_type: str = "MergeRequest", **attrs: object) -> dict:
    payload = load("note__merge_request__1.json")
    payload["object_attributes"].update(noteable_type=noteable_type, **attrs)
    if noteable_type == "Issue":
        mr = payload.pop("merge_request")
        payload["issue"] = {k: mr[k] for k in ("id", "iid", "title", "description", "labels", "author_id")}
        payload["issue"].update(state="closed", url="http://example.com/gitlab-org/gitlab-test/issues/1")
    elif noteable_type != "MergeRequest":
        del payload["merge_request"]
    return payload


def issue_hook(action: str, changes: dict | None = None) -> dict:
    """An Issue Hook shaped like GitLab's documented example, from the MR example's common parts."""
    payload = mr_hook(action, changes)
    payload.update(object_kind="issue", event_type="issue")
    attrs = payload["object_attributes"]
    for mr_only in (
        "target_branch",
        "source_branch",
        "last_commit",
        "draft",
        "work_in_progress",
        "source",
        "target",
    ):
        del attrs[mr_only]
    attrs.update(iid=23, url="http://example.com/diaspora/issues/23")
    return payload


def label(title: str) -> dict:
    return {"id": 1, "title": title, "color": "#fff", "type": "ProjectLabel"}


def labels_change(before: list[str], after: list[str]) -> dict:
    return {"previous": [label(t) for t in before], "current": [label(t) for t in after]}


ISSUE_ITEM = Item(
    ref=ItemRef("gitlabhq/gitlab-test", 23, ItemKind.ISSUE),
    title="MS-Viewport",
    labels=frozenset({"API"}),
    assignees=frozenset({"user1"}),
    url="http://example.com/diaspora/issues/23",
)


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        pytest.param("Note Hook", note(system=True), None, id="system note ignored"),
        pytest.param("Note Hook", note(action="update"), None, id="edited note ignored"),
        pytest.param("Note Hook", note("Commit"), None, id="commit note ignored"),
        pytest.param("Note Hook", note("Snippet"), None, id="snippet note ignored"),
        pytest.param(
            "Note Hook",
            note("Issue", note="/lgtm", id=7),
            CommentEvent(
                "d1",
                "gitlab",
                "root",
                Item(
                    ref=ItemRef("gitlab-org/gitlab-test", 1, ItemKind.ISSUE),
                    title=NOTE_ITEM.title,
                    body=NOTE_ITEM.body,
                    state="closed",
                    labels=NOTE_ITEM.labels,
                    url="http://example.com/gitlab-org/gitlab-test/issues/1",
                ),
                body="/lgtm",
                comment_id=7,
                url=FIXTURE_EXPECTATIONS["note__merge_request__1.json"][1].url,
            ),
            id="issue note",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", oldrev="0" * 40),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.NEW_COMMITS, before_sha="0" * 40),
            id="update with oldrev",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"draft": {"previous": True, "current": False}}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.READY_FOR_REVIEW),
            id="draft to ready",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"work_in_progress": {"previous": False, "current": True}}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.CONVERTED_TO_DRAFT),
            id="ready to draft (legacy work_in_progress)",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"labels": labels_change(["x"], ["x", "lgtm", "API"])}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, ItemAction.LABELED, frozenset({"lgtm", "API"})),
            id="labels added",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"labels": labels_change(["API", "do-not-merge/hold"], ["API"])}),
            ItemEvent(
                "d1", "gitlab", "root", MR_ITEM, ItemAction.UNLABELED, frozenset({"do-not-merge/hold"})
            ),
            id="label removed",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"labels": labels_change(["old"], ["API"])}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, ItemAction.LABELED, frozenset({"API"})),
            id="labels swapped: added ones win",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"title": {"previous": "a", "current": "b"}}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.EDITED),
            id="other update",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"draft": {"previous": False, "current": False}}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.EDITED),
            id="draft unchanged is an edit",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", {"draft": {"previous": None, "current": False}}),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.EDITED),
            id="draft without a previous value is an edit",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("update", state="locked"),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.EDITED),
            id="an MR being merged (locked) is open",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("reopen"),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.REOPENED),
            id="reopen",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("close", state="closed"),
            ItemEvent("d1", "gitlab", "root", replace(MR_ITEM, state="closed"), action=ItemAction.CLOSED),
            id="close",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("merge", state="merged"),
            ItemEvent("d1", "gitlab", "root", replace(MR_ITEM, state="merged"), action=ItemAction.MERGED),
            id="merge",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("approved"),
            ReviewEvent("d1", "gitlab", "root", MR_ITEM, state=ReviewState.APPROVED, url=MR_ITEM.url),
            id="approved",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("approval"),
            ReviewEvent("d1", "gitlab", "root", MR_ITEM, state=ReviewState.APPROVED, url=MR_ITEM.url),
            id="individual approval",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("unapproved"),
            ReviewEvent("d1", "gitlab", "root", MR_ITEM, state=ReviewState.UNAPPROVED, url=MR_ITEM.url),
            id="unapproved",
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("unapproval"),
            ReviewEvent("d1", "gitlab", "root", MR_ITEM, state=ReviewState.UNAPPROVED, url=MR_ITEM.url),
            id="individual unapproval",
        ),
        pytest.param(
            "Merge Request Hook", mr_hook("bogus-future-action"), None, id="unknown MR action ignored"
        ),
        pytest.param(
            "Merge Request Hook",
            mr_hook("open", author_id=1),
            ItemEvent("d1", "gitlab", "root", replace(MR_ITEM, author="root"), ItemAction.OPENED),
            id="author known when the actor is the author",
        ),
        pytest.param(
            "System Hook",
            mr_hook("open"),
            ItemEvent("d1", "gitlab", "root", MR_ITEM, action=ItemAction.OPENED),
            id="system hook variant",
        ),
        pytest.param(
            "Issue Hook",
            issue_hook("open"),
            ItemEvent("d1", "gitlab", "root", ISSUE_ITEM, action=ItemAction.OPENED),
            id="issue opened",
        ),
        pytest.param(
            "Issue Hook",
            issue_hook("close"),
            ItemEvent("d1", "gitlab", "root", ISSUE_ITEM, action=ItemAction.CLOSED),
            id="issue closed",
        ),
        pytest.param(
            "Issue Hook",
            issue_hook("update", {"labels": labels_change(["API", "kind/bug"], ["API"])}),
            ItemEvent("d1", "gitlab", "root", ISSUE_ITEM, ItemAction.UNLABELED, frozenset({"kind/bug"})),
            id="issue label removed",
        ),
        pytest.param(
            "Issue Hook",
            issue_hook("update", {"description": {"previous": "", "current": "x"}}),
            ItemEvent("d1", "gitlab", "root", ISSUE_ITEM, action=ItemAction.EDITED),
            id="issue edited",
        ),
        pytest.param("Issue Hook", issue_hook("approved"), None, id="issues have no approvals"),
        pytest.param("Confidential Note Hook", note(), None, id="confidential note ignored"),
        pytest.param("Job Hook", {}, None, id="job hook ignored"),
    ],
)
def test_translate(event_type: str, payload: dict, expected: object) -> None:
    assert translate(event_type, "d1", payload) == expected


DELETE = object()


def edited(payload: dict, path: str, value: object = DELETE) -> dict:
    """``payload`` with the field at dotted ``path`` set to ``value`` (deleted by default)."""
    *parents, last = path.split(".")
    target = payload
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return payload


SECRET = "s3cr3t-content"


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [
        pytest.param("Note Hook", [SECRET], "payload", id="not an object"),
        pytest.param(
            "Note Hook", edited(note(), "project.path_with_namespace"), "project.path_with_namespace"
        ),
        pytest.param("Note Hook", edited(note(), "user.username"), "user.username"),
        pytest.param("Note Hook", edited(note(), "merge_request.iid"), "merge_request.iid"),
        pytest.param("Note Hook", edited(note(), "object_attributes.note"), "object_attributes.note"),
        pytest.param(
            "Note Hook", edited(note(), "object_attributes.noteable_type"), "object_attributes.noteable_type"
        ),
        pytest.param("Note Hook", edited(note(), "object_attributes.id", SECRET), "object_attributes.id"),
        pytest.param(
            "Note Hook", edited(note(), "merge_request.iid", True), "merge_request.iid", id="bool iid"
        ),
        pytest.param("Note Hook", edited(note(), "merge_request.state", SECRET), "merge_request.state"),
        pytest.param("Note Hook", edited(note("Issue"), "issue.iid"), "issue.iid"),
        pytest.param("Merge Request Hook", edited(mr_hook("open"), "object_attributes.action"), "action"),
        pytest.param(
            "Merge Request Hook", edited(mr_hook("open"), "object_attributes.iid"), "object_attributes.iid"
        ),
        pytest.param(
            "Merge Request Hook", edited(mr_hook("open"), "project", SECRET), "project.path_with_namespace"
        ),
        pytest.param(
            "Merge Request Hook", edited(mr_hook("open"), "object_attributes.labels", SECRET), "labels"
        ),
        pytest.param("Issue Hook", edited(issue_hook("open"), "user"), "user.username"),
    ],
)
def test_payload_errors_name_the_field_and_never_echo_content(
    event_type: str, payload: object, field: str
) -> None:
    with pytest.raises(PayloadError, match=field) as err:
        translate(event_type, "d1", payload)
    assert SECRET not in str(err.value)


def test_ignored_events_are_not_inspected() -> None:
    assert translate("Push Hook", "d1", [SECRET]) is None  # type: ignore[arg-type]


PIPELINES = [
    ("running pipeline", {"object_attributes": {"status": "running"}}, None),
    ("failed pipeline", {"object_attributes": {"status": "failed"}}, CIEvent),
    # other branch pipelines (a push's, external CI's statuses): mapped to the MR by sha later
    ("branch pipeline", {"merge_request": None}, CommitCIEvent),
    ("push pipeline", {"merge_request": None, "object_attributes": {"source": "push"}}, CommitCIEvent),
    ("external statuses' pipeline", {"merge_request": None, "object_attributes": {"source": "external"}}, CommitCIEvent),
    ("running branch pipeline", {"merge_request": None, "object_attributes": {"status": "running"}}, None),
    ("tag pipeline", {"merge_request": None, "object_attributes": {"tag": True}}, None),
    # a branch pipeline started through the API (an alias's): its run, for the alias's result
    ("api pipeline", {"merge_request": None, "object_attributes": {"source": "api"}}, RunFinished),
    ("running api pipeline", {"merge_request": None, "object_attributes": {"source": "api", "status": "running"}}, None),
]


@pytest.mark.parametrize("change,translated", [c[1:] for c in PIPELINES], ids=[c[0] for c in PIPELINES])
def test_pipeline_hook(change: dict, translated: type | None) -> None:
    payload = load("pipeline__success__1.json")
    for key, value in change.items():
        if isinstance(value, dict):
            payload[key].update(value)
        else:
            payload[key] = value
    event = translate("Pipeline Hook", "d1", payload)
    assert type(event) is (translated or type(None))
    if isinstance(event, CommitCIEvent):
        assert (event.sha, event.ref.number) == (payload["object_attributes"]["sha"], NO_NUMBER)
        assert event.state == payload["object_attributes"]["status"]
    if isinstance(event, RunFinished):
        assert (event.ref.number, event.run_id, event.conclusion, event.branch) == (0, 31, "success", "master")
