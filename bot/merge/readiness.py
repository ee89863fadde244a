"""Is a PR/MR ready to merge, and if not, why — in words that fit a commit status (≤ 140 chars).

Pure: the controller gathers the PR, its statuses and the blocker issues; this decides.  Checks run
in a fixed order so the description names the first thing a person would have to fix.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.forge.base import CommitStatus, Mergeability, PullState, StatusState

MAX_DESCRIPTION = 140
IN_POOL = "In merge pool."


@dataclass(frozen=True)
class MergeRules:
    require_labels: Sequence[str]
    forbid_labels: Sequence[str]
    own_context: str  # prowlet's merge status, never a reason to wait


@dataclass(frozen=True)
class Verdict:
    ready: bool
    description: str


def _names(items: Sequence[str]) -> str:
    return ", ".join(items)


def _not(reason: str) -> Verdict:
    text = f"Not mergeable. {reason}"
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "…"
    return Verdict(False, text)


def _plural(items: Sequence[str], one: str, many: str) -> str:
    return one.format(_names(items)) if len(items) == 1 else many.format(_names(items))


def precheck(pull: PullState, rules: MergeRules, blockers: Sequence[int] = ()) -> Verdict | None:
    """What can be decided without the PR's statuses (drafts, blockers, labels, conflicts): a
    verdict, or None when the statuses must be read."""
    item = pull.item
    if item.draft:
        return _not("Is a draft.")
    if blockers:
        return _not(_plural([f"#{n}" for n in sorted(blockers)], "Blocked by issue {}.", "Blocked by issues {}."))
    labels = {label.lower() for label in item.labels}
    missing = [label for label in rules.require_labels if label.lower() not in labels]
    if missing:
        return _not(_plural(missing, "Needs {} label.", "Needs {} labels."))
    present = [label for label in rules.forbid_labels if label.lower() in labels]
    if present:
        return _not(_plural(present, "Should not have {} label.", "Should not have {} labels."))
    if pull.mergeable is Mergeability.CONFLICT:
        return _not("Merge conflict.")
    return None


def evaluate(
    pull: PullState,
    statuses: Sequence[CommitStatus],
    rules: MergeRules,
    required_jobs: Sequence[str] = (),
    optional_jobs: Collection[str] = (),
    blockers: Sequence[int] = (),
) -> Verdict:
    """``required_jobs``: built-in jobs that must have succeeded on this head; ``optional_jobs``:
    contexts whose failure does not block; ``blockers``: open blocker issues in the repository."""
    early = precheck(pull, rules, blockers)
    if early is not None:
        return early
    by_context = {s.context: s for s in statuses}
    optional = set(optional_jobs) | {rules.own_context}
    waiting = [s.context for s in statuses if s.context not in optional and s.state is not StatusState.SUCCESS]
    waiting += [job for job in required_jobs if job not in by_context]  # required but never ran
    if waiting:
        names = sorted(dict.fromkeys(waiting))
        return _not(_plural(names, "Job {} has not succeeded.", "Jobs {} have not succeeded."))
    if pull.mergeable is Mergeability.BLOCKED:
        return _not(f"The forge refuses to merge it ({pull.reason or 'blocked'}).")
    return Verdict(True, IN_POOL)
