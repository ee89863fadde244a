"""OwnersIndex lookups: who approves, reviews and labels a file, against one repository tree."""

from __future__ import annotations

import pytest

from bot.owners import OwnersIndex

ALIASES = "aliases:\n  team-x: [Xavier, xena]\n"

REPO = {
    "": "approvers: [root-a, Root-B]\nreviewers: [root-rev]\nlabels: [everything]\nrequired_reviewers: [sec]",
    "a": "approvers: [anne]\nreviewers: [arev, '@Anne2']\nlabels: [area/a]",
    "a/b": "approvers: [bob]\nreviewers: [brev, arev]\nrequired_reviewers: [b-sec]",
    "a/b/c": "reviewers: [crev]",  # reviewers only: approvers come from a/b and above
    "a/b/c/d": "approvers: [dora]\nemeritus_approvers: [old-timer]",
    "np": "approvers: [nina]\nreviewers: [nrev]\nlabels: [np]\noptions: {no_parent_owners: true}",
    "np/in": "approvers: [ian]",
    "np-empty": "reviewers: [pete]\noptions: {no_parent_owners: true}",  # blocks nothing: it grants no approvers
    "auto": "approvers: [otto]\noptions: {auto_approve_unowned_subfolders: true}",
    "auto/owned": "approvers: [olga]",
    "auto-rev": "reviewers: [rex]\noptions: {auto_approve_unowned_subfolders: true}",
    "f": r"""
filters:
  ".*":
    reviewers: [frev]
    labels: [area/f]
  '\.go$':
    approvers: [gopher, team-x]
    labels: [lang/go]
  "^docs/":
    approvers: [writer]
""",
    "f/sub": r"""
filters:
  '^gen/.*\.go$':
    approvers: [generator]
""",
    "team": "approvers: [team-x, Unknown-Alias]",
    "nothing": None,  # no OWNERS file here
}

INDEX = OwnersIndex.build(REPO, ALIASES)
NO_OWNERS = OwnersIndex.build({"": None, "a": None}, None)

ROOT = {"root-a", "root-b"}

APPROVERS = {
    "root-file": ("README.md", ROOT),
    "one-level": ("a/x.go", {"anne"} | ROOT),
    "two-levels": ("a/b/x.go", {"bob", "anne"} | ROOT),
    "reviewers-only-owners-inherits": ("a/b/c/x.go", {"bob", "anne"} | ROOT),
    "four-levels-emeritus-grants-nothing": ("a/b/c/d/x.go", {"dora", "bob", "anne"} | ROOT),
    "no-parent-owners-blocks-root": ("np/x.go", {"nina"}),
    "below-no-parent-owners-stops-there": ("np/in/deep/x.go", {"ian", "nina"}),
    "no-parent-owners-without-approvers-inherits": ("np-empty/x.go", ROOT),
    "dir-without-owners-file": ("nothing/x.go", ROOT),
    "filter-dot-go": ("f/main.go", {"gopher", "xavier", "xena"} | ROOT),
    "filter-dot-go-not-for-markdown": ("f/notes.md", ROOT),
    "filter-relative-to-owners-dir": ("f/docs/guide.md", {"writer"} | ROOT),
    "filter-anchor-not-deeper": ("f/x/docs/guide.md", ROOT),
    "filter-in-subdir-owners-relative": ("f/sub/gen/api.go", {"generator", "gopher", "xavier", "xena"} | ROOT),
    "filter-in-subdir-not-matching": ("f/sub/api.go", {"gopher", "xavier", "xena"} | ROOT),
    "alias-and-unknown-alias": ("team/x", {"xavier", "xena", "unknown-alias"} | ROOT),
}


@pytest.mark.parametrize(("path", "expected"), list(APPROVERS.values()), ids=list(APPROVERS))
def test_approvers_for(path: str, expected: set[str]) -> None:
    assert INDEX.approvers_for(path) == expected


def test_no_owners_anywhere_means_no_approvers() -> None:
    assert NO_OWNERS.approvers_for("a/x.go") == frozenset()
    assert NO_OWNERS.leaf_owners_dir("a/x.go") is None
    assert NO_OWNERS.reviewers_for("a/x.go") == []


LEAF = {
    "root-file": ("README.md", ""),
    "nearest": ("a/b/x.go", "a/b"),
    "reviewers-only-owners-skipped": ("a/b/c/x.go", "a/b"),
    "deep": ("a/b/c/d/e/x.go", "a/b/c/d"),
    "filter-matches": ("f/main.go", "f"),
    "filter-does-not-match": ("f/notes.md", ""),
    "subdir-filter-falls-through": ("f/sub/api.go", "f"),
    "no-parent-owners-without-approvers": ("np-empty/x", ""),
}


