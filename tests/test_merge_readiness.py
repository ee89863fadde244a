"""Readiness rules, as a table of named cases."""

from __future__ import annotations

import pytest

from bot.events import Item, ItemKind, ItemRef
from bot.forge.base import CommitStatus, Mergeability, PullState, StatusState
from bot.merge.readiness import IN_POOL, MAX_DESCRIPTION, Facts, MergeRules, evaluate, full_verdict, precheck, verdict

RULES = MergeRules(
    require_labels=["lgtm", "approved"],
    forbid_labels=["do-not-merge/hold", "needs-rebase"],
    own_context="merge",
)
READY_LABELS = frozenset({"lgtm", "approved"})
OK, FAIL, PENDING = StatusState.SUCCESS, StatusState.FAILURE, StatusState.PENDING


def pull(labels=READY_LABELS, draft=False, mergeable=Mergeability.CLEAN, reason="") -> PullState:  # noqa: ANN001
    item = Item(ref=ItemRef("acme/w", 1, ItemKind.PULL), labels=frozenset(labels), draft=draft, head_sha="abc",
                base_ref="main")
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


# The full verdict: every blocking reason, each with what unblocks it (/why, prowlet simulate merge).
ALL_WRONG = pull(labels={"lgtm", "do-not-merge/hold", "needs-rebase"}, draft=True, mergeable=Mergeability.CONFLICT)
FULL_CASES = [
    ("ready", Facts(pull(), statuses=[st("unit", OK)]), []),
    ("needs approved", Facts(pull(labels={"lgtm"}), statuses=[]),
     ["Needs approved label — an approver writes /approve"]),
    ("needs a label without a command", Facts(pull(labels={"approved"}), statuses=[]),
     ["Needs lgtm label — a reviewer writes /lgtm"]),
    ("hold", Facts(pull(labels=READY_LABELS | {"do-not-merge/hold"}), statuses=[]),
     ["Should not have do-not-merge/hold label — /hold cancel"]),
    ("everything at once", Facts(ALL_WRONG, blockers=[12], statuses=[st("unit", FAIL)], required_jobs=["e2e"]), [
        "Is a draft — mark it ready for review",
        "Blocked by issue #12 — close it or remove the merge-blocker label from it",
        "Needs approved label — an approver writes /approve",
        "Should not have do-not-merge/hold label — /hold cancel",
        "Should not have needs-rebase label — rebase it onto its target branch",
        "Merge conflict — rebase onto main",
        "Required job e2e has not run — /test e2e",
        "Job unit has not succeeded (failure) — /retest",
    ]),
    ("pending job", Facts(pull(), statuses=[st("unit", PENDING)]),
     ["Job unit has not succeeded (pending) — wait for it to finish"]),
    ("optional and own statuses never block", Facts(pull(), statuses=[st("flaky", FAIL), st("merge", PENDING)],
                                                    optional_jobs={"flaky"}), []),
    ("forge refused the merge", Facts(pull(), statuses=[], refused="Required status check missing"),
     ["The forge refused to merge this head: Required status check missing — "
      "fix that; I try again after new commits or a label change"]),
    ("tested before the last merge", Facts(pull(), statuses=[st("unit", OK)], required_jobs=["unit"], stale_job="unit"),
     ["Job unit was tested before the last merge into main — nothing: it will be retested on the new base"]),
    ("forge blocks", Facts(pull(mergeable=Mergeability.BLOCKED, reason="discussions_not_resolved"), statuses=[]),
     ["The forge refuses to merge it (discussions_not_resolved) — "
      "meet the forge's own merge rules (branch protection, discussions …)"]),
]
CONFIGURED = MergeRules(["lgtm", "approved", "qa-passed"], ["needs-docs"], "merge")  # merge.require/forbid_labels
FULL_CASES = [(name, facts, reasons, RULES) for name, facts, reasons in FULL_CASES] + [
    ("configured labels", Facts(pull(labels=READY_LABELS | {"needs-docs"}), statuses=[]),
     ["Needs qa-passed label — /label qa-passed", "Should not have needs-docs label — /remove-label needs-docs"],
     CONFIGURED),
]


@pytest.mark.parametrize("facts,reasons,rules", [c[1:] for c in FULL_CASES], ids=[c[0] for c in FULL_CASES])
def test_full_verdict_lists_every_reason(facts: Facts, reasons: list[str], rules: MergeRules) -> None:
    full = full_verdict(facts, rules)
    assert [str(r) for r in full.reasons] == reasons
    assert full.ready is (not reasons)
    # The first reason is what the commit status says: both come from the same checks.
    assert (full.ready, full.description) == (verdict(facts, rules).ready, verdict(facts, rules).description)


def test_refusal_and_staleness_keep_their_status_wording() -> None:
    refused = Facts(pull(), statuses=[], refused="Base branch was modified")
    assert verdict(refused, RULES).description == "Not mergeable. Merge refused: Base branch was modified"
    stale = Facts(pull(), statuses=[], required_jobs=["unit"], stale_job="unit")
    assert verdict(stale, RULES).description == "Not mergeable. Job unit is re-running on the new base."


def test_precheck_stops_before_statuses() -> None:
    assert precheck(pull(), RULES) is None
    assert precheck(pull(labels={"lgtm"}), RULES) == evaluate(pull(labels={"lgtm"}), [], RULES)
