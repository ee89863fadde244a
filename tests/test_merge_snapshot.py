"""What the merge pass keeps for the dashboard (bot/merge/snapshot.py), as tables."""

from __future__ import annotations

import pytest

from bot.events import Item, ItemKind, ItemRef
from bot.forge.base import CommitStatus, PullState, StatusState
from bot.merge.readiness import MergeRules, Verdict
from bot.merge.snapshot import build_snapshot, ci_summary, merge_pool, missing_labels

RULES = MergeRules(["lgtm", "approved"], ["do-not-merge/hold"], "merge")
S, F, P, E = StatusState.SUCCESS, StatusState.FAILURE, StatusState.PENDING, StatusState.ERROR


def pull(number: int, labels: tuple[str, ...] = (), base: str = "main") -> PullState:
    ref = ItemRef("acme/widgets", number, ItemKind.PULL)
    return PullState(Item(ref, author="ann", title=f"PR {number}", labels=frozenset(labels), head_sha=f"sha{number}",
                          base_ref=base, url=f"https://forge/acme/widgets/pull/{number}"))


CI = [
    ("not read", None, None),
    ("nothing reported", [], "none"),
    ("only prowlet's own status", [("merge", P)], "none"),
    ("all passed", [("unit", S), ("lint", S)], "success"),
    ("one running", [("unit", S), ("lint", P)], "pending"),
    ("one failed", [("unit", F), ("lint", P)], "failure"),
    ("one errored", [("unit", S), ("e2e", E)], "failure"),
]


@pytest.mark.parametrize("statuses,overall", [c[1:] for c in CI], ids=[c[0] for c in CI])
def test_ci_summary(statuses: list[tuple[str, StatusState]] | None, overall: str | None) -> None:
    given = None if statuses is None else [CommitStatus(c, s) for c, s in statuses]
    summary = ci_summary(given, "merge")
    assert (summary["state"] if summary else None) == overall
    if summary:
        assert all(context != "merge" for context, _ in summary["contexts"])


APPROVAL = [
    ("none", (), ["lgtm", "approved"]),
    ("lgtm only", ("lgtm",), ["approved"]),
    ("both, any case", ("LGTM", "approved"), []),
]


@pytest.mark.parametrize("labels,missing", [c[1:] for c in APPROVAL], ids=[c[0] for c in APPROVAL])
def test_missing_labels(labels: tuple[str, ...], missing: list[str]) -> None:
    assert missing_labels(labels, RULES) == missing


def test_snapshot_leaves_out_merged_prs_and_pools_ready_ones_by_branch() -> None:
    verdicts = [
        (pull(3, ("lgtm", "approved"), "release-1"), Verdict(True, "In merge pool.")),
        (pull(1, ("lgtm", "approved")), Verdict(True, "In merge pool.")),
        (pull(2, ("lgtm",)), Verdict(False, "Not mergeable. Needs approved label.")),
        (pull(4, ("lgtm", "approved")), Verdict(True, "In merge pool.")),
    ]
    snapshot = build_snapshot(verdicts, {1: [CommitStatus("unit", S)]}, RULES, merged=[4])
    assert [p["number"] for p in snapshot["pulls"]] == [1, 2, 3]
    first = snapshot["pulls"][0]
    assert first == {
        "number": 1, "title": "PR 1", "author": "ann", "url": "https://forge/acme/widgets/pull/1",
        "labels": ["approved", "lgtm"], "sha": "sha1", "base": "main", "draft": False, "missing": [],
        "ci": {"state": "success", "contexts": [["unit", "success"]]}, "ready": True, "reason": "In merge pool.",
    }
    assert snapshot["pulls"][1]["ci"] is None and snapshot["pulls"][1]["missing"] == ["approved"]
    pool = merge_pool(snapshot)
    assert {base: [p["number"] for p in pulls] for base, pulls in pool.items()} == {"main": [1], "release-1": [3]}


async def test_a_snapshot_is_written_only_when_it_changed() -> None:
    from bot.merge.state import MergeState
    from bot.store.memory import MemoryStateStore

    state = MergeState(MemoryStateStore())
    first = build_snapshot([(pull(1), Verdict(False, "Not mergeable. Needs lgtm, approved labels."))], {}, RULES)
    assert await state.save_snapshot("github", "acme/widgets", first) is True
    assert await state.save_snapshot("github", "acme/widgets", build_snapshot(
        [(pull(1), Verdict(False, "Not mergeable. Needs lgtm, approved labels."))], {}, RULES)) is False
    second = build_snapshot([(pull(1, ("lgtm",)), Verdict(False, "Not mergeable. Needs approved label."))], {}, RULES)
    assert await state.save_snapshot("github", "acme/widgets", second) is True
    assert await state.snapshot("github", "acme/widgets") == second
