"""Is a PR/MR ready to merge, and if not, why — in words that fit a commit status (≤ 140 chars),
and in full (every blocking reason, each with what would unblock it) for ``/why`` and
``prowlet simulate merge``.

Pure: the controller gathers the PR, its statuses and the blocker issues (``Facts``); this decides.
Checks run in a fixed order so the status description names the first thing a person would have to
fix; the full verdict is the same checks, all of them, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from bot.forge.base import CommitStatus, Mergeability, PullState, StatusState

MAX_DESCRIPTION = 140
IN_POOL = "In merge pool."

# What lifts a label Prow's vocabulary gives a meaning to; other labels get the generic hint.
_ADD_HINTS = {
    "lgtm": "a reviewer writes /lgtm",
    "approved": "an approver writes /approve",
    "ok-to-test": "a trusted member writes /ok-to-test",
}
_REMOVE_HINTS = {
    "do-not-merge/hold": "/hold cancel",
    "do-not-merge/work-in-progress": "mark it ready (no draft, no WIP in the title)",
    "do-not-merge/invalid-owners-file": "fix the OWNERS file named in my comment",
    "do-not-merge/release-note-label-needed": "add a release-note block to the description, or /release-note-none",
    "needs-rebase": "rebase it onto its target branch",
    "needs-ok-to-test": "a trusted member writes /ok-to-test",
}


@dataclass(frozen=True)
class MergeRules:
    require_labels: Sequence[str]
    forbid_labels: Sequence[str]
    own_context: str  # prowlet's merge status, never a reason to wait
    blocker_label: str = "merge-blocker"  # named in the hint for blocker issues


@dataclass(frozen=True)
class Verdict:
    ready: bool
    description: str


@dataclass(frozen=True)
class Reason:
    """One thing that keeps a PR from merging, and what would unblock it."""

    what: str  # "Needs approved label"
    unblock: str  # "an approver writes /approve"

    def __str__(self) -> str:
        return f"{self.what} — {self.unblock}"


@dataclass(frozen=True)
class Finding:
    """One failed check: its status wording (as the commit status says it) and its reasons."""

    summary: str  # "Needs lgtm, approved labels."
    reasons: tuple[Reason, ...]
    description: str | None = None  # the whole status description, when not "Not mergeable. <summary>"


@dataclass(frozen=True)
class Facts:
    """What the merge controller knows about one PR in a pass."""

    pull: PullState
    blockers: Sequence[int] = ()  # open blocker issues in the repository
    statuses: Sequence[CommitStatus] | None = None  # None: not read (decided without them)
    required_jobs: Sequence[str] = ()  # built-in jobs that must have succeeded on this head
    optional_jobs: Collection[str] = ()  # contexts whose failure does not block
    refused: str | None = None  # the forge refused to merge this head, saying this
    stale_job: str | None = None  # a required job tested before the last merge into the base


@dataclass(frozen=True)
class FullVerdict:
    ready: bool
    description: str  # the commit status's wording
    reasons: tuple[Reason, ...]  # empty when ready


def _names(items: Sequence[str]) -> str:
    return ", ".join(items)


def _plural(items: Sequence[str], one: str, many: str) -> str:
    return one.format(_names(items)) if len(items) == 1 else many.format(_names(items))


def not_mergeable(reason: str) -> str:
    """The status description for a PR that waits for ``reason``."""
    text = f"Not mergeable. {reason}"
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "…"
    return text


def refusal_description(refused: str) -> str:
    """The status after the forge refused a merge (the controller writes it at once, too)."""
    return f"Not mergeable. Merge refused: {refused}"[:MAX_DESCRIPTION]


# ---- the checks, in the order the status description names them --------------------------------

Check = Callable[[Facts, MergeRules], "Finding | None"]


def _draft(facts: Facts, rules: MergeRules) -> Finding | None:
    if facts.pull.item.draft:
        return Finding("Is a draft.", (Reason("Is a draft", "mark it ready for review"),))
    return None


def _blocker_issues(facts: Facts, rules: MergeRules) -> Finding | None:
    if not facts.blockers:
        return None
    numbers = [f"#{n}" for n in sorted(facts.blockers)]
    hint = f"close it or remove the {rules.blocker_label} label from it"
    return Finding(_plural(numbers, "Blocked by issue {}.", "Blocked by issues {}."),
                   tuple(Reason(f"Blocked by issue {n}", hint) for n in numbers))


def _labels(facts: Facts) -> set[str]:
    return {label.lower() for label in facts.pull.item.labels}


def _missing_labels(facts: Facts, rules: MergeRules) -> Finding | None:
    labels = _labels(facts)
    missing = [label for label in rules.require_labels if label.lower() not in labels]
    if not missing:
        return None
    return Finding(_plural(missing, "Needs {} label.", "Needs {} labels."),
                   tuple(Reason(f"Needs {label} label", _ADD_HINTS.get(label.lower(), f"/label {label}"))
                         for label in missing))


def _forbidden_labels(facts: Facts, rules: MergeRules) -> Finding | None:
    labels = _labels(facts)
    present = [label for label in rules.forbid_labels if label.lower() in labels]
    if not present:
        return None
    return Finding(_plural(present, "Should not have {} label.", "Should not have {} labels."),
                   tuple(Reason(f"Should not have {label} label",
                                _REMOVE_HINTS.get(label.lower(), f"/remove-label {label}")) for label in present))


def _conflict(facts: Facts, rules: MergeRules) -> Finding | None:
    if facts.pull.mergeable is not Mergeability.CONFLICT:
        return None
    base = facts.pull.item.base_ref
    return Finding("Merge conflict.", (Reason("Merge conflict", f"rebase onto {base}" if base else "rebase"),))


def _refused(facts: Facts, rules: MergeRules) -> Finding | None:
    if facts.refused is None:
        return None
    return Finding(f"Merge refused: {facts.refused}", (Reason(
        f"The forge refused to merge this head: {facts.refused}",
        "fix that; I try again after new commits or a label change"),), refusal_description(facts.refused))


def _stale(facts: Facts, rules: MergeRules) -> Finding | None:
    if facts.stale_job is None:
        return None
    return Finding(f"Job {facts.stale_job} is re-running on the new base.", (Reason(
        f"Job {facts.stale_job} was tested before the last merge into {facts.pull.item.base_ref}",
        "nothing: it will be retested on the new base"),))


def _jobs(facts: Facts, rules: MergeRules) -> Finding | None:
    statuses = facts.statuses or ()
    by_context = {s.context: s for s in statuses}
    optional = set(facts.optional_jobs) | {rules.own_context}
    reasons: dict[str, Reason] = {}
    for s in statuses:
        if s.context in optional or s.state is StatusState.SUCCESS or s.context in reasons:
            continue
        hint = "wait for it to finish" if s.state is StatusState.PENDING else "/retest"
        reasons[s.context] = Reason(f"Job {s.context} has not succeeded ({s.state.value})", hint)
    for job in facts.required_jobs:
        if job not in by_context and job not in reasons:
            reasons[job] = Reason(f"Required job {job} has not run", f"/test {job}")
    if not reasons:
        return None
    names = sorted(reasons)
    return Finding(_plural(names, "Job {} has not succeeded.", "Jobs {} have not succeeded."),
                   tuple(reasons[name] for name in names))


def _forge_blocks(facts: Facts, rules: MergeRules) -> Finding | None:
    if facts.pull.mergeable is not Mergeability.BLOCKED:
        return None
    why = facts.pull.reason or "blocked"
    return Finding(f"The forge refuses to merge it ({why}).", (Reason(
        f"The forge refuses to merge it ({why})", "meet the forge's own merge rules (branch protection, discussions …)"),))


# Decided without the statuses (the controller reads statuses only when these pass) ...
EARLY: tuple[Check, ...] = (_draft, _blocker_issues, _missing_labels, _forbidden_labels, _conflict)
# ... and after them.
LATE: tuple[Check, ...] = (_refused, _stale, _jobs, _forge_blocks)


def findings(facts: Facts, rules: MergeRules) -> list[Finding]:
    """Every failed check, in order; the late checks only when the statuses were read."""
    checks = EARLY + (LATE if facts.statuses is not None else ())
    return [found for check in checks if (found := check(facts, rules)) is not None]


def _describe(found: Finding) -> str:
    return found.description or not_mergeable(found.summary)


def verdict(facts: Facts, rules: MergeRules) -> Verdict:
    """The first failed check, as a commit status says it; ready when none failed."""
    found = findings(facts, rules)
    return Verdict(False, _describe(found[0])) if found else Verdict(True, IN_POOL)


def full_verdict(facts: Facts, rules: MergeRules) -> FullVerdict:
    """Every blocking reason with what would unblock it.  ``facts.statuses`` must have been read."""
    found = findings(facts, rules)
    if not found:
        return FullVerdict(True, IN_POOL, ())
    return FullVerdict(False, _describe(found[0]), tuple(r for f in found for r in f.reasons))


def precheck(pull: PullState, rules: MergeRules, blockers: Sequence[int] = ()) -> Verdict | None:
    """What can be decided without the PR's statuses (drafts, blockers, labels, conflicts): a
    verdict, or None when the statuses must be read."""
    found = findings(Facts(pull, blockers), rules)
    return Verdict(False, _describe(found[0])) if found else None


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
    return verdict(Facts(pull, blockers, statuses, required_jobs, optional_jobs), rules)
