"""suggest_reviewers (Prow's blunderbuss): nearest reviewers first, spread over directories, stable."""

from __future__ import annotations

import pytest

from bot.owners import OwnersIndex, suggest_reviewers

REPO = OwnersIndex.build({
    "": "approvers: [alice, bob]\nreviewers: [root-rev1, root-rev2]",
    "a": "approvers: [anne]\nreviewers: [ar1, ar2, ar3]",
    "a/b": "approvers: [bea]\nreviewers: [br1, BR2]",
    "c": "approvers: [cat]\nreviewers: [cr1]",
    "d": "approvers: [dan, dora]",  # no reviewers of its own
    "np": "approvers: [nina]\nreviewers: [nr]\noptions: {no_parent_owners: true}",
    "req": "approvers: [quinn]\nreviewers: [qr]\nrequired_reviewers: [sec]\noptions: {no_parent_owners: true}",
}, None)
EMPTY = OwnersIndex.build({"": None}, None)

AR = {"ar1", "ar2", "ar3"}
BR = {"br1", "br2"}
ROOT_REV = {"root-rev1", "root-rev2"}

# name: (paths, author, count, exclude, [set each position-group must come from, in order])
CASES: dict[str, tuple[list[str], str, int, list[str], list[set[str]]]] = {
    "nearest-reviewers-first": (["a/b/x"], "zed", 2, [], [BR, BR]),
    "then-parent-reviewers": (["a/b/x"], "zed", 4, [], [BR, BR, AR, AR]),
    "then-approvers": (["d/x"], "zed", 3, [], [ROOT_REV, ROOT_REV, {"dan", "dora"}]),
    "never-the-author": (["a/b/x"], "@BR1", 2, [], [{"br2"}, AR]),
    "never-the-excluded": (["a/b/x"], "zed", 2, ["Br2"], [{"br1"}, AR]),
    "count-zero": (["a/b/x"], "zed", 0, [], []),
    "count-beyond-what-exists": (["np/x"], "zed", 5, [], [{"nr"}, {"nina"}]),
    "files-sharing-owners-share-slots": (["a/b/x", "a/b/y", "a/b/z"], "zed", 2, [], [BR, BR]),
    "count-one-over-two-directories": (["a/b/x", "c/y"], "zed", 1, [], [BR | {"cr1"}]),
    "root-file": (["README"], "zed", 1, [], [ROOT_REV]),
    "no-paths": ([], "zed", 3, [], []),
    "required-reviewers-left-to-caller": (["req/x"], "zed", 5, [], [{"qr"}, {"quinn"}]),
    "author-only-reviewer-falls-to-approvers": (["np/x"], "nr", 1, [], [{"nina"}]),
}


@pytest.mark.parametrize(("paths", "author", "count", "exclude", "groups"), list(CASES.values()), ids=list(CASES))
def test_suggest_reviewers(paths: list[str], author: str, count: int, exclude: list[str],
                           groups: list[set[str]]) -> None:
    for seed in range(10):
        picked = suggest_reviewers(REPO, paths, author, count, seed=seed, exclude=exclude)
        assert len(picked) == len(groups), picked
        assert len(set(picked)) == len(picked)
        for person, allowed in zip(picked, groups, strict=True):
            assert person in allowed, picked


@pytest.mark.parametrize(("paths", "count", "must_include"), [
    (["a/b/x", "a/b/y", "c/x"], 2, {"cr1"}),
    (["c/x", "a/b/x", "a/b/y", "a/b/z"], 2, {"cr1"}),
    (["np/x", "c/y"], 2, {"nr", "cr1"}),
    (["a/b/x", "c/y"], 3, {"br1", "br2", "cr1"}),
], ids=["one-per-directory", "order-of-paths-irrelevant", "two-directories-two-slots",
        "leaf-reviewers-before-any-parent"])
def test_round_robin_over_directories(paths: list[str], count: int, must_include: set[str]) -> None:
    for seed in range(10):
        picked = suggest_reviewers(REPO, paths, "zed", count, seed=seed)
        assert len(picked) == count and must_include <= set(picked), picked


def test_no_owners_anywhere_suggests_nobody() -> None:
    assert suggest_reviewers(EMPTY, ["a/x", "README"], "zed", 2) == []


def test_deterministic_for_a_seed() -> None:
    paths = ["a/b/x", "c/y", "d/z"]
    assert suggest_reviewers(REPO, paths, "zed", 4, seed=5) == suggest_reviewers(REPO, paths, "zed", 4, seed=5)


@pytest.mark.parametrize(("paths", "pool"), [
    (["a/x"], AR),
    (["a/b/x"], BR),
    (["d/x"], ROOT_REV),
    (["a/b/x", "c/y"], BR | {"cr1"}),
], ids=["three-reviewers", "two-reviewers", "inherited-reviewers", "which-directory-goes-first"])
def test_spread_across_seeds(paths: list[str], pool: set[str]) -> None:
    firsts = {suggest_reviewers(REPO, paths, "zed", 1, seed=seed)[0] for seed in range(60)}
    assert firsts == pool
