"""GitHub webhook payloads → neutral events.  The only module that reads GitHub webhook dicts.

``translate`` returns ``None`` for events and actions the bot deliberately ignores and raises
``PayloadError`` when a supported one lacks what it needs.  Error messages name the field by its
path and never echo payload contents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import (
    NO_NUMBER,
    CIEvent,
    CommentEvent,
    CommitCIEvent,
    Event,
    Item,
    ItemAction,
    ItemEvent,
    ItemKind,
    ItemRef,
    PayloadError,
    ReviewEvent,
    RunFinished,
    ReviewState,
)

FORGE = "github"

_PULL_ACTIONS = {
    "opened": ItemAction.OPENED,
    "reopened": ItemAction.REOPENED,
    "synchronize": ItemAction.NEW_COMMITS,
    "edited": ItemAction.EDITED,
    "labeled": ItemAction.LABELED,
    "unlabeled": ItemAction.UNLABELED,
    "closed": ItemAction.CLOSED,  # or MERGED, decided by the payload
    "ready_for_review": ItemAction.READY_FOR_REVIEW,
    "converted_to_draft": ItemAction.CONVERTED_TO_DRAFT,
}
_ISSUE_ACTIONS = {
    name: _PULL_ACTIONS[name] for name in ("opened", "reopened", "edited", "labeled", "unlabeled", "closed")
}
_REVIEW_STATES = {
    "approved": ReviewState.APPROVED,
    "changes_requested": ReviewState.CHANGES_REQUESTED,
    "commented": ReviewState.COMMENTED,
}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Fields:
    """Typed reads from one JSON object of the payload.  Its path ("issue.user") is worked out only
    for an error message: intake translates every delivery, so the happy path builds no strings."""

    __slots__ = ("_data", "_parent", "_key")

    def __init__(self, data: Any, parent: _Fields | None = None, key: str = "") -> None:
        self._data = data
        self._parent = parent
        self._key = key
        if not isinstance(data, dict):
            raise PayloadError(f"{self._path() or 'payload'}: expected a JSON object")

    def _path(self) -> str:
        return _join(self._parent._path(), self._key) if self._parent is not None else self._key

    def _name(self, key: str) -> str:
        return _join(self._path(), key)

    def obj(self, key: str) -> _Fields:
        if key not in self._data:
            raise PayloadError(f"{self._name(key)}: missing")
        return _Fields(self._data[key], self, key)

    def req(self, key: str, kind: type) -> Any:
        value = self.opt(key, kind, None)
        if value is None:
            raise PayloadError(f"{self._name(key)}: missing")
        return value

    def opt(self, key: str, kind: type, default: Any) -> Any:
        """The value, ``default`` when absent or null, PayloadError when of another type."""
        value = self._data.get(key)
        if value is None:
            return default
        # bool is an int subclass; a boolean where a number belongs is malformed
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PayloadError(f"{self._name(key)}: expected {kind.__name__}")
        return value

    def present(self, key: str) -> bool:
        return self._data.get(key) is not None

    def names(self, key: str, name_key: str) -> frozenset[str]:
        """``{"labels": [{"name": ...}]}`` → the set of names."""
        names = []
        for i, entry in enumerate(self.opt(key, list, [])):
            name = entry.get(name_key) if isinstance(entry, dict) else None
            if not isinstance(name, str):  # slow path, only to name the bad entry
                name = _Fields(entry, self, f"{key}[{i}]").req(name_key, str)
            names.append(name)
        return frozenset(names)


def translate(event_type: str, delivery_id: str, payload: dict) -> Event | None:
    """``event_type`` is the X-GitHub-Event header, ``delivery_id`` X-GitHub-Delivery."""
    handler = _HANDLERS.get(event_type)
    if handler is None:
        return None
    return handler(_Fields(payload), delivery_id)


def _issue_comment(root: _Fields, delivery_id: str) -> Event | None:
    if root.req("action", str) != "created":
        return None
    return _comment_event(root, delivery_id, _item(root, "issue"))


def _review_comment(root: _Fields, delivery_id: str) -> Event | None:
    if root.req("action", str) != "created":
        return None
    return _comment_event(root, delivery_id, _item(root, "pull_request"))


def _review(root: _Fields, delivery_id: str) -> Event | None:
    action = root.req("action", str)
    if action not in ("submitted", "dismissed"):
        return None
    item = _item(root, "pull_request")
    review = root.obj("review")
    if action == "dismissed":
        state = ReviewState.DISMISSED
    else:
        state = _REVIEW_STATES.get(review.req("state", str).lower())
        if state is None:
            raise PayloadError("review.state: unsupported value")
    return ReviewEvent(
        delivery_id=delivery_id,
        forge=FORGE,
        actor=_actor(root),
        item=item,
        state=state,
        body=review.opt("body", str, ""),
        url=review.opt("html_url", str, None),
    )


def _pull_request(root: _Fields, delivery_id: str) -> Event | None:
    return _item_event(root, delivery_id, "pull_request", _PULL_ACTIONS)


def _issues(root: _Fields, delivery_id: str) -> Event | None:
    return _item_event(root, delivery_id, "issue", _ISSUE_ACTIONS)


def _ci_finished(key: str) -> Callable[[_Fields, str], Event | None]:
    """check_suite / check_run / workflow_run ``completed``: a CIEvent for the PR of this repository
    it names.  One that names none (a fork's PR: GitHub lists only PRs of the repository itself) is
    a CommitCIEvent for its head sha, which merge automation maps to the PR.  A check run naming a
    PR is left to its suite's completion (the suite completes when its last run does)."""

    def handler(root: _Fields, delivery_id: str) -> Event | None:
        if root.req("action", str) != "completed":
            return None
        run = root.obj(key)
        if key == "workflow_run" and run.opt("event", str, "") == "workflow_dispatch":
            return _dispatched_run_finished(root, run, delivery_id)
        pulls = run.opt("pull_requests", list, [])
        repo = root.obj("repository").req("full_name", str)
        conclusion = run.opt("conclusion", str, "")
        if not pulls:
            sha = run.opt("head_sha", str, "")
            if not sha or key == "workflow_run":  # a workflow run also completes its check suite
                return None
            item = Item(ref=ItemRef(repo, NO_NUMBER, ItemKind.PULL), head_sha=sha)
            return CommitCIEvent(delivery_id, FORGE, _actor(root), item,
                                 context=run.opt("name", str, "") if key == "check_run" else "", state=conclusion)
        if key == "check_run":
            return None
        first = _Fields(pulls[0], run, "pull_requests[0]")
        ref = ItemRef(repo, first.req("number", int), ItemKind.PULL)
        item = Item(ref=ref, head_sha=run.opt("head_sha", str, None))
        return CIEvent(delivery_id, FORGE, _actor(root), item, conclusion=conclusion)

    return handler


_REPORTED_STATES = {"success", "failure", "error"}  # a pending status cannot make a PR ready


def _status(root: _Fields, delivery_id: str) -> Event | None:
    """A commit status (external CI, Jenkins, prowlet's own jobs): it names a sha, never a PR."""
    state = root.req("state", str)
    if state not in _REPORTED_STATES:
        return None
    repo = root.obj("repository").req("full_name", str)
    item = Item(ref=ItemRef(repo, NO_NUMBER, ItemKind.PULL), head_sha=root.req("sha", str))
    return CommitCIEvent(delivery_id, FORGE, _actor(root), item, context=root.opt("context", str, ""), state=state)


def _dispatched_run_finished(root: _Fields, run: _Fields, delivery_id: str) -> Event:
    """A run started by workflow_dispatch (a config-defined command's, maybe): it belongs to a
    branch, whatever PRs GitHub lists for it."""
    repo = root.obj("repository").req("full_name", str)
    item = Item(ref=ItemRef(repo, 0, ItemKind.PULL), head_sha=run.opt("head_sha", str, None))
    return RunFinished(delivery_id, FORGE, _actor(root), item, run_id=run.req("id", int),
                       conclusion=run.opt("conclusion", str, "") or "", run_url=run.opt("html_url", str, "") or "",
                       workflow=run.opt("path", str, "") or "", branch=run.opt("head_branch", str, "") or "",
                       created_at=run.opt("created_at", str, "") or "")


_HANDLERS: dict[str, Callable[[_Fields, str], Event | None]] = {
    "check_run": _ci_finished("check_run"),
    "check_suite": _ci_finished("check_suite"),
    "workflow_run": _ci_finished("workflow_run"),
    "issue_comment": _issue_comment,
    "issues": _issues,
    "pull_request": _pull_request,
    "pull_request_review": _review,
    "pull_request_review_comment": _review_comment,
    "status": _status,
}


def _item_event(root: _Fields, delivery_id: str, key: str, actions: dict[str, ItemAction]) -> Event | None:
    action = actions.get(root.req("action", str))
    if action is None:
        return None
    item = _item(root, key)
    if action is ItemAction.CLOSED and item.state == "merged":
        action = ItemAction.MERGED
    labels_changed = frozenset()
    if action in (ItemAction.LABELED, ItemAction.UNLABELED) and root.present("label"):
        labels_changed = frozenset({root.obj("label").req("name", str)})
    # pull_request edited names what changed in ``changes``; a new base brings changes.base.
    base_changed = action is ItemAction.EDITED and root.present("changes") and root.obj("changes").present("base")
    # synchronize names the head before the push in ``before`` (what sticky lgtm compares with)
    before_sha = root.opt("before", str, None) if action is ItemAction.NEW_COMMITS else None
    return ItemEvent(
        delivery_id=delivery_id,
        forge=FORGE,
        actor=_actor(root),
        item=item,
        action=action,
        labels_changed=labels_changed,
        base_changed=base_changed,
        before_sha=before_sha,
    )


def _comment_event(root: _Fields, delivery_id: str, item: Item) -> CommentEvent:
    comment = root.obj("comment")
    return CommentEvent(
        delivery_id=delivery_id,
        forge=FORGE,
        actor=_actor(root),
        item=item,
        body=comment.opt("body", str, ""),
        comment_id=comment.opt("id", int, None),
        url=comment.opt("html_url", str, None),
    )


def _actor(root: _Fields) -> str:
    return root.obj("sender").req("login", str)


def _item(root: _Fields, key: str) -> Item:
    """The PR or issue object under ``key`` ("pull_request" or "issue").  An issue object describes
    a PR when it has a ``pull_request`` member (issue_comment on a PR); that member's ``merged_at``
    then tells whether the PR was merged."""
    repo = root.obj("repository").req("full_name", str)
    data = root.obj(key)
    pull_link = data.obj("pull_request") if key == "issue" and data.present("pull_request") else None
    is_pull = key == "pull_request" or pull_link is not None
    merged = (
        data.opt("merged", bool, False)
        or data.present("merged_at")
        or (pull_link is not None and pull_link.present("merged_at"))
    )
    user = data.obj("user") if data.present("user") else None
    head = data.obj("head") if data.present("head") else None
    base = data.obj("base") if data.present("base") else None
    return Item(
        ref=ItemRef(repo=repo, number=data.req("number", int), kind=ItemKind.PULL if is_pull else ItemKind.ISSUE),
        author=user.opt("login", str, None) if user else None,
        title=data.opt("title", str, ""),
        body=data.opt("body", str, ""),
        state="merged" if merged else data.opt("state", str, "open"),
        draft=data.opt("draft", bool, False),
        labels=data.names("labels", "name"),
        assignees=data.names("assignees", "login"),
        head_sha=head.opt("sha", str, None) if head else None,
        base_ref=base.opt("ref", str, None) if base else None,
        url=data.opt("html_url", str, None),
    )
