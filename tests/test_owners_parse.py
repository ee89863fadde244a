"""OWNERS / OWNERS_ALIASES parsing: paths, the accepted forms, and every way a file can be invalid."""

from __future__ import annotations

import random

import pytest

from bot.owners import OwnersError, OwnersIndex, owners_dirs_for, parent_dirs

# -- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ("a/b/c.go", ["a/b", "a", ""]),
    ("README", [""]),
    ("a/b/c/d/e.txt", ["a/b/c/d", "a/b/c", "a/b", "a", ""]),
    (".github/workflows/ci.yml", [".github/workflows", ".github", ""]),
], ids=["nested", "root-file", "five-levels", "dot-directory"])
def test_parent_dirs(path: str, expected: list[str]) -> None:
    assert parent_dirs(path) == expected


@pytest.mark.parametrize(("paths", "expected"), [
    ([], []),
    (["README"], [""]),
    (["a/b/x.go", "a/y.go", "c/z"], ["", "a", "a/b", "c"]),
    (["old/name.go", "new/place/name.go"], ["", "new", "new/place", "old"]),
], ids=["no-paths", "root-only", "union-sorted-deduplicated", "rename-both-sides"])
def test_owners_dirs_for(paths: list[str], expected: list[str]) -> None:
    assert owners_dirs_for(paths) == expected


# -- valid forms -------------------------------------------------------------------------------

ALIASES = """
aliases:
  Team-X: [Xavier, "@xena"]
  empty-team:
  set-style: {sam, sue}
"""


@pytest.mark.parametrize(("owners", "path", "approvers", "reviewers"), [
    ("approvers: [alice, bob]\nreviewers: [carol]", "x.go", {"alice", "bob"}, ["carol"]),
    ("approvers: [Alice, '@BOB']", "x.go", {"alice", "bob"}, []),
    ("approvers: [team-x]", "x.go", {"xavier", "xena"}, []),
    ("approvers: [TEAM-X, xavier]", "x.go", {"xavier", "xena"}, []),
    ("reviewers: [set-style]", "x.go", set(), ["sam", "sue"]),
    ("approvers: [empty-team, dave]", "x.go", {"dave"}, []),
    ("approvers: [no-such-alias]", "x.go", {"no-such-alias"}, []),
    ("filters:\n  '.*':\n    approvers: [team-x]", "x.go", {"xavier", "xena"}, []),
    ("approvers: [alice]\nemeritus_approvers: [old]\nemeritus_reviewers: [older]", "x.go", {"alice"}, []),
    ("", "x.go", set(), []),
    ("# just a comment\n", "x.go", set(), []),
    ("approvers:\nreviewers: []", "x.go", set(), []),
    ("filters: {}\noptions: {no_parent_owners: true}", "x.go", set(), []),
    ("approvers: []\nfilters:\n  '.*': {approvers: [fay]}", "x.go", {"fay"}, []),
    ("filters:\n  '\\.go$':\n  '.*': {reviewers: [rita]}", "x.go", set(), ["rita"]),
], ids=["plain-lists", "logins-normalised", "alias-expanded", "alias-name-case-insensitive",
        "alias-flow-set-syntax", "empty-alias", "unknown-alias-is-a-login", "alias-in-filter",
        "emeritus-grants-nothing", "empty-file", "comment-only-file", "null-and-empty-lists",
        "empty-filters-with-options", "empty-top-level-list-beside-filters", "empty-filter-body"])
def test_valid_forms(owners: str, path: str, approvers: set[str], reviewers: list[str]) -> None:
    index = OwnersIndex.build({"": owners}, ALIASES)
    assert index.approvers_for(path) == approvers
    assert index.reviewers_for(path) == reviewers


@pytest.mark.parametrize(("options", "inherits"), [
    ("{no_parent_owners: true}", False),
    ("{no_parent_owners: false}", True),
    ("{no_parent_owners: null}", True),
    ("", True),
    ("{auto_approve_unowned_subfolders: true}", True),
], ids=["true-blocks", "false", "null-reads-as-false", "options-empty", "other-option-only"])
def test_no_parent_owners_option_values(options: str, inherits: bool) -> None:
    index = OwnersIndex.build({"": "approvers: [root]", "x": f"approvers: [xa]\noptions: {options}"}, None)
    assert index.approvers_for("x/f.go") == ({"xa", "root"} if inherits else {"xa"})


def test_bytes_text_is_accepted() -> None:
    index = OwnersIndex.build({"": b"approvers: [alice]"}, b"aliases: {}")  # type: ignore[dict-item]
    assert index.approvers_for("x") == {"alice"}


def test_directory_keys_are_canonicalised() -> None:
    index = OwnersIndex.build({"./pkg/": "approvers: [pia]", ".": "approvers: [root]"}, None)
    assert index.approvers_for("pkg/x.go") == {"pia", "root"}


