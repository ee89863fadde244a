"""compute_approval: which OWNERS must approve a change, whether they have, and whom to suggest.

The tree mirrors the one in Prow's approvers_test.go (root, a, b, c, a/d, a/combo), plus the
options and filters Prow's fake repo does not exercise.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.owners import OwnersIndex, compute_approval

REPO = OwnersIndex.build({
    "": "approvers: [alice, bob]",
    "a": "approvers: [art, anne]",
    "b": "approvers: [bill, ben, barbara]",
    "c": "approvers: [chris, carol]",
    "a/d": "approvers: [david, dan, debbie]",
    "a/combo": "approvers: [eve, erin, david, dan, debbie, chris, carol]",
    "a/d/e": "reviewers: [rev]",  # reviewers only: a/d answers for it
    "a/d/e/f": "approvers: [fred]",
    "np": "approvers: [nina]\noptions: {no_parent_owners: true}",
    "auto": "approvers: [otto]\noptions: {auto_approve_unowned_subfolders: true}",
    "auto/owned": "approvers: [olga]",
    "flt": "filters:\n  '\\.go$': {approvers: [gopher]}",
    "flt/sub": "approvers: [subby]",
    "solo": "approvers: [sol]",
    "mid": "approvers: [mia]",
    "mid/x": "approvers: [sol]",
    "mid/y": "approvers: [sol]",
}, None)
EMPTY = OwnersIndex.build({"": None, "a": None}, None)
INDEXES = {"repo": REPO, "empty": EMPTY}

# name: (index, paths, approvals, author, require_self_approval, expected fields)
CASES: dict[str, tuple[str, list[str], list[str], str, bool, dict[str, Any]]] = {
    "empty-change-is-not-approved": ("repo", [], [], "zed", False, {"approved": False, "needed": ()}),
    "root-file-unapproved": ("repo", ["README"], [], "zed", False,
                             {"approved": False, "needed": ("",), "unapproved": ("",), "suggested_from": {"alice", "bob"}}),
    "root-file-root-approver": ("repo", ["README"], ["alice"], "zed", False,
                                {"approved": True, "approved_dirs": {"": ("alice",)}, "counted": ("alice",)}),
    "partial-approval-does-not-approve": ("repo", ["a/x.go", "b/x.go", "c/x"], ["anne", "bill"], "zed", False,
                                          {"approved": False, "needed": ("a", "b", "c"), "unapproved": ("c",),
                                           "approved_dirs": {"a": ("anne",), "b": ("bill",)}}),
    "leaf-approver-for-each-dir": ("repo", ["a/x.go", "b/x.go", "c/x"], ["anne", "ben", "carol"], "zed", False,
                                   {"approved": True, "unapproved": ()}),
    "root-approver-covers-all": ("repo", ["a/x.go", "b/x.go", "c/x"], ["bob"], "zed", False,
                                 {"approved": True, "approved_dirs": {"a": ("bob",), "b": ("bob",), "c": ("bob",)}}),
    "subdir-approver-does-not-cover-sibling": ("repo", ["a/combo/x", "a/d/y"], ["eve"], "zed", False,
                                               {"approved": False, "unapproved": ("a/d",)}),
    "one-approver-listed-in-both-leaves": ("repo", ["a/combo/x", "a/d/y"], ["dan"], "zed", False,
                                           {"approved": True, "needed": ("a/combo", "a/d")}),
    "parent-needed-drops-subdir": ("repo", ["a/x", "a/d/y"], ["dan"], "zed", False,
                                   {"approved": False, "needed": ("a",), "unapproved": ("a",), "counted": ("dan",)}),
    "parent-approver-covers-subdir": ("repo", ["a/x", "a/d/y"], ["anne"], "zed", False,
                                      {"approved": True, "needed": ("a",)}),
    "four-levels-ancestor-approves": ("repo", ["a/d/e/f/x.go"], ["dan"], "zed", False,
                                      {"approved": True, "needed": ("a/d/e/f",), "approved_dirs": {"a/d/e/f": ("dan",)}}),
    "reviewers-only-owners-answered-by-parent": ("repo", ["a/d/e/x.go"], [], "zed", False,
                                                 {"needed": ("a/d",), "unapproved": ("a/d",)}),
    "no-parent-owners-root-cannot-approve": ("repo", ["np/x"], ["alice"], "zed", False,
                                             {"approved": False, "unapproved": ("np",), "ignored": ("alice",)}),
    "no-parent-owners-kept-beside-root": ("repo", ["README", "np/x"], ["alice", "nina"], "zed", False,
                                          {"approved": True, "needed": ("", "np")}),
    "author-self-approves-implicitly": ("repo", ["a/x"], [], "Anne", False,
                                        {"approved": True, "counted": ("anne",), "ignored": ()}),
    "self-approval-required": ("repo", ["a/x"], [], "anne", True,
                               {"approved": False, "counted": (), "suggested": ("art",)}),
    "self-approval-required-and-given": ("repo", ["a/x"], ["anne"], "anne", True,
                                         {"approved": True, "counted": ("anne",)}),
    "author-who-is-no-approver": ("repo", ["a/x"], [], "zed", False, {"approved": False, "counted": ()}),
    "approvals-by-non-approvers-ignored": ("repo", ["a/x"], ["mallory", "bill"], "zed", False,
                                           {"approved": False, "counted": (), "ignored": ("bill", "mallory")}),
    "approvals-are-case-insensitive": ("repo", ["a/x"], ["ANNE", "@Art"], "zed", False,
                                       {"approved": True, "counted": ("anne", "art")}),
    "renamed-file-needs-both-sides": ("repo", ["a/moved.go", "b/moved.go"], ["anne"], "zed", False,
                                      {"approved": False, "needed": ("a", "b"), "unapproved": ("b",)}),
    "deleted-file-needs-its-owners": ("repo", ["c/gone.go"], ["carol"], "zed", False,
                                      {"approved": True, "needed": ("c",)}),
    "duplicate-paths": ("repo", ["a/x", "a/x"], ["anne"], "zed", False, {"approved": True, "needed": ("a",)}),
    "no-owners-anywhere-never-approved": ("empty", ["a/x"], ["alice"], "zed", False,
                                          {"approved": False, "needed": ("",), "unapproved": ("",),
                                           "ignored": ("alice",), "suggested": ()}),
    "auto-approved-only": ("repo", ["auto/new/x.go"], [], "zed", False,
                           {"approved": True, "needed": (), "auto_approved": ("auto/new/x.go",)}),
    "auto-approved-beside-unapproved": ("repo", ["auto/new/x.go", "b/y"], [], "zed", False,
                                        {"approved": False, "needed": ("b",), "auto_approved": ("auto/new/x.go",)}),
    "auto-approved-beside-approved": ("repo", ["auto/new/x.go", "b/y"], ["bill"], "zed", False, {"approved": True}),
    "auto-dir-own-file-needs-approval": ("repo", ["auto/x.go"], [], "zed", False,
                                         {"approved": False, "needed": ("auto",), "auto_approved": ()}),
    "auto-owned-subfolder-needs-approval": ("repo", ["auto/owned/x.go"], ["otto"], "zed", False,
                                            {"approved": True, "needed": ("auto/owned",), "auto_approved": ()}),
    "filter-approver": ("repo", ["flt/main.go"], ["gopher"], "zed", False,
                        {"approved": True, "approved_dirs": {"flt": ("gopher",)}}),
    "filter-not-matching-needs-root": ("repo", ["flt/README.md"], ["gopher"], "zed", False,
                                       {"approved": False, "needed": ("",), "ignored": ("gopher",)}),
    "filter-approver-does-not-cover-subdir-file": ("repo", ["flt/main.go", "flt/sub/README.md"], ["gopher"], "zed",
                                                   False, {"approved": False, "needed": ("flt",),
                                                           "unapproved": ("flt",), "suggested": ("subby",)}),
    "filter-and-subdir-approvers-together": ("repo", ["flt/main.go", "flt/sub/README.md"], ["gopher", "subby"],
                                             "zed", False, {"approved": True, "approved_dirs": {"flt": ("gopher", "subby")}}),
    "suggest-one-person-for-two-leaves": ("repo", ["a/combo/x", "a/d/y"], [], "zed", False,
                                          {"suggested_count": 1, "suggested_from": {"david", "dan", "debbie"}}),
    "suggest-only-for-unapproved": ("repo", ["a/x", "b/y", "c/z"], ["art", "ben"], "zed", False,
                                    {"suggested_count": 1, "suggested_from": {"chris", "carol"}}),
    "suggest-leaf-approvers-not-root": ("repo", ["a/x", "b/y", "c/z"], [], "zed", False,
                                        {"suggested_count": 3,
                                         "suggested_from": {"art", "anne", "bill", "ben", "barbara", "chris", "carol"}}),
    "suggest-nearest-owners": ("repo", ["a/d/e/f/x"], [], "zed", False, {"suggested": ("fred",)}),
    "suggest-parent-when-author-is-sole-approver": ("repo", ["solo/x"], [], "sol", True,
                                                    {"suggested_count": 1, "suggested_from": {"alice", "bob"}}),
    # the author is the only leaf approver: who covers more dirs wins, then who sits nearer
    "suggest-nearer-when-coverage-ties": ("repo", ["mid/x/f", "mid/y/g"], [], "sol", True, {"suggested": ("mia",)}),
    "suggest-wider-coverage-first": ("repo", ["mid/x/f", "mid/y/g", "solo/h"], [], "sol", True,
                                     {"suggested_count": 1, "suggested_from": {"alice", "bob"}}),
    "nothing-to-suggest-when-approved": ("repo", ["a/x"], ["anne"], "zed", False, {"suggested": ()}),
}


@pytest.mark.parametrize(("index", "paths", "approvals", "author", "require_self", "expected"),
                         list(CASES.values()), ids=list(CASES))
def test_compute_approval(index: str, paths: list[str], approvals: list[str], author: str, require_self: bool,
                          expected: dict[str, Any]) -> None:
    for seed in range(8):  # expectations hold whatever the seed
        state = compute_approval(INDEXES[index], paths, approvals, author, require_self_approval=require_self,
                                 seed=seed)
        for field, want in expected.items():
            if field == "suggested_count":
                assert len(state.suggested) == want, state.suggested
            elif field == "suggested_from":
                assert state.suggested and set(state.suggested) <= want, state.suggested
            else:
                assert getattr(state, field) == want, (field, seed)


# -- suggestions: stable per seed, spread across seeds, always sufficient -----------------------

SCENARIOS = {
    "three-leaves": (["a/x", "b/y", "c/z"], []),
    "combo-and-d": (["a/combo/x", "a/d/y"], []),
    "partly-approved": (["a/x", "b/y", "c/z", "np/w"], ["art"]),
    "nested-and-root": (["README", "a/d/e/f/x", "np/y"], []),
    "filters": (["flt/main.go", "flt/sub/README.md", "b/x"], ["gopher"]),
}


@pytest.mark.parametrize(("paths", "approvals"), list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_suggestions_together_approve_and_exclude_the_author(paths: list[str], approvals: list[str]) -> None:
    for seed in range(40):
        state = compute_approval(REPO, paths, approvals, "anne", require_self_approval=True, seed=seed)
        assert "anne" not in state.suggested
        assert len(state.suggested) == len(set(state.suggested)) <= 4
        after = compute_approval(REPO, paths, [*approvals, *state.suggested], "anne", require_self_approval=True)
        assert after.approved, (seed, state.suggested, after.unapproved)


@pytest.mark.parametrize(("paths", "approvals"), list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_suggestions_are_stable_for_a_seed(paths: list[str], approvals: list[str]) -> None:
    first = compute_approval(REPO, paths, approvals, "zed", seed=42).suggested
    again = compute_approval(REPO, list(reversed(paths)), approvals, "zed", seed=42).suggested
    assert first == again


@pytest.mark.parametrize(("paths", "pool"), [
    (["a/x"], {"art", "anne"}),
    (["b/x"], {"bill", "ben", "barbara"}),
    (["a/combo/x", "a/d/y"], {"david", "dan", "debbie"}),
], ids=["two-leaf-approvers", "three-leaf-approvers", "three-covering-both"])
def test_suggestions_spread_across_seeds(paths: list[str], pool: set[str]) -> None:
    picked = {compute_approval(REPO, paths, [], "zed", seed=seed).suggested for seed in range(60)}
    assert {s for (s,) in picked} == pool
