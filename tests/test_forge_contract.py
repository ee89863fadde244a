"""One contract for both adapters, through the real SDKs against the fake forges.

Plugins rely on these semantics without knowing the forge, so both adapters must agree on them.
"""

from __future__ import annotations

import pytest

from bot.events import ItemKind, ItemRef, ReviewState
from bot.forge.base import ChangedFile, ForgeClient, ForgeError, NotFoundError, Permission
from tests.conftest import AUTHOR, COLLAB, LABELS, OTHER, OUTSIDER, REPO, make_client
from tests.fakes.base import FakeForge


@pytest.fixture
def client(fake: FakeForge) -> ForgeClient:
    return make_client(fake)


@pytest.fixture
def pull(fake: FakeForge) -> ItemRef:
    number, _ = fake.open_pull(REPO, author=AUTHOR, title="Add a widget", body="It is blue.")
    return ItemRef(REPO, number, ItemKind.PULL)


@pytest.fixture
def issue(fake: FakeForge) -> ItemRef:
    number, _ = fake.open_issue(REPO, author=AUTHOR, title="Widget broken")
    return ItemRef(REPO, number, ItemKind.ISSUE)


def test_whoami(client: ForgeClient, fake: FakeForge) -> None:
    assert client.whoami() == fake.bot_login