# -- invalid files -----------------------------------------------------------------------------

# (files, aliases text, the file blamed, words the message must contain)
ERRORS = {
    "yaml-syntax-with-line": ({"a": "approvers:\n  - alice\n  bob: [x"}, None, "a/OWNERS", "invalid YAML at line 3"),
    "yaml-unclosed-list": ({"": "approvers: [alice"}, None, "OWNERS", "invalid YAML at line 1"),
    "yaml-nested-too-deeply": ({"": "[" * 1200}, None, "OWNERS", "invalid YAML: nested too deeply"),
    "yaml-two-documents": ({"": "approvers: [a]\n---\nreviewers: [b]"}, None, "OWNERS",
                           "invalid YAML at line 2, column 1: expected a single document"),
    "top-level-list": ({"": "- alice\n- bob"}, None, "OWNERS", "must be a YAML mapping"),
    "top-level-number": ({"": "42"}, None, "OWNERS", "not a number"),
    "top-level-text": ({"": "alice"}, None, "OWNERS", "not text"),
    "unknown-key-typo": ({"pkg/api": "approver: [alice]"}, None, "pkg/api/OWNERS", "unknown key 'approver'"),
    "unknown-key-not-text": ({"": "1: [alice]"}, None, "OWNERS", "unknown key 1"),
    "approvers-a-string": ({"": "approvers: alice"}, None, "OWNERS", "approvers must be a list of logins, not text"),
    "approvers-a-mapping": ({"": "approvers: {alice: 1}"}, None, "OWNERS", "approvers must be a list of logins"),
    "login-a-number": ({"": "approvers: [12345]"}, None, "OWNERS", "12345 was read as a number (quote it"),
    "login-a-boolean": ({"": "reviewers: [yes]"}, None, "OWNERS", "reviewers must be a list of logins; True"),
    "login-nested-list": ({"": "approvers: [[alice]]"}, None, "OWNERS", "was read as a list"),
    "login-empty": ({"": "approvers: ['']"}, None, "OWNERS", "'' is not one"),
    "login-just-at": ({"": "approvers: ['@']"}, None, "OWNERS", "'@' is not one"),
    "login-with-space": ({"": "approvers:\n - alice\n  - bob"}, None, "OWNERS", "'alice - bob' is not one"),
    "required-reviewers-wrong": ({"": "required_reviewers: sec"}, None, "OWNERS", "required_reviewers must be a list"),
    "labels-a-string": ({"": "labels: area/x"}, None, "OWNERS", "labels must be a list of label names"),
    "emeritus-a-string": ({"": "emeritus_approvers: old"}, None, "OWNERS", "emeritus_approvers must be a list"),
    "options-a-list": ({"": "options: [no_parent_owners]"}, None, "OWNERS", "options must be a mapping"),
    "unknown-option": ({"": "options: {no_parents: true}"}, None, "OWNERS", "unknown key 'no_parents' in options"),
    "option-not-boolean": ({"": "options: {no_parent_owners: 'true'}"}, None, "OWNERS",
                           "options.no_parent_owners must be true or false, not text"),
    "filters-a-list": ({"": "filters: ['.*']"}, None, "OWNERS", "filters must be a mapping"),
    "filter-pattern-not-text": ({"": "filters: {1: {approvers: [a]}}"}, None, "OWNERS", "filter pattern 1 must be text"),
    "filter-body-a-list": ({"": "filters: {'.*': [alice]}"}, None, "OWNERS", "filter '.*' must be a mapping"),
    "filter-unknown-key": ({"": "filters: {'.*': {approver: [a]}}"}, None, "OWNERS",
                           "unknown key 'approver' in filter '.*'"),
    "filter-options-inside": ({"": "filters: {'.*': {options: {}}}"}, None, "OWNERS", "unknown key 'options' in filter"),
    "filter-bad-regex": ({"docs": "filters: {'(unclosed': {approvers: [a]}}"}, None, "docs/OWNERS",
                         "filter '(unclosed' is not a valid regular expression"),
    "filter-approvers-wrong-type": ({"": "filters: {'\\.go$': {approvers: gopher}}"}, None, "OWNERS",
                                    "filters['\\\\.go$'].approvers must be a list"),
    "filters-mixed-with-approvers": ({"": "approvers: [a]\nfilters: {'.*': {reviewers: [b]}}"}, None, "OWNERS",
                                     "uses filters and also top-level approvers"),
    "filters-mixed-with-labels": ({"": "labels: [x]\nfilters: {'.*': {reviewers: [b]}}"}, None, "OWNERS",
                                  "also top-level labels"),
    "not-utf8": ({"": b"approvers: [\xff]"}, None, "OWNERS", "not valid UTF-8"),
    "not-text-at-all": ({"": 42}, None, "OWNERS", "expected the file's text"),
    "aliases-yaml-error": ({}, "aliases: [", "OWNERS_ALIASES", "invalid YAML at line 1"),
    "aliases-top-level-list": ({}, "- a", "OWNERS_ALIASES", "must be a YAML mapping with an 'aliases' key"),
    "aliases-unknown-key": ({}, "alias: {t: [a]}", "OWNERS_ALIASES", "unknown key 'alias'"),
    "aliases-not-a-mapping": ({}, "aliases: [a, b]", "OWNERS_ALIASES", "aliases must be a mapping"),
    "alias-not-a-list": ({}, "aliases: {team: alice}", "OWNERS_ALIASES", "alias 'team' must be a list of logins"),
    "alias-member-a-number": ({}, "aliases: {team: [1]}", "OWNERS_ALIASES", "1 was read as a number"),
    "alias-mapping-with-values": ({}, "aliases: {team: {a: b}}", "OWNERS_ALIASES", "must be a list of logins"),
    "alias-defined-twice": ({}, "aliases: {Team: [a], team: [b]}", "OWNERS_ALIASES", "'team' is defined twice"),
    "alias-name-not-text": ({}, "aliases: {1: [a]}", "OWNERS_ALIASES", "alias name 1 must be text"),
    "aliases-reported-before-owners": ({"": "approver: [a]"}, "aliases: [", "OWNERS_ALIASES", "invalid YAML"),
    "first-invalid-directory-in-order": ({"z": "bad: 1", "b": "approvers: x", "a": "approvers: [ok]"}, None,
                                         "b/OWNERS", "approvers must be a list"),
}


