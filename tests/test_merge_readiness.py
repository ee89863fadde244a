"""Readiness rules, as a table of named cases."""

from __future__ import annotations

import pytest

from bot.events import Item, ItemKind, ItemRef
from bot.forge.base import CommitStatus, Mergeability, PullState, StatusState
from bot.merge.readiness import IN_POOL, MAX_DESCRIPTION, MergeRules, evaluate

RULES = MergeRules(
    require_labels=["lgtm", "approved"],
    forbid_labels=["do-not-merge/hold", "needs-rebase"],
    own_context="merge",
)
READY_LABELS = frozenset({"lgtm", "approved"})
OK, FAIL, PENDING = StatusState.SUCCESS, StatusState.FAILURE, StatusState.PENDING


def pull(labels=READY_LABELS, draft=False, mergeable=Mergeability.CLEAN, reason="") -> PullState:  # noqa: ANN001
    item = Item(ref=ItemRef("acme/w", 1, ItemKind.PULL), labels=frozenset(labels), draft=draft, head_sha="abc")
    return PullState(item, mergeable, reason)


def st(context: str, state: StatusState) -> CommitStatus:
    return CommitStatus(context, state)


CASES = [
    ("ready", pull(), [st("unit", OK)], {}, True, IN_POOL),
    ("ready without any status", pull(), [], {}, True, IN_POOL),
    ("unknown mergeability is a candidate", pull(mergeable=Mergeability.UNKNOWN), [], {}, True, IN_POOL),
    ("draft", pull(draft=True), [], {}, False, "Not mergeable. Is a draft."),
    ("needs approved", pull(labels={"lgtm"}), [], {}, False, "Not mergeable. Needs approved label."),
    ("needs both", pull(labels=set()), [], {}, False, "Not mergeable. Needs lgtm, approved labels."),
    ("label case", pull(labels={"LGTM", "Approved"}), [], {}, True, IN_POOL),
    ("held", pull(labels=READY_LABELS | {"do-not-merge/hold"}), [], {}, False,
     "Not mergeable. Should not have do-not-merge/hold label."),
    ("conflict", pull(mergeable=Mergeability.CONFLICT), [], {}, False, "Not mergeable. Merge conflict."),
    ("failing job", pull(), [st("unit", FAIL), st("lint", OK)], {}, False, "Not mergeable. Job unit has not succeeded."),
    ("pending jobs", pull(), [st("unit", PENDING), st("e2e", FAIL)], {}, False,
     "Not mergeable. Jobs e2e, unit have not succeeded."),
    ("own status ignored", pull(), [st("merge", PENDING)], {}, True, IN_POOL),
    ("optional job ignored", pull(), [st("flaky", FAIL)], {"optional_jobs": {"flaky"}}, True, IN_POOL),
    ("required job never ran", pull(), [st("lint", OK)], {"required_jobs": ["unit"]}, False,
     "Not mergeable. Job unit has not succeeded."),
    ("required job succeeded", pull(), [st("unit", OK)], {"required_jobs": ["unit"]}, True, IN_POOL),
    ("blocker issue", pull(), [], {"blockers": [12]}, False, "Not mergeable. Blocked by issue #12."),
    ("blocker issues", pull(), [], {"blockers": [15, 12]}, False, "Not mergeable. Blocked by issues #12, #15."),
    ("forge blocks", pull(mergeable=Mergeability.BLOCKED, reason="discussions_not_resolved"), [], {}, False,
     "Not mergeable. The forge refuses to merge it (discussions_not_resolved)."),
    ("labels before statuses", pull(labels={"lgtm"}), [st("unit", FAIL)], {}, False,
     "Not mergeable. Needs approved label."),
]


@pytest.mark.parametrize("pull_state,statuses,kwargs,ready,description", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_readiness(pull_state, statuses, kwargs, ready, description) -> None:  # noqa: ANN001
    verdict = evaluate(pull_state, statuses, RULES, **kwargs)
    assert (verdict.ready, verdict.description) == (ready, description)


def test_description_fits_a_commit_status() -> None:
    many = [st(f"a-very-long-job-name-{i}", FAIL) for i in range(20)]
    verdict = evaluate(pull(), many, RULES)
    assert len(verdict.description) == MAX_DESCRIPTION and verdict.description.endswith("…")
