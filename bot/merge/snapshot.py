"""What a merge pass saw, kept for the dashboard: one small JSON value per repository.

The dashboard renders from it and never calls the forge.  Pure: the controller hands over what the
pass already read (the PR list, the statuses it read, the verdicts); nothing here does I/O.  The
value holds no time of its own, so an unchanged repository gives an equal snapshot and the
controller can skip the write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import orjson

from bot.forge.base import CommitStatus, PullState, StatusState
from bot.merge.readiness import MergeRules, Verdict

CI_FAILED = {StatusState.FAILURE, StatusState.ERROR}


def ci_summary(statuses: Sequence[CommitStatus] | None, own_context: str) -> dict[str, Any] | None:
    """None when the pass did not read them (its labels already ruled it out); else the overall
    state (success / failure / pending / none) and each context's state, prowlet's own left out."""
    if statuses is None:
        return None
    contexts = sorted((s.context, s.state.value) for s in statuses if s.context != own_context)
    states = {StatusState(state) for _, state in contexts}
    if not contexts:
        overall = "none"
    elif states & CI_FAILED:
        overall = "failure"
    elif states == {StatusState.SUCCESS}:
        overall = "success"
    else:
        overall = "pending"
    return {"state": overall, "contexts": [list(c) for c in contexts]}


def missing_labels(labels: Collection[str], rules: MergeRules) -> list[str]:
    """The required labels (approval: lgtm, approved …) the PR lacks; empty means approved."""
    have = {label.lower() for label in labels}
    return [label for label in rules.require_labels if label.lower() not in have]


def pull_entry(pull: PullState, verdict: Verdict, statuses: Sequence[CommitStatus] | None,
               rules: MergeRules) -> dict[str, Any]:
    item = pull.item
    return {
        "number": item.ref.number,
        "title": item.title,
        "author": item.author or "",
        "url": item.url or "",
        "labels": sorted(item.labels),
        "sha": item.head_sha or "",
        "base": item.base_ref or "",
        "draft": item.draft,
        "missing": missing_labels(item.labels, rules),
        "ci": ci_summary(statuses, rules.own_context),
        "ready": verdict.ready,
        "reason": verdict.description,
    }


def build_snapshot(verdicts: Iterable[tuple[PullState, Verdict]], statuses: Mapping[int, Sequence[CommitStatus]],
                   rules: MergeRules, merged: Collection[int] = ()) -> dict[str, Any]:
    """The open PRs after the pass (the ones it merged are gone), by number.  ``rev`` names the
    content, so a page rendered from it can be kept until it changes."""
    pulls = sorted((pull_entry(pull, verdict, statuses.get(pull.item.ref.number), rules)
                    for pull, verdict in verdicts if pull.item.ref.number not in merged), key=lambda p: p["number"])
    return {"rev": hashlib.sha256(orjson.dumps(pulls)).hexdigest()[:20], "pulls": pulls}


def merge_pool(snapshot: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Ready PRs by target branch, in the order they would merge."""
    pool: dict[str, list[dict[str, Any]]] = {}
    for pull in snapshot.get("pulls", []):
        if pull["ready"]:
            pool.setdefault(pull["base"], []).append(pull)
    return dict(sorted(pool.items()))