@pytest.mark.parametrize(("files", "aliases", "path", "words"), list(ERRORS.values()), ids=list(ERRORS))
def test_invalid_files_raise_owners_error(files: dict, aliases: str | None, path: str, words: str) -> None:
    with pytest.raises(OwnersError) as caught:
        OwnersIndex.build(files, aliases)
    err = caught.value
    assert err.path == path
    assert words in err.message
    assert str(err) == f"{path}: {err.message}"


def test_owners_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^OWNERS: unknown key"):
        OwnersIndex.build({"": "nope: 1"}, None)


# -- garbage: always OwnersError, never anything else ------------------------------------------

GARBAGE = {
    "number": "3.5",
    "boolean": "true",
    "nested-junk": "{a: {b: {c: [1, {d: null}]}}}",
    "approvers-nested-junk": "approvers: [{x: [1, 2]}]",
    "impossible-date": "approvers: [2001-02-30]",
    "date-login": "approvers: [2001-02-03]",
    "bad-base64": "approvers: !!binary xx",
    "python-tag": "!!python/object/apply:os.system ['true']",
    "undefined-anchor": "approvers: *x",
    "unhashable-key": "? [a, b]\n: c",
    "nul-byte": "approvers: [a]\x00",
    "tab-indent": "approvers:\n\t- a",
    "set-tag": "approvers: !!set {a, b}",
    "options-number": "options: {no_parent_owners: 1}",
    "filters-null-pattern": "filters: {null: {approvers: [a]}}",
    "anchor-bomb": "a: &a [x, x]\nb: &b [*a, *a]\napprovers: [*b, *b]",
}


@pytest.mark.parametrize("text", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_owners_is_an_owners_error(text: str) -> None:
    with pytest.raises(OwnersError) as caught:
        OwnersIndex.build({"g": text}, None)
    assert caught.value.path == "g/OWNERS"


@pytest.mark.parametrize("text", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_aliases_is_an_owners_error(text: str) -> None:
    with pytest.raises(OwnersError) as caught:
        OwnersIndex.build({}, text)
    assert caught.value.path == "OWNERS_ALIASES"


BASES = {
    "owners": "approvers: [alice, '@Bob']\nreviewers: [carol]\noptions: {no_parent_owners: true}\nlabels: [x]\n",
    "filters": "filters:\n  '\\.go$': {approvers: [gopher], labels: [lang/go]}\n  '.*': {reviewers: [rita]}\n",
    "aliases": "aliases:\n  team: [alice, bob]\n  other: [carol]\n",
}
ALPHABET = list("[]{}:,-'\"!&*?|>#@ \n\t.\\abc01")


@pytest.mark.parametrize("slot", list(BASES))
def test_random_mutations_never_raise_anything_but_owners_error(slot: str) -> None:
    rng = random.Random(1234)  # fixed: a failure is reproducible
    outcomes = set()
    for _ in range(3000):
        chars = list(BASES[slot])
        for _ in range(rng.randint(1, 4)):
            chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
        text = "".join(chars)
        try:
            if slot == "aliases":
                OwnersIndex.build({}, text)
            else:
                OwnersIndex.build({"m": text}, None)
            outcomes.add("built")
        except OwnersError:
            outcomes.add("error")
    assert outcomes == {"built", "error"}  # the mutations exercised both outcomes
