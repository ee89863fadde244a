"""GitLab webhook payloads → neutral events: the only module that reads GitLab webhook dicts.

``event_type`` is the ``X-Gitlab-Event`` header.  Translated: ``Note Hook`` (new, non-system notes
on merge requests and issues), ``Merge Request Hook`` and ``Issue Hook``, and the same events sent
as ``System Hook`` (told apart by ``object_kind``).  Everything else is ignored (``None``): push,
pipeline and job hooks for now, and the ``Confidential Note Hook`` / ``Confidential Issue Hook``,
whose content a public reply must not echo.

GitLab names most people only by id: an item's ``author`` is filled in only when the acting user
is the author (``user.id == author_id``), never guessed.  ``assignees`` comes from the top-level
``assignees`` list, which Note Hooks do not carry.

An ``update`` is classified by its most significant change: new commits (``oldrev``), then a draft
flip, then labels, else ``EDITED``.  A label change that both adds and removes labels becomes
``LABELED`` with only the added labels (a label appearing is what plugins react to; the item's
``labels`` still shows the full current set).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

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

FORGE = "gitlab"

_T = TypeVar("_T")

# "locked" is the short-lived state of a merge request while it is being merged: still open.
_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "merged"}

_ITEM_ACTIONS = {
    "open": ItemAction.OPENED,
    "reopen": ItemAction.REOPENED,
    "close": ItemAction.CLOSED,
    "merge": ItemAction.MERGED,
}

# "approval"/"unapproval" are one user's (un)approval; "approved"/"unapproved" the MR's overall state.
_REVIEW_STATES = {
    "approved": ReviewState.APPROVED,
    "approval": ReviewState.APPROVED,
    "unapproved": ReviewState.UNAPPROVED,
    "unapproval": ReviewState.UNAPPROVED,
}

_NOTEABLES = {"MergeRequest": ("merge_request", ItemKind.PULL), "Issue": ("issue", ItemKind.ISSUE)}

_SYSTEM_HOOK_KINDS = {"note": "Note Hook", "merge_request": "Merge Request Hook", "issue": "Issue Hook"}


def translate(event_type: str, delivery_id: str, payload: dict) -> Event | None:
    """The neutral event for one GitLab webhook, or ``None`` for an event prowlet ignores.

    Raises ``PayloadError`` when a supported event lacks a field it needs."""
    if event_type == "System Hook" and isinstance(payload, dict):
        event_type = _SYSTEM_HOOK_KINDS.get(payload.get("object_kind"), event_type)
    handler = _HANDLERS.get(event_type)
    if handler is None:
        return None
    if not isinstance(payload, dict):
        raise PayloadError("payload: expected a JSON object")
    return handler(delivery_id, payload)


def _note_hook(delivery_id: str, payload: dict) -> Event | None:
    if _opt(payload, "object_attributes.system", bool, False):
        return None
    # GitLab before 16.11 sends no action, for new and edited notes alike: take it as new (an edit
    # there may re-run a command; handlers are idempotent).
    if _opt(payload, "object_attributes.action", str, "create") != "create":
        return None
    noteable = _NOTEABLES.get(_req(payload, "object_attributes.noteable_type", str))
    if noteable is None:  # commit and snippet notes
        return None
    return CommentEvent(
        delivery_id=delivery_id,
        forge=FORGE,
        actor=_req(payload, "user.username", str),
        item=_item(payload, *noteable),
        body=_req(payload, "object_attributes.note", str),
        comment_id=_req(payload, "object_attributes.id", int),
        url=_opt(payload, "object_attributes.url", str, None),
    )


def _item_hook(kind: ItemKind, delivery_id: str, payload: dict) -> Event | None:
    action = _req(payload, "object_attributes.action", str)
    review_state = _REVIEW_STATES.get(action) if kind is ItemKind.PULL else None
    if review_state is None and action != "update" and action not in _ITEM_ACTIONS:
        return None
    actor = _req(payload, "user.username", str)
    item = _item(payload, "object_attributes", kind)
    if review_state is not None:
        return ReviewEvent(delivery_id, FORGE, actor, item, state=review_state, url=item.url)
    if action == "update":
        update, labels = _update_action(payload)
        base_changed = update is ItemAction.EDITED and _lookup(payload, "changes.target_branch") is not None
        before_sha = _opt(payload, "object_attributes.oldrev", str, None) if update is ItemAction.NEW_COMMITS else None
        return ItemEvent(delivery_id, FORGE, actor, item, update, labels, base_changed=base_changed,
                         before_sha=before_sha)
    return ItemEvent(delivery_id, FORGE, actor, item, _ITEM_ACTIONS[action])


def _update_action(payload: dict) -> tuple[ItemAction, frozenset[str]]:
    if _opt(payload, "object_attributes.oldrev", str, None):
        return ItemAction.NEW_COMMITS, frozenset()
    for key in ("draft", "work_in_progress"):
        previous = _opt(payload, f"changes.{key}.previous", bool, None)
        current = _opt(payload, f"changes.{key}.current", bool, None)
        if {previous, current} == {True, False}:
            return (ItemAction.CONVERTED_TO_DRAFT if current else ItemAction.READY_FOR_REVIEW), frozenset()
    if _lookup(payload, "changes.labels") is not None:
        before = _names(payload, "changes.labels.previous", "title")
        after = _names(payload, "changes.labels.current", "title")
        if after - before:
            return ItemAction.LABELED, after - before
        if before - after:
            return ItemAction.UNLABELED, before - after
    return ItemAction.EDITED, frozenset()


def _item(payload: dict, where: str, kind: ItemKind) -> Item:
    """The MR or issue described by ``payload[where]``."""
    state = _req(payload, f"{where}.state", str)
    if state not in _STATES:
        raise PayloadError(f"{where}.state: unknown value")
    author_id = _opt(payload, f"{where}.author_id", int, None)
    is_author = author_id is not None and author_id == _opt(payload, "user.id", int, None)
    labels_path = f"{where}.labels" if _lookup(payload, f"{where}.labels") is not None else "labels"
    repo = _req(payload, "project.path_with_namespace", str)
    draft = _opt(payload, f"{where}.draft", bool, False) or _opt(
        payload, f"{where}.work_in_progress", bool, False
    )
    return Item(
        ref=ItemRef(repo, _req(payload, f"{where}.iid", int), kind),
        author=_req(payload, "user.username", str) if is_author else None,
        title=_opt(payload, f"{where}.title", str, ""),
        body=_opt(payload, f"{where}.description", str, ""),
        state=_STATES[state],
        draft=draft,
        labels=_names(payload, labels_path, "title"),
        assignees=_names(payload, "assignees", "username"),
        head_sha=_opt(payload, f"{where}.last_commit.id", str, None),  # MRs only
        base_ref=_opt(payload, f"{where}.target_branch", str, None),
        url=_opt(payload, f"{where}.url", str, None),
    )


def _names(payload: dict, path: str, key: str) -> frozenset[str]:
    """``key`` of every object in the list at ``path`` (label titles, usernames); absent → empty."""
    entries = _opt(payload, path, list, [])
    return frozenset(e[key] for e in entries if isinstance(e, dict) and isinstance(e.get(key), str))


def _lookup(payload: dict, path: str) -> object:
    value: object = payload
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _opt(payload: dict, path: str, kind: type[_T], default: _T) -> _T:
    """The value at dotted ``path``, ``default`` when absent or null, PayloadError when mistyped."""
    value = _lookup(payload, path)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise PayloadError(f"{path}: expected {kind.__name__}")
    return value


def _req(payload: dict, path: str, kind: type[_T]) -> _T:
    value = _opt(payload, path, kind, None)
    if value is None:
        raise PayloadError(f"{path}: missing")
    return value


_FINISHED_PIPELINE = {"success", "failed", "canceled", "skipped"}


def _pipeline_hook(delivery_id: str, payload: dict) -> Event | None:
    """A finished pipeline.  An MR pipeline names its MR: a CIEvent.  One started through the API
    on a branch (a config-defined command's, maybe) is a RunFinished, for the alias's result.  Any
    other branch pipeline names only its sha (external CI's statuses run in one): a CommitCIEvent,
    which merge automation maps to the MR whose head it is.  Tag pipelines and unfinished ones are
    ignored."""
    status = _req(payload, "object_attributes.status", str)
    if status not in _FINISHED_PIPELINE:
        return None
    repo = _req(payload, "project.path_with_namespace", str)
    actor = _req(payload, "user.username", str)
    if _lookup(payload, "merge_request") is None:
        if _opt(payload, "object_attributes.source", str, "") == "api":
            return _branch_pipeline_finished(delivery_id, payload, status)
        sha = _opt(payload, "object_attributes.sha", str, "")
        if not sha or _opt(payload, "object_attributes.tag", bool, False):
            return None
        item = Item(ref=ItemRef(repo, NO_NUMBER, ItemKind.PULL), head_sha=sha)
        return CommitCIEvent(delivery_id, FORGE, actor, item, state=status)
    ref = ItemRef(repo, _req(payload, "merge_request.iid", int), ItemKind.PULL)
    item = Item(ref=ref, head_sha=_opt(payload, "object_attributes.sha", str, None))
    return CIEvent(delivery_id, FORGE, actor, item, conclusion=status)


def _branch_pipeline_finished(delivery_id: str, payload: dict, status: str) -> Event:
    """A finished pipeline started through the API on a branch (by a config-defined command, maybe)."""
    repo = _req(payload, "project.path_with_namespace", str)
    item = Item(ref=ItemRef(repo, 0, ItemKind.PULL), head_sha=_opt(payload, "object_attributes.sha", str, None))
    return RunFinished(delivery_id, FORGE, _req(payload, "user.username", str), item,
                       run_id=_req(payload, "object_attributes.id", int), conclusion=status,
                       run_url=_opt(payload, "object_attributes.url", str, "") or "",
                       branch=_opt(payload, "object_attributes.ref", str, "") or "",
                       created_at=_opt(payload, "object_attributes.created_at", str, "") or "")


_HANDLERS: dict[str, Callable[[str, dict], Event | None]] = {
    "Note Hook": _note_hook,
    "Pipeline Hook": _pipeline_hook,
    "Merge Request Hook": partial(_item_hook, ItemKind.PULL),
    "Issue Hook": partial(_item_hook, ItemKind.ISSUE),
}