def test_get_pull(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    item = client.get_item(pull)
    assert item.ref == pull
    assert (item.author, item.title, item.body, item.state, item.draft) == (AUTHOR, "Add a widget", "It is blue.", "open", False)
    assert item.head_sha == fake.head_sha(REPO, pull.number)
    assert item.base_ref


def test_get_issue(client: ForgeClient, issue: ItemRef) -> None:
    item = client.get_item(issue)
    assert (item.ref, item.author, item.title, item.state) == (issue, AUTHOR, "Widget broken", "open")


def test_get_missing_item(client: ForgeClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_item(ItemRef(REPO, 999, ItemKind.PULL))


def test_missing_repository(client: ForgeClient) -> None:
    with pytest.raises(NotFoundError):
        client.repo_labels("acme/nope")


def test_repo_labels(client: ForgeClient) -> None:
    assert set(LABELS) <= client.repo_labels(REPO)


@pytest.mark.parametrize("kind", ["pull", "issue"])
def test_labels_are_idempotent(client: ForgeClient, fake: FakeForge, kind: str, request: pytest.FixtureRequest) -> None:
    ref: ItemRef = request.getfixturevalue(kind)
    client.add_labels(ref, ["lgtm", "kind/bug"])
    client.add_labels(ref, ["lgtm"])  # already there: no error
    assert fake.labels(REPO, ref.number) == {"lgtm", "kind/bug"}
    client.remove_label(ref, "lgtm")
    client.remove_label(ref, "lgtm")  # already gone: no error
    assert fake.labels(REPO, ref.number) == {"kind/bug"}
    assert client.get_item(ref).labels == frozenset({"kind/bug"})
    client.add_labels(ref, ["lgtm", "needs-docs"])
    client.remove_labels(ref, ["lgtm", "kind/bug", "lgtm"])  # "lgtm" twice, and one not there: no error
    client.remove_labels(ref, [])
    assert fake.labels(REPO, ref.number) == {"needs-docs"}


@pytest.mark.parametrize(
    "before,add,remove,after,writes",
    [
        ({"needs-docs"}, ["lgtm", "kind/bug"], [], {"needs-docs", "lgtm", "kind/bug"}, 1),  # GitHub: one POST
        ({"lgtm", "needs-docs"}, [], ["lgtm"], {"needs-docs"}, 1),  # GitHub: one DELETE
        ({"needs-docs"}, [], ["lgtm"], {"needs-docs"}, 1),
        ({"lgtm", "needs-docs"}, ["kind/bug"], ["lgtm"], {"needs-docs", "kind/bug"}, 1),  # GitHub: read, one PUT
        ({"lgtm", "needs-docs", "kind/bug"}, [], ["lgtm", "kind/bug"], {"needs-docs"}, 1),
        ({"lgtm"}, ["lgtm"], ["needs-docs"], {"lgtm"}, 1),
        ({"lgtm"}, [], ["lgtm", "kind/bug"], set(), 1),  # GitHub: PUT of no labels
        ({"lgtm"}, [], [], {"lgtm"}, 0),
    ],
    ids=["adds-only", "one-removal", "one-absent-removal", "add-and-remove", "several-removals",
         "add-present-remove-absent", "remove-the-last", "nothing"],
)
@pytest.mark.parametrize("kind", ["pull", "issue"])
def test_change_labels_in_one_write(client: ForgeClient, fake: FakeForge, kind: str, request: pytest.FixtureRequest,
                                    before: set[str], add: list[str], remove: list[str], after: set[str],
                                    writes: int) -> None:
    ref: ItemRef = request.getfixturevalue(kind)
    fake.set_labels(REPO, ref.number, before, **({"kind": ref.kind} if fake.name == "gitlab" else {}))
    seen = len(fake.requests)
    client.change_labels(ref, add, remove)
    client.change_labels(ref, add, remove)  # absolute: a repeat changes nothing
    assert fake.labels(REPO, ref.number) == after
    sent = [r for r in fake.requests[seen:] if r.method != "GET"]
    assert len(sent) == 2 * writes


def test_comments(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    fake.comment(REPO, pull.number, COLLAB, "first")
    comment_id = client.comment(pull, "status: pending")
    client.edit_comment(pull, comment_id, "status: done")
    comments = client.list_comments(pull)
    assert [(c.author, c.body) for c in comments] == [(COLLAB, "first"), (fake.bot_login, "status: done")]
    assert comments[-1].id == comment_id


def test_assignees(client: ForgeClient, fake: FakeForge, issue: ItemRef) -> None:
    assert client.add_assignees(issue, [COLLAB, OTHER]) == frozenset()
    assert fake.assignees(REPO, issue.number) == {COLLAB, OTHER}
    assert client.add_assignees(issue, [OUTSIDER, "no-such-user"]) == frozenset({OUTSIDER, "no-such-user"})
    client.remove_assignees(issue, [OTHER])
    assert fake.assignees(REPO, issue.number) == {COLLAB}
    assert client.get_item(issue).assignees == frozenset({COLLAB})


def test_review_requests(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    assert client.request_review(pull, [COLLAB, OUTSIDER]) == frozenset({OUTSIDER})
    assert fake.reviewers(REPO, pull.number) == {COLLAB}
    client.remove_review_request(pull, [COLLAB])
    assert fake.reviewers(REPO, pull.number) == set()


def test_close_and_reopen(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    client.set_open(pull, False)
    assert fake.state(REPO, pull.number) == "closed"
    assert client.get_item(pull).state == "closed"
    client.set_open(pull, True)
    assert fake.state(REPO, pull.number) == "open"


PERMISSIONS = [(COLLAB, Permission.WRITE), (AUTHOR, Permission.READ), (OUTSIDER, Permission.NONE), ("no-such-user", Permission.NONE)]


@pytest.mark.parametrize("login,level", PERMISSIONS, ids=[p[0] for p in PERMISSIONS])
def test_permission(client: ForgeClient, login: str, level: Permission) -> None:
    assert client.permission(REPO, login) == level


def test_permission_levels_round_trip(client: ForgeClient, fake: FakeForge) -> None:
    for level in (Permission.TRIAGE, Permission.MAINTAIN, Permission.ADMIN):
        fake.set_permission(REPO, "lev", level)
        assert client.permission(REPO, "lev") == level


# ---- what OWNERS support reads (issue: OWNERS and approvals) --------------------------------------


def test_branch_sha_follows_the_branch(client: ForgeClient, fake: FakeForge) -> None:
    first = fake.set_file(REPO, "OWNERS", "approvers: [carl]\n")
    assert client.branch_sha(REPO, "main") == first
    second = fake.set_file(REPO, "OWNERS", "approvers: [bob]\n")
    assert second != first and client.branch_sha(REPO, "main") == second
    with pytest.raises(NotFoundError):
        client.branch_sha(REPO, "no-such-branch")


def test_default_branch(client: ForgeClient) -> None:
    assert client.default_branch(REPO) == "main"
    with pytest.raises(NotFoundError):
        client.default_branch("acme/no-such-repo")


def test_read_file_at_a_commit(client: ForgeClient, fake: FakeForge) -> None:
    old = fake.set_file(REPO, "pkg/api/OWNERS", "approvers: [carl]\n")
    new = fake.set_file(REPO, "pkg/api/OWNERS", "approvers: [bob]\n")
    assert client.read_file(REPO, "pkg/api/OWNERS", old) == "approvers: [carl]\n"
    assert client.read_file(REPO, "pkg/api/OWNERS", new) == "approvers: [bob]\n"
    assert client.read_file(REPO, "pkg/OWNERS", new) is None
    gone = fake.set_file(REPO, "pkg/api/OWNERS", None)
    assert client.read_file(REPO, "pkg/api/OWNERS", gone) is None


def test_changed_files(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    files = [
        ChangedFile("README.md"),
        ChangedFile("pkg/api/new.go", "added"),
        ChangedFile("pkg/old.go", "removed"),
        ChangedFile("pkg/api/moved.go", "renamed", previous_path="pkg/moved.go"),
    ]
    fake.set_changed_files(REPO, pull.number, files)
    assert client.changed_files(pull) == files
    assert client.changed_files(pull).complete


@pytest.mark.parametrize("kind", ["pull", "issue"])
def test_label_added_by(client: ForgeClient, fake: FakeForge, pull: ItemRef, issue: ItemRef, kind: str) -> None:
    ref = pull if kind == "pull" else issue
    assert client.label_added_by(ref, "lgtm") is None  # never added
    client.add_labels(ref, ["lgtm"])
    assert client.label_added_by(ref, "lgtm") == fake.bot_login
    client.remove_label(ref, "lgtm")
    fake.label(REPO, ref.number, COLLAB, "lgtm", **({"kind": ref.kind} if fake.name == "gitlab" else {}))
    assert client.label_added_by(ref, "lgtm") == COLLAB  # the latest addition counts
    assert client.label_added_by(ref, "approved") is None


def test_pulls_by(client: ForgeClient, fake: FakeForge, pull: ItemRef, issue: ItemRef) -> None:
    assert client.pulls_by(REPO, AUTHOR) == [pull.number]  # the issue is no PR/MR
    assert client.pulls_by(REPO, COLLAB) == []
    second, _ = fake.open_pull(REPO, author=AUTHOR)
    third, _ = fake.open_pull(REPO, author=AUTHOR)
    assert client.pulls_by(REPO, AUTHOR) == [third, second]  # newest first, at most 2
    assert client.pulls_by(REPO, AUTHOR, limit=5) == [third, second, pull.number]


def test_reviews(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    assert client.list_reviews(pull) == []
    fake.review(REPO, pull.number, COLLAB, "approved")
    (review,) = client.list_reviews(pull)
    assert (review.author, review.state) == (COLLAB, ReviewState.APPROVED)


def test_comments_and_reviews_are_the_two_lists_together(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    fake.comment(REPO, pull.number, COLLAB, "/approve")
    before = len(fake.requests)
    assert client.comments_and_reviews(pull) == (client.list_comments(pull), [])
    # GitLab: never approved, so its notes alone tell; GitHub lists reviews apart
    assert len(fake.requests[before:]) == (1 if fake.name == "gitlab" else 2) + 1
    fake.review(REPO, pull.number, OTHER, "approved")
    comments, reviews = client.comments_and_reviews(pull)
    assert (comments, reviews) == (client.list_comments(pull), client.list_reviews(pull))
    assert [(r.author, r.state) for r in reviews] == [(OTHER, ReviewState.APPROVED)]
    if fake.name == "gitlab":  # withdrawn: the approvals are read (the notes say one happened) and are none
        fake.review(REPO, pull.number, OTHER, "unapproved")
        assert client.comments_and_reviews(pull) == (client.list_comments(pull), [])


def test_comments_are_ordered_by_time(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    fake.comment(REPO, pull.number, COLLAB, "one")
    fake.comment(REPO, pull.number, OTHER, "two")
    stamps = [c.created_at for c in client.list_comments(pull)]
    assert all(stamps) and stamps == sorted(stamps)


def add_team_member(fake: FakeForge, org: str, team: str, login: str) -> None:
    """A team: GitHub's team of the organisation; on GitLab, the subgroup org/team."""
    if fake.name == "github":
        fake.add_team(org, team, members=[login])
    else:
        fake.add_group_member(f"{org}/{team}", login)


@pytest.mark.parametrize(
    ("member", "asked", "expected"),
    [(COLLAB, COLLAB, True), (COLLAB, OTHER, False), (None, COLLAB, False)],
    ids=["a-member", "not-a-member", "no-such-team"],
)
def test_is_team_member(client: ForgeClient, fake: FakeForge, member: str | None, asked: str, expected: bool) -> None:
    if member:
        add_team_member(fake, "acme", "core", member)
    assert client.is_team_member("acme", "core", asked) is expected


@pytest.mark.parametrize(
    ("files", "same"),
    [(None, True), ({"src/a.py": "changed"}, False), ({"README.md": None}, False)],
    ids=["rebase-keeps-the-tree", "a-changed-file", "a-deleted-file"],
)
def test_same_tree(client: ForgeClient, fake: FakeForge, pull: ItemRef, files: dict | None, same: bool) -> None:
    fake.set_file(REPO, "README.md", "hello", branch=fake.head_branch(REPO, pull.number))
    before = fake.head_sha(REPO, pull.number)
    fake.push(REPO, pull.number, AUTHOR, files=files)
    after = fake.head_sha(REPO, pull.number)
    assert before != after
    assert client.same_tree(REPO, before, after) is same


def test_same_tree_of_an_unknown_commit_is_false(client: ForgeClient, fake: FakeForge, pull: ItemRef) -> None:
    head = fake.head_sha(REPO, pull.number)
    assert client.same_tree(REPO, "0" * 40, head) is False


def test_create_pull_between_branches_and_again_finds_it(client: ForgeClient, fake: FakeForge) -> None:
    fake.set_file(REPO, "notes.txt", "release\n", branch="release-1.0")
    head = fake.set_file(REPO, "fix.txt", "fix\n", branch="cherry-pick-1-to-release-1.0")
    number = client.create_pull(REPO, "cherry-pick-1-to-release-1.0", "release-1.0", "[release-1.0] Fix", "Picked.")
    item = client.get_item(ItemRef(REPO, number, ItemKind.PULL))
    assert (item.title, item.body, item.state, item.base_ref, item.head_sha) == (
        "[release-1.0] Fix", "Picked.", "open", "release-1.0", head)
    posts = sum(r.method == "POST" for r in fake.requests)
    # A retry after a lost answer: the open PR/MR from that branch is found, nothing is created.
    assert client.create_pull(REPO, "cherry-pick-1-to-release-1.0", "release-1.0", "[release-1.0] Fix", "") == number
    assert sum(r.method == "POST" for r in fake.requests) == posts


def test_create_pull_from_a_missing_branch_is_refused(client: ForgeClient) -> None:
    with pytest.raises(ForgeError):
        client.create_pull(REPO, "no-such-branch", "main", "Title", "")