@pytest.mark.parametrize(("path", "expected"), list(LEAF.values()), ids=list(LEAF))
def test_leaf_owners_dir(path: str, expected: str) -> None:
    assert INDEX.leaf_owners_dir(path) == expected


REVIEWERS = {
    "root-file": ("README", ["root-rev"]),
    "nearest-first-alphabetical-within": ("a/x", ["anne2", "arev", "root-rev"]),
    "deduplicated-keeps-nearest-position": ("a/b/x", ["arev", "brev", "anne2", "root-rev"]),
    "reviewers-only-owners": ("a/b/c/x", ["crev", "arev", "brev", "anne2", "root-rev"]),
    "no-parent-owners": ("np/x", ["nrev"]),
    "no-parent-owners-with-reviewers-only": ("np-empty/x", ["pete"]),
    "filter-all-files": ("f/notes.md", ["frev", "root-rev"]),
}


@pytest.mark.parametrize(("path", "expected"), list(REVIEWERS.values()), ids=list(REVIEWERS))
def test_reviewers_for(path: str, expected: list[str]) -> None:
    assert INDEX.reviewers_for(path) == expected


LABELS = {
    "root": (["README"], {"everything"}),
    "plain-labels-and-parents": (["a/b/x"], {"area/a", "everything"}),
    "filter-labels-go": (["f/main.go"], {"area/f", "lang/go", "everything"}),
    "filter-labels-not-go": (["f/notes.md"], {"area/f", "everything"}),
    "union-over-paths": (["a/x", "f/y.go"], {"area/a", "area/f", "lang/go", "everything"}),
    "no-parent-owners-stops-labels": (["np/x"], {"np"}),
    "no-paths": ([], set()),
}


@pytest.mark.parametrize(("paths", "expected"), list(LABELS.values()), ids=list(LABELS))
def test_labels_for(paths: list[str], expected: set[str]) -> None:
    assert INDEX.labels_for(paths) == expected


REQUIRED = {
    "root-only": (["README"], {"sec"}),
    "nested-adds-parent": (["a/b/x"], {"b-sec", "sec"}),
    "union-over-paths": (["a/x", "a/b/y"], {"b-sec", "sec"}),
    # np/OWNERS names no required_reviewers, so (as in Prow) nothing stops the walk there
    "no-parent-owners-listing-none-inherits": (["np/x"], {"sec"}),
    "single-string-is-one-path": ("a/b/x", {"b-sec", "sec"}),
}


@pytest.mark.parametrize(("paths", "expected"), list(REQUIRED.values()), ids=list(REQUIRED))
def test_required_reviewers_for(paths: list[str], expected: set[str]) -> None:
    assert INDEX.required_reviewers_for(paths) == expected


MEMBERSHIP = {
    "approver-of-file": ("bob", ["a/b/x"], True),
    "reviewer-of-file": ("brev", ["a/b/x"], True),
    "parent-reviewer": ("root-rev", ["a/b/x"], True),
    "case-insensitive-login": ("@ROOT-B", ["a/x"], True),
    "approver-of-other-dir": ("bob", ["a/x"], False),
    "any-of-the-paths": ("bob", ["a/x", "a/b/y"], True),
    "blocked-by-no-parent-owners": ("root-a", ["np/x"], False),
    "emeritus-is-nobody": ("old-timer", ["a/b/c/d/x"], False),
    "alias-member": ("XENA", ["f/main.go"], True),
    "stranger": ("mallory", ["a/x", "README"], False),
    "no-paths": ("root-a", [], False),
}


@pytest.mark.parametrize(("login", "paths", "expected"), list(MEMBERSHIP.values()), ids=list(MEMBERSHIP))
def test_is_reviewer_or_approver(login: str, paths: list[str], expected: bool) -> None:
    assert INDEX.is_reviewer_or_approver(login, paths) is expected


AUTO = {
    "new-subfolder": ("auto/new/x.go", True),
    "nested-new-subfolder": ("auto/new/deeper/still/x.go", True),
    "file-directly-in-dir": ("auto/x.go", False),
    "owned-subfolder": ("auto/owned/x.go", False),
    "below-owned-subfolder": ("auto/owned/new/x.go", False),
    "owners-without-approvers-with-option": ("auto-rev/new/x.go", True),
    "option-elsewhere": ("a/new/x.go", False),
    "root-file": ("README", False),
}


@pytest.mark.parametrize(("path", "expected"), list(AUTO.values()), ids=list(AUTO))
def test_auto_approves(path: str, expected: bool) -> None:
    assert INDEX.auto_approves(path) is expected
