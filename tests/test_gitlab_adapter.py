"""GitLabClient through the real python-gitlab against FakeGitLab."""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from bot.events import CommentEvent, Event, ItemAction, ItemEvent, ItemKind, ItemRef, ReviewEvent, ReviewState
from bot.forge.base import (
    ChangedFile,
    Comment,
    CommitStatus,
    ForbiddenError,
    ForgeClient,
    ForgeError,
    ForgeUnavailableError,
    Hook,
    HookLevel,
    HookScope,
    InvalidRequestError,
    Mergeability,
    MergeMethod,
    MergeRefusedError,
    NotFoundError,
    Permission,
    PullState,
    RateLimitedError,
    Review,
    StatusState,
)
from bot.forge.gitlab.client import GitLabClient, _merge_verdict, _utc
from bot.forge.gitlab.translate import translate
from tests.fakes.base import Delivery, RecordedRequest
from tests.fakes.gitlab import FakeGitLab

REPO = "group/sub/project"  # nested groups: the path travels URL-encoded
ENCODED = "group%2Fsub%2Fproject"
TOKEN = "glpat-s3cr3t"


@pytest.fixture
def fake() -> Iterator[FakeGitLab]:
    with FakeGitLab(token=TOKEN) as fake:
        fake.add_repo(REPO, labels=["lgtm", "kind/bug"])
        for login in ("alice", "carol"):
            fake.set_permission(REPO, login, Permission.WRITE)
        fake.add_user("dave")  # exists, but is not a member
        yield fake


@pytest.fixture
def client(fake: FakeGitLab) -> GitLabClient:
    return GitLabClient(fake.api_url, token=TOKEN)


@pytest.fixture
def mr(fake: FakeGitLab) -> ItemRef:
    number, _ = fake.open_pull(REPO, author="bob", title="Fix it", body="Details", draft=True)
    return ItemRef(REPO, number, ItemKind.PULL)


@pytest.fixture
def issue(fake: FakeGitLab) -> ItemRef:
    number, _ = fake.open_issue(REPO, author="bob", title="Broken")
    return ItemRef(REPO, number, ItemKind.ISSUE)


def calls(fake: FakeGitLab, method: str, path_end: str) -> int:
    return sum(r.method == method and r.path.endswith(path_end) for r in fake.requests)


def test_implements_the_interface(client: GitLabClient) -> None:
    assert isinstance(client, ForgeClient)
    assert (client.name, client.capabilities.consumes_quick_actions) == ("gitlab", True)


def test_whoami_asks_the_forge_each_time(fake: FakeGitLab, client: GitLabClient) -> None:
    # The layered client caches it; readiness re-checks the credentials through the adapter.
    assert client.whoami() == client.whoami() == "prowlet-bot"
    assert calls(fake, "GET", "/user") == 2


# ---- items ---------------------------------------------------------------------------------


def test_get_merge_request(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    fake.set_labels(REPO, mr.number, ["lgtm"])
    item = client.get_item(mr)
    assert (item.ref, item.author, item.title, item.body) == (mr, "bob", "Fix it", "Details")
    assert (item.state, item.draft, item.labels) == ("open", True, {"lgtm"})
    assert (item.head_sha, item.base_ref) == (fake.head_sha(REPO, mr.number), "main")
    assert item.url == f"{fake.api_url}/{REPO}/-/merge_requests/{mr.number}"
    assert [r.path for r in fake.requests] == [f"/projects/{ENCODED}/merge_requests/{mr.number}"]


def test_merge_requests_and_issues_are_numbered_separately(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef, issue: ItemRef
) -> None:
    assert mr.number == issue.number == 1
    item = client.get_item(issue)
    assert (item.title, item.author, item.head_sha, item.base_ref) == ("Broken", "bob", None, None)
    assert item.url == f"{fake.api_url}/{REPO}/-/issues/1"
    with pytest.raises(LookupError, match="kind="):
        fake.labels(REPO, 1)


def test_missing_items_and_projects_are_not_found(client: GitLabClient) -> None:
    with pytest.raises(NotFoundError):
        client.get_item(ItemRef(REPO, 99, ItemKind.PULL))
    with pytest.raises(NotFoundError, match="Project Not Found"):
        client.get_item(ItemRef("group/nope", 1, ItemKind.PULL))


def test_projects_are_also_reachable_by_numeric_id(fake: FakeGitLab, client: GitLabClient) -> None:
    number, delivery = fake.open_pull(REPO, author="bob")
    project_id = json.loads(delivery.body)["project"]["id"]
    assert client.get_item(ItemRef(str(project_id), number, ItemKind.PULL)).author == "bob"


@pytest.mark.parametrize("kind", list(ItemKind))
def test_close_and_reopen(
    fake: FakeGitLab, client: GitLabClient, kind: ItemKind, mr: ItemRef, issue: ItemRef
) -> None:
    ref = mr if kind is ItemKind.PULL else issue
    client.set_open(ref, False)
    assert fake.state(REPO, ref.number, kind=kind) == client.get_item(ref).state == "closed"
    client.set_open(ref, True)
    assert fake.state(REPO, ref.number, kind=kind) == client.get_item(ref).state == "open"


# ---- labels --------------------------------------------------------------------------------


def test_repo_labels_include_group_labels_across_pages(fake: FakeGitLab, client: GitLabClient) -> None:
    many = [f"area/{i:03}" for i in range(150)]
    fake.add_repo("group/sub/big", labels=many)
    fake.add_group_labels("group", ["priority/high"])
    fake.add_group_labels("group/sub", ["triage/accepted"])
    fake.add_group_labels("other", ["not-inherited"])
    assert client.repo_labels("group/sub/big") == {*many, "priority/high", "triage/accepted"}
    label_requests = [r for r in fake.requests if r.path.endswith("/labels")]
    assert len(label_requests) == 2  # 152 labels, 100 per page
    # GitLab's default, but stated: group labels must never silently go missing
    assert label_requests[0].query["include_ancestor_groups"].lower() == "true"


def test_labels_are_added_and_removed_idempotently(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    client.add_labels(mr, ["lgtm", "kind/bug"])
    client.add_labels(mr, ["lgtm"])
    client.add_labels(mr, [])
    assert fake.labels(REPO, mr.number) == {"lgtm", "kind/bug"}
    client.remove_label(mr, "lgtm")
    client.remove_label(mr, "lgtm")
    client.remove_label(mr, "never-there")
    assert fake.labels(REPO, mr.number) == {"kind/bug"}
    assert calls(fake, "PUT", "/merge_requests/1") == 5  # add_labels([]) asks nothing
    # add_labels/remove_labels name only the change: no read of the current labels is needed
    assert calls(fake, "GET", "/merge_requests/1") == 0


# ---- comments ------------------------------------------------------------------------------


def test_comment_edit_and_list(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    fake.comment(REPO, mr.number, author="alice", body="/lgtm")
    comment_id = client.comment(mr, "thanks")
    client.add_labels(mr, ["lgtm"])  # GitLab records this as a system note
    client.edit_comment(mr, comment_id, "thanks!")
    assert fake.comments(REPO, mr.number) == [("alice", "/lgtm"), ("prowlet-bot", "thanks!")]
    assert fake.system_notes(REPO, mr.number)  # present, and filtered out below
    comments = client.list_comments(mr)
    assert [(c.author, c.body) for c in comments] == fake.comments(REPO, mr.number)
    assert comments[1] == Comment(comment_id, "prowlet-bot", "thanks!", comments[1].created_at)
    assert comments[0].created_at < comments[1].created_at


def test_comments_on_issues(fake: FakeGitLab, client: GitLabClient, mr: ItemRef, issue: ItemRef) -> None:
    client.comment(issue, "on the issue")
    assert fake.comments(REPO, issue.number, kind=ItemKind.ISSUE) == [("prowlet-bot", "on the issue")]
    assert fake.comments(REPO, mr.number, kind=ItemKind.PULL) == []
    assert [c.body for c in client.list_comments(issue)] == ["on the issue"]


def test_list_comments_reads_all_pages_oldest_first(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    for i in range(130):
        fake.comment(REPO, mr.number, author="alice", body=f"note {i}")
    fake.push(REPO, mr.number, pusher="bob")  # a system note on the last page
    assert [c.body for c in client.list_comments(mr)] == [f"note {i}" for i in range(130)]
    assert calls(fake, "GET", "/notes") == 2


def test_comments_carry_their_creation_time_in_utc(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    for i in range(5):
        fake.comment(REPO, mr.number, author="alice", body=f"note {i}")
        fake.push(REPO, mr.number, pusher="bob")  # system notes in between take time too
    client.comment(mr, "last")
    stamps = [c.created_at for c in client.list_comments(mr)]
    assert len(stamps) == 6
    # GitLab sends "2026-01-01T00:00:03.000Z"; the neutral form is to the second, in UTC
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp) for stamp in stamps)
    assert stamps == sorted(set(stamps))  # the fake's clock ticks a second per event


@pytest.mark.parametrize(
    ("gitlab", "neutral"),
    [
        ("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00Z"),
        ("2026-03-04T05:06:07.891Z", "2026-03-04T05:06:07Z"),
        ("2026-01-01T02:30:00.000+02:00", "2026-01-01T00:30:00Z"),  # an instance in another zone
        ("2025-12-31T20:00:00.000-05:00", "2026-01-01T01:00:00Z"),
        ("", ""),
        (None, ""),
    ],
)
def test_gitlab_times_become_utc_to_the_second(gitlab: str | None, neutral: str) -> None:
    assert _utc(gitlab) == neutral


def test_editing_another_items_comment_is_not_found(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef, issue: ItemRef
) -> None:
    comment_id = client.comment(issue, "mine")
    with pytest.raises(NotFoundError):
        client.edit_comment(mr, comment_id, "changed")


# ---- assignees and reviewers ---------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ItemKind))
def test_assignees(
    fake: FakeGitLab, client: GitLabClient, kind: ItemKind, mr: ItemRef, issue: ItemRef
) -> None:
    ref = mr if kind is ItemKind.PULL else issue
    # ghost does not exist; dave is no member, so GitLab drops him silently
    assert client.add_assignees(ref, ["Alice", "ghost", "dave"]) == {"ghost", "dave"}
    assert client.add_assignees(ref, ["carol"]) == frozenset()
    assert fake.assignees(REPO, ref.number, kind=kind) == {"alice", "carol"}
    assert client.get_item(ref).assignees == {"alice", "carol"}
    client.remove_assignees(ref, ["ALICE", "ghost"])
    assert fake.assignees(REPO, ref.number, kind=kind) == {"carol"}


def test_assigning_is_cheap_when_nothing_changes(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    client.add_assignees(mr, ["alice"])
    puts = calls(fake, "PUT", "/merge_requests/1")
    assert client.add_assignees(mr, ["alice"]) == frozenset()
    client.remove_assignees(mr, ["carol"])
    assert calls(fake, "PUT", "/merge_requests/1") == puts
    client.permission(REPO, "alice")
    assert calls(fake, "GET", "/users") == 1  # usernames are resolved once


def test_review_requests(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    assert client.request_review(mr, ["alice", "carol", "dave"]) == {"dave"}
    assert fake.reviewers(REPO, mr.number) == {"alice", "carol"}
    client.remove_review_request(mr, ["carol"])
    assert fake.reviewers(REPO, mr.number) == {"alice"}


def test_issues_have_no_reviewers(fake: FakeGitLab, client: GitLabClient, issue: ItemRef) -> None:
    with pytest.raises(InvalidRequestError):
        client.request_review(issue, ["alice"])
    with pytest.raises(InvalidRequestError):
        client.remove_review_request(issue, ["alice"])
    assert fake.requests == []


# ---- permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", [p for p in Permission if p is not Permission.NONE])
def test_permission_levels(fake: FakeGitLab, client: GitLabClient, level: Permission) -> None:
    fake.set_permission(REPO, "erin", level)
    assert client.permission(REPO, "erin") is level


def test_non_members_and_unknown_users_have_no_permission(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.set_permission(REPO, "alice", Permission.NONE)
    assert client.permission(REPO, "alice") is Permission.NONE
    assert client.permission(REPO, "dave") is Permission.NONE
    assert client.permission(REPO, "ghost") is Permission.NONE
    assert sum("/members/all/" in r.path for r in fake.requests) == 2  # ghost has no id to ask about


# ---- branches and files -------------------------------------------------------------------


def test_branch_sha(fake: FakeGitLab, client: GitLabClient) -> None:
    assert client.branch_sha(REPO, "main") == fake.branch_head(REPO)  # the initial empty commit
    sha = fake.set_file(REPO, "OWNERS", "approvers: [alice]\n")
    assert len(sha) == 40 and int(sha, 16) >= 0
    assert client.branch_sha(REPO, "main") == sha


def test_branch_names_with_slashes_travel_encoded_in_one_request(
    fake: FakeGitLab, client: GitLabClient
) -> None:
    main = fake.branch_head(REPO)
    sha = fake.set_file(REPO, "notes.md", "1.0\n", branch="release/1.0")
    assert client.branch_sha(REPO, "release/1.0") == sha != main
    assert client.branch_sha(REPO, "main") == main  # a new branch is committed to, not main
    branch_path = f"/projects/{ENCODED}/repository/branches/release%2F1.0"
    assert fake.requests[0] == RecordedRequest("GET", branch_path)
    assert len(fake.requests) == 2


def test_a_missing_branch_or_project_is_not_found(fake: FakeGitLab, client: GitLabClient) -> None:
    with pytest.raises(NotFoundError, match="Branch Not Found"):
        client.branch_sha(REPO, "no/such-branch")
    with pytest.raises(NotFoundError, match="Project Not Found"):
        client.branch_sha("group/nope", "main")
    assert len(fake.requests) == 2  # a 404 is not retried


def test_read_file_at_old_and_new_commits(fake: FakeGitLab, client: GitLabClient) -> None:
    old = fake.set_file(REPO, "pkg/OWNERS", "approvers: [alice]\n")
    new = fake.set_file(REPO, "pkg/OWNERS", "approvers: [carol]\n")
    gone = fake.set_file(REPO, "pkg/OWNERS", None)
    assert client.read_file(REPO, "pkg/OWNERS", old) == "approvers: [alice]\n"
    assert client.read_file(REPO, "pkg/OWNERS", new) == "approvers: [carol]\n"
    assert client.read_file(REPO, "pkg/OWNERS", gone) is None
    assert fake.requests[0] == RecordedRequest(
        "GET", f"/projects/{ENCODED}/repository/files/pkg%2FOWNERS/raw", {"ref": old}
    )
    assert len(fake.requests) == 3  # one request per read, a missing file included


def test_a_missing_file_is_none(fake: FakeGitLab, client: GitLabClient) -> None:
    sha = fake.set_file(REPO, "OWNERS", "approvers: [alice]\n")
    assert client.read_file(REPO, "docs/OWNERS", sha) is None
    assert client.read_file(REPO, "OWNERS", sha) == "approvers: [alice]\n"
    fake.add_repo("group/empty")  # only the initial empty commit
    assert client.read_file("group/empty", "OWNERS", client.branch_sha("group/empty", "main")) is None


def test_an_unknown_commit_or_project_is_not_a_missing_file(fake: FakeGitLab, client: GitLabClient) -> None:
    # Only GitLab's "404 File Not Found" means "no such file": a wrong sha or project must not
    # read as "no OWNERS here".
    fake.set_file(REPO, "OWNERS", "x\n")
    with pytest.raises(NotFoundError, match="Commit Not Found"):
        client.read_file(REPO, "OWNERS", "0" * 40)
    with pytest.raises(NotFoundError, match="Project Not Found"):
        client.read_file("group/nope", "OWNERS", fake.branch_head(REPO))


@pytest.mark.parametrize(
    "path",
    [
        "a/b/c/d/e/OWNERS",
        "docs/with space/OWNERS",
        "we#ird/q?uery&x=1/OWNERS",
        "plus+sign/100%/OWNERS",
        "ünïcødé/日本語/OWNERS",
        ".hidden/..dots../OWNERS",
    ],
)
def test_paths_are_url_encoded_whole(fake: FakeGitLab, client: GitLabClient, path: str) -> None:
    sha = fake.set_file(REPO, path, "approvers: [alice] ✓\n")
    assert client.read_file(REPO, path, sha) == "approvers: [alice] ✓\n"
    (request,) = fake.requests
    assert request.path == f"/projects/{ENCODED}/repository/files/{quote(path, safe='')}/raw"


def test_files_and_branches_in_deeply_nested_groups(fake: FakeGitLab, client: GitLabClient) -> None:
    repo = "top/middle/lower/leaf.project"
    fake.add_repo(repo)
    sha = fake.set_file(repo, "src/OWNERS", "reviewers: [carol]\n", branch="feature/x")
    assert client.branch_sha(repo, "feature/x") == sha
    assert client.read_file(repo, "src/OWNERS", sha) == "reviewers: [carol]\n"
    assert client.read_file(REPO, "src/OWNERS", fake.branch_head(REPO)) is None  # another project
    encoded = "top%2Fmiddle%2Flower%2Fleaf.project"
    assert fake.requests[0].path == f"/projects/{encoded}/repository/branches/feature%2Fx"


def test_a_merge_requests_head_is_a_commit_of_its_source_branch(
    fake: FakeGitLab, client: GitLabClient
) -> None:
    fake.set_file(REPO, "OWNERS", "approvers: [alice]\n")
    number, _ = fake.open_pull(REPO, author="bob")
    ref = ItemRef(REPO, number, ItemKind.PULL)
    head = client.get_item(ref).head_sha
    assert head is not None and client.branch_sha(REPO, f"topic-{number}") == head
    assert client.read_file(REPO, "OWNERS", head) == "approvers: [alice]\n"  # branched from main
    moved = fake.set_file(REPO, "OWNERS", "approvers: [carol]\n", branch=f"topic-{number}")
    assert fake.head_sha(REPO, number) == client.get_item(ref).head_sha == moved
    assert client.read_file(REPO, "OWNERS", moved) == "approvers: [carol]\n"
    assert client.read_file(REPO, "OWNERS", client.branch_sha(REPO, "main")) == "approvers: [alice]\n"
    fake.push(REPO, number, pusher="bob")
    pushed = fake.head_sha(REPO, number)
    assert pushed != moved and client.read_file(REPO, "OWNERS", pushed) == "approvers: [carol]\n"


def test_file_read_errors_are_no_none(fake: FakeGitLab, client: GitLabClient) -> None:
    sha = fake.set_file(REPO, "OWNERS", "x\n")
    fake.fail_next("GET", "/raw$", 502)  # unavailable, not missing (the retry layer repeats it)
    with pytest.raises(ForgeUnavailableError):
        client.read_file(REPO, "OWNERS", sha)
    assert client.read_file(REPO, "OWNERS", sha) == "x\n"
    fake.fail_next("GET", "/raw$", 403)
    with pytest.raises(ForbiddenError):
        client.read_file(REPO, "OWNERS", sha)
    fake.fail_next("GET", "/repository/branches/", 503, times=10)
    with pytest.raises(ForgeUnavailableError):
        client.branch_sha(REPO, "main")


# ---- changed files and approvals -----------------------------------------------------------


def many_changes(count: int) -> list[ChangedFile]:
    kinds = [
        lambda i: ChangedFile(f"pkg/{i:03}/new.go", "added"),
        lambda i: ChangedFile(f"pkg/{i:03}/gone.go", "removed"),
        lambda i: ChangedFile(f"pkg/{i:03}/moved.go", "renamed", previous_path=f"old/{i:03}/moved.go"),
        lambda i: ChangedFile(f"pkg/{i:03}/edited.go"),
    ]
    return [kinds[i % 4](i) for i in range(count)]


def test_changed_files_across_pages(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    files = many_changes(250)
    fake.set_changed_files(REPO, mr.number, files)
    assert client.changed_files(mr) == files  # GitLab's order, renames with both paths
    diff_requests = [r for r in fake.requests if r.path.endswith("/diffs")]
    assert [r.path for r in diff_requests] == [f"/projects/{ENCODED}/merge_requests/{mr.number}/diffs"] * 3
    assert diff_requests[0].query["per_page"] == "100"
    # and the MR itself, whose changes_count says whether GitLab listed every file
    assert [r.path for r in fake.requests[3:]] == [f"/projects/{ENCODED}/merge_requests/{mr.number}"]


@pytest.mark.parametrize(
    ("count", "complete", "total"),
    [(5, True, "5"), (6, True, "6"), (7, False, "6+")],
    ids=["under-diff-max-files", "exactly-diff-max-files", "overflowed-says-changes-count-6+"],
)
def test_changed_files_know_when_gitlab_stopped_listing(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef, count: int, complete: bool, total: str
) -> None:
    fake.diff_max_files = 6
    fake.set_changed_files(REPO, mr.number, [ChangedFile(f"f/{i}") for i in range(count)])
    files = client.changed_files(mr)
    assert len(files) == min(count, 6)
    assert files.complete is complete and files.total == total


def test_changed_files_given_when_opening(fake: FakeGitLab, client: GitLabClient) -> None:
    files = [ChangedFile("README.md"), ChangedFile("b/OWNERS", "renamed", previous_path="a/OWNERS")]
    number, _ = fake.open_pull(REPO, author="bob", files=files)
    assert client.changed_files(ItemRef(REPO, number, ItemKind.PULL)) == files
    assert client.get_item(ItemRef(REPO, number, ItemKind.PULL)).title == "A change"


def test_changed_files_of_an_empty_missing_or_non_merge_request(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef, issue: ItemRef
) -> None:
    assert client.changed_files(mr) == []
    with pytest.raises(NotFoundError):
        client.changed_files(ItemRef(REPO, 99, ItemKind.PULL))
    requests = len(fake.requests)
    with pytest.raises(InvalidRequestError, match="changed files"):
        client.changed_files(issue)
    assert len(fake.requests) == requests


def test_the_fake_refuses_impossible_changes(fake: FakeGitLab, mr: ItemRef) -> None:
    with pytest.raises(ValueError, match="status"):
        fake.set_changed_files(REPO, mr.number, [ChangedFile("a", "copied")])
    with pytest.raises(ValueError, match="previous_path"):
        fake.set_changed_files(REPO, mr.number, [ChangedFile("a", "renamed")])
    with pytest.raises(ValueError, match="previous_path"):
        fake.set_changed_files(REPO, mr.number, [ChangedFile("a", "modified", previous_path="b")])


def test_reviews_are_the_current_approvals(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    assert client.list_reviews(mr) == []
    fake.review(REPO, mr.number, "alice", "approved")
    fake.review(REPO, mr.number, "carol", "approved")
    fake.review(REPO, mr.number, "carol", "approved")  # approving twice changes nothing
    assert client.list_reviews(mr) == [
        Review("alice", ReviewState.APPROVED, submitted_at=""),  # GitLab says not when
        Review("carol", ReviewState.APPROVED, submitted_at=""),
    ]
    fake.review(REPO, mr.number, "alice", "unapproved")
    fake.review(REPO, mr.number, "dave", "unapproved")  # never approved: nothing to withdraw
    assert client.list_reviews(mr) == [Review("carol", ReviewState.APPROVED)]
    assert fake.approvers(REPO, mr.number) == ["carol"]
    fake.push(REPO, mr.number, pusher="bob")  # GitLab Free keeps approvals on push
    assert client.list_reviews(mr) == [Review("carol", ReviewState.APPROVED)]
    approvals_path = f"/projects/{ENCODED}/merge_requests/{mr.number}/approvals"
    assert [r.path for r in fake.requests] == [approvals_path] * 4


def test_reviews_of_a_missing_or_non_merge_request(
    fake: FakeGitLab, client: GitLabClient, issue: ItemRef
) -> None:
    with pytest.raises(NotFoundError):
        client.list_reviews(ItemRef(REPO, 99, ItemKind.PULL))
    with pytest.raises(InvalidRequestError):
        client.list_reviews(issue)
    assert len(fake.requests) == 1


# ---- commit statuses -----------------------------------------------------------------------


def test_statuses_are_posted_and_listed(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    sha = fake.head_sha(REPO, mr.number)
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.PENDING, "Running", "https://ci/1"))
    client.set_status(REPO, sha, CommitStatus("lint", StatusState.FAILURE, "2 errors", "https://ci/2"))
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS, "All passed", "https://ci/1"))
    assert fake.statuses(REPO, sha) == [
        ("unit", "pending", "Running", "https://ci/1"),
        ("lint", "failed", "2 errors", "https://ci/2"),
        ("unit", "success", "All passed", "https://ci/1"),
    ]
    assert [r.path for r in fake.requests] == [f"/projects/{ENCODED}/statuses/{sha}"] * 3
    assert sorted(client.list_statuses(REPO, sha), key=lambda s: s.context) == [
        CommitStatus("lint", StatusState.FAILURE, "2 errors", "https://ci/2"),
        CommitStatus("unit", StatusState.SUCCESS, "All passed", "https://ci/1"),
    ]
    listing = fake.requests[-1]
    assert listing.path == f"/projects/{ENCODED}/repository/commits/{sha}/statuses"
    assert listing.query["all"].lower() == "true"


@pytest.mark.parametrize(
    ("state", "description", "stored"),
    [
        (StatusState.PENDING, "queued", ("pending", "queued")),
        (StatusState.SUCCESS, "ok", ("success", "ok")),
        (StatusState.FAILURE, "broke", ("failed", "broke")),
        # GitLab has no "error": failed, marked in the description, and read back as ERROR
        (StatusState.ERROR, "no runner", ("failed", "error: no runner")),
        (StatusState.ERROR, "", ("failed", "error")),
    ],
)
def test_every_state_round_trips(
    fake: FakeGitLab, client: GitLabClient, state: StatusState, description: str, stored: tuple[str, str]
) -> None:
    sha = fake.branch_head(REPO)
    client.set_status(REPO, sha, CommitStatus("e2e", state, description))
    assert fake.statuses(REPO, sha) == [("e2e", *stored, None)]
    assert client.list_statuses(REPO, sha) == [CommitStatus("e2e", state, description, None)]


def test_a_failure_described_as_an_error_elsewhere_is_still_a_failure(
    fake: FakeGitLab, client: GitLabClient
) -> None:
    sha = fake.branch_head(REPO)
    fake.add_status(REPO, sha, "other-ci", "failed", description="errors: 3")
    assert client.list_statuses(REPO, sha) == [CommitStatus("other-ci", StatusState.FAILURE, "errors: 3")]


def test_posting_pending_again_replaces_the_pending_status(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    # GitLab answers 400 "Cannot transition status via :enqueue from :pending" and cannot change a
    # pending status; the adapter finishes it (canceled) and posts the new one.
    sha = fake.head_sha(REPO, mr.number)
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.PENDING, "queued", "https://ci/1"))
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.PENDING, "started", "https://ci/2"))
    assert fake.statuses(REPO, sha) == [
        ("unit", "pending", "queued", "https://ci/1"),
        ("unit", "canceled", "Superseded.", "https://ci/1"),
        ("unit", "pending", "started", "https://ci/2"),
    ]
    assert calls(fake, "POST", f"/statuses/{sha}") == 4  # the refused one, cancel, the new one
    assert client.list_statuses(REPO, sha) == [CommitStatus("unit", StatusState.PENDING, "started", "https://ci/2")]
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS, "done"))
    assert client.list_statuses(REPO, sha) == [CommitStatus("unit", StatusState.SUCCESS, "done", "https://ci/2")]


def test_other_refused_transitions_are_errors(fake: FakeGitLab, client: GitLabClient) -> None:
    sha = fake.branch_head(REPO)
    message = (
        'Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")'
    )
    fake.fail_next("POST", "/statuses/", 400, message=message)
    with pytest.raises(InvalidRequestError, match="via :run from :running"):
        client.set_status(REPO, sha, CommitStatus("unit", StatusState.PENDING))
    assert fake.statuses(REPO, sha) == []


def test_descriptions_are_cut_to_140(fake: FakeGitLab, client: GitLabClient) -> None:
    sha = fake.branch_head(REPO)
    long = "x" * 300  # GitLab itself refuses more than 255
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.FAILURE, long))
    client.set_status(REPO, sha, CommitStatus("e2e", StatusState.ERROR, long))
    assert [entry[2] for entry in fake.statuses(REPO, sha)] == ["x" * 140, "error: " + "x" * 140]
    assert {s.description for s in client.list_statuses(REPO, sha)} == {"x" * 140}


@pytest.mark.parametrize(
    ("gitlab", "state", "description"),
    [
        ("created", StatusState.PENDING, "created"),
        ("waiting_for_resource", StatusState.PENDING, "waiting_for_resource"),
        ("preparing", StatusState.PENDING, "preparing"),
        ("pending", StatusState.PENDING, ""),
        ("running", StatusState.PENDING, "running"),
        ("scheduled", StatusState.PENDING, "scheduled"),
        ("manual", StatusState.PENDING, "manual"),
        ("success", StatusState.SUCCESS, ""),
        ("skipped", StatusState.SUCCESS, "skipped"),
        ("failed", StatusState.FAILURE, ""),
        ("canceled", StatusState.ERROR, "canceled"),
        ("something_new", StatusState.PENDING, "something_new"),  # never mistaken for a verdict
    ],
)
def test_gitlab_states_as_neutral_states(
    fake: FakeGitLab, client: GitLabClient, gitlab: str, state: StatusState, description: str
) -> None:
    sha = fake.branch_head(REPO)
    fake.add_status(REPO, sha, "rspec", gitlab, target_url="https://gl/-/jobs/1")
    fake.add_status(REPO, sha, "described", gitlab, description="own words")
    assert sorted(client.list_statuses(REPO, sha), key=lambda s: s.context) == [
        CommitStatus("described", state, "own words"),
        CommitStatus("rspec", state, description, "https://gl/-/jobs/1"),
    ]


def test_list_statuses_reads_all_pages_and_keeps_the_latest_per_name(
    fake: FakeGitLab, client: GitLabClient
) -> None:
    sha = fake.branch_head(REPO)
    for i in range(150):  # oldest first: the last of each name is the latest
        fake.add_status(REPO, sha, f"job-{i % 3}", "failed" if i < 147 else "success", description=f"run {i}")
    fake.add_status(REPO, fake.set_file(REPO, "a", "b"), "job-0", "failed")  # another commit
    assert sorted(client.list_statuses(REPO, sha), key=lambda s: s.context) == [
        CommitStatus(f"job-{i}", StatusState.SUCCESS, f"run {147 + i}") for i in range(3)
    ]
    assert calls(fake, "GET", "/statuses") == 2


def test_statuses_of_an_unknown_commit_are_not_found(fake: FakeGitLab, client: GitLabClient) -> None:
    with pytest.raises(NotFoundError, match="Commit Not Found"):
        client.set_status(REPO, "0" * 40, CommitStatus("unit", StatusState.SUCCESS))
    with pytest.raises(NotFoundError, match="Commit Not Found"):
        client.list_statuses(REPO, "0" * 40)
    with pytest.raises(NotFoundError, match="Project Not Found"):
        client.list_statuses("group/nope", fake.branch_head(REPO))


def test_a_failed_status_post_is_one_request(fake: FakeGitLab, client: GitLabClient) -> None:
    # A repeated status is harmless, but repeating is the retry layer's to do (policy WRITE)
    sha = fake.branch_head(REPO)
    fake.fail_next("POST", "/statuses/", 502)
    with pytest.raises(ForgeUnavailableError):
        client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS, "ok"))
    assert calls(fake, "POST", f"/statuses/{sha}") == 1
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS, "ok"))
    assert fake.statuses(REPO, sha) == [("unit", "success", "ok", None)]


# ---- group membership ----------------------------------------------------------------------


def test_group_members_are_org_members(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.add_group_member("group", "alice", level=10)  # Guest is a member too
    assert client.is_org_member("group", "Alice") is True
    assert client.is_org_member("group", "carol") is False  # a project member only
    assert client.is_org_member("group", "ghost") is False  # no such user
    alice_id = next(r.path for r in fake.requests if "/members/all/" in r.path).rsplit("/", 1)[1]
    assert fake.requests[1].path == f"/groups/group/members/all/{alice_id}"
    assert sum("/members/all/" in r.path for r in fake.requests) == 2  # ghost has no id to ask about


def test_membership_of_a_parent_group_counts_in_its_subgroups(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.add_group_member("group", "alice")
    fake.add_group_member("group/sub", "carol")
    assert client.is_org_member("group/sub", "alice") is True
    assert client.is_org_member("group", "carol") is False
    assert fake.requests[-1].path.startswith("/groups/group/members/all/")
    assert any(r.path.startswith("/groups/group%2Fsub/members/all/") for r in fake.requests)


def test_a_user_namespace_or_unknown_group_has_no_members(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.add_repo("dave/tools")  # dave's own namespace
    assert client.is_org_member("dave", "dave") is False
    assert client.is_org_member("no-such-group", "alice") is False
    assert [r.path.split("/members")[0] for r in fake.requests if "/members/" in r.path] == [
        "/groups/dave",
        "/groups/no-such-group",
    ]


def test_membership_errors_are_not_a_no(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.add_group_member("group", "alice")
    fake.fail_next("GET", "/members/all/", 403)
    with pytest.raises(ForbiddenError):
        client.is_org_member("group", "alice")


# ---- git source ----------------------------------------------------------------------------


def test_git_source_of_a_merge_request_in_a_nested_group(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    source = client.git_source(mr)
    assert source.url == f"{fake.api_url}/group/sub/project.git"
    assert source.ref == f"refs/merge-requests/{mr.number}/head"
    scheme, _, encoded = source.header.partition(" Basic ")
    assert scheme == "Authorization:"
    assert base64.b64decode(encoded).decode() == f"oauth2:{TOKEN}"
    assert TOKEN not in source.header and encoded not in repr(source)
    assert fake.requests == []  # built from what the client knows


def test_git_source_of_an_instance_under_a_path(mr: ItemRef) -> None:
    source = GitLabClient("https://example.com/gitlab/", token=TOKEN).git_source(mr)
    assert source.url == "https://example.com/gitlab/group/sub/project.git"


def test_issues_have_no_git_source(fake: FakeGitLab, client: GitLabClient, issue: ItemRef) -> None:
    with pytest.raises(InvalidRequestError):
        client.git_source(issue)


# ---- merging -------------------------------------------------------------------------------


def requests_since(fake: FakeGitLab, start: int) -> list[RecordedRequest]:
    return fake.requests[start:]


def test_list_open_pulls_reads_every_page_of_open_merge_requests(fake: FakeGitLab, client: GitLabClient) -> None:
    numbers = [fake.open_pull(REPO, author="bob", title=f"Change {i}")[0] for i in range(152)]
    closed, merged = ItemRef(REPO, numbers[0], ItemKind.PULL), ItemRef(REPO, numbers[1], ItemKind.PULL)
    client.set_open(closed, False)
    client.merge(merged, fake.head_sha(REPO, merged.number), MergeMethod.MERGE)
    start = len(fake.requests)
    pulls = client.list_open_pulls(REPO)
    assert [p.item.ref.number for p in pulls] == numbers[2:]  # 150, oldest first
    assert {p.mergeable for p in pulls} == {Mergeability.CLEAN}
    listed = requests_since(fake, start)
    assert len(listed) == 2  # 100 a page
    assert all(r.path == f"/projects/{ENCODED}/merge_requests" for r in listed)
    assert listed[0].query["state"] == "opened"
    assert listed[0].query["with_merge_status_recheck"] == "true"  # stale merge statuses: rechecked


def test_list_open_pulls_fills_in_each_item_from_the_list(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    fake.set_labels(REPO, mr.number, ["lgtm", "kind/bug"])
    client.add_assignees(mr, ["alice"])
    start = len(fake.requests)
    [pull] = client.list_open_pulls(REPO)
    assert len(requests_since(fake, start)) == 1
    assert pull == PullState(client.get_item(mr), Mergeability.BLOCKED, "draft_status")  # the same Item
    item = pull.item
    assert (item.ref, item.author, item.title, item.body, item.state) == (mr, "bob", "Fix it", "Details", "open")
    assert (item.draft, item.labels, item.assignees) == (True, {"lgtm", "kind/bug"}, {"alice"})
    assert (item.head_sha, item.base_ref) == (fake.head_sha(REPO, mr.number), "main")
    assert item.url == f"{fake.api_url}/{REPO}/-/merge_requests/{mr.number}"


def test_a_project_without_open_merge_requests(fake: FakeGitLab, client: GitLabClient, issue: ItemRef) -> None:
    assert client.list_open_pulls(REPO) == []
    with pytest.raises(NotFoundError):
        client.list_open_pulls("group/nope")


# GitLab's detailed_merge_status values and the verdict each is.
DETAILED = [
    ("mergeable", Mergeability.CLEAN, ""),
    ("conflict", Mergeability.CONFLICT, "conflict"),
    ("need_rebase", Mergeability.BLOCKED, "need_rebase"),
    ("checking", Mergeability.UNKNOWN, ""),
    ("unchecked", Mergeability.UNKNOWN, ""),
    ("preparing", Mergeability.UNKNOWN, ""),
    ("approvals_syncing", Mergeability.UNKNOWN, ""),
    # prowlet judges CI itself, and its own pending status is part of the MR pipeline
    ("ci_must_pass", Mergeability.UNKNOWN, ""),
    ("ci_still_running", Mergeability.UNKNOWN, ""),
    *(
        (status, Mergeability.BLOCKED, status)
        for status in (
            "discussions_not_resolved",
            "not_approved",
            "blocked_status",
            "requested_changes",
            "jira_association_missing",
            "external_status_checks",
            "locked_paths",
            "locked_lfs_files",
            "merge_request_blocked",
            "security_policy_violations",
            "title_regex",
            "commits_status",
            "status_checks_must_pass",
        )
    ),
]


@pytest.mark.parametrize(("status", "verdict", "reason"), DETAILED, ids=[d[0] for d in DETAILED])
def test_detailed_merge_status_as_a_verdict(
    fake: FakeGitLab, client: GitLabClient, status: str, verdict: Mergeability, reason: str
) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    fake.set_mergeable(REPO, number, status)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    start = len(fake.requests)
    state = client.mergeability(ref)
    assert [(r.method, r.path) for r in requests_since(fake, start)] == [
        ("GET", f"/projects/{ENCODED}/merge_requests/{number}")
    ]
    assert (state.mergeable, state.reason) == (verdict, reason)
    assert state.item == client.get_item(ref)
    [listed] = client.list_open_pulls(REPO)
    assert (listed.mergeable, listed.reason) == (verdict, reason)


def test_statuses_gitlab_has_not_named_yet_are_blocked() -> None:
    assert _merge_verdict({"detailed_merge_status": "merge_time", "merge_status": "can_be_merged"}) == (
        Mergeability.BLOCKED,
        "merge_time",
    )
    assert _merge_verdict({"detailed_merge_status": "brand_new_check"}) == (Mergeability.BLOCKED, "brand_new_check")


def test_closed_and_merged_merge_requests_are_not_open(fake: FakeGitLab, client: GitLabClient) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    ref = ItemRef(REPO, number, ItemKind.PULL)
    client.set_open(ref, False)
    state = client.mergeability(ref)
    assert (state.item.state, state.mergeable, state.reason) == ("closed", Mergeability.BLOCKED, "not_open")


# GitLab before 15.6: merge_status only, which knows conflicts and nothing else.
LEGACY = [
    ("mergeable", Mergeability.CLEAN, ""),
    ("conflict", Mergeability.CONFLICT, "cannot_be_merged"),
    ("checking", Mergeability.UNKNOWN, ""),
    ("unchecked", Mergeability.UNKNOWN, ""),
    ("ci_must_pass", Mergeability.CLEAN, ""),  # merge_status cannot tell: merge() finds out
]


@pytest.mark.parametrize(("status", "verdict", "reason"), LEGACY, ids=[d[0] for d in LEGACY])
def test_merge_status_is_the_fallback_on_older_gitlab(status: str, verdict: Mergeability, reason: str) -> None:
    with FakeGitLab(token=TOKEN, detailed_merge_status=False) as fake:
        fake.add_repo(REPO)
        number, _ = fake.open_pull(REPO, author="bob")
        fake.set_mergeable(REPO, number, status)
        client = GitLabClient(fake.api_url, token=TOKEN)
        state = client.mergeability(ItemRef(REPO, number, ItemKind.PULL))
        assert (state.mergeable, state.reason) == (verdict, reason)
        [listed] = client.list_open_pulls(REPO)
        assert (listed.mergeable, listed.reason) == (verdict, reason)


@pytest.mark.parametrize(
    ("merge_status", "verdict"),
    [
        ("can_be_merged", Mergeability.CLEAN),
        ("cannot_be_merged", Mergeability.CONFLICT),
        ("cannot_be_merged_recheck", Mergeability.UNKNOWN),
        ("unchecked", Mergeability.UNKNOWN),
        ("checking", Mergeability.UNKNOWN),
        (None, Mergeability.UNKNOWN),
    ],
)
def test_legacy_merge_status_values(merge_status: str | None, verdict: Mergeability) -> None:
    assert _merge_verdict({"merge_status": merge_status})[0] is verdict
    assert _merge_verdict({"merge_status": merge_status, "detailed_merge_status": None})[0] is verdict


@pytest.mark.parametrize(
    ("method", "squash"), [(MergeMethod.MERGE, False), (MergeMethod.SQUASH, True), (MergeMethod.REBASE, False)]
)
def test_merge(fake: FakeGitLab, client: GitLabClient, method: MergeMethod, squash: bool) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    head = fake.set_file(REPO, "src/widget.py", "blue\n", branch=fake.head_branch(REPO, number))
    ref = ItemRef(REPO, number, ItemKind.PULL)
    start = len(fake.requests)
    client.merge(ref, head, method)
    assert [(r.method, r.path) for r in requests_since(fake, start)] == [
        ("PUT", f"/projects/{ENCODED}/merge_requests/{number}/merge")
    ]
    assert fake.merges(REPO) == [(number, head, squash)]
    assert fake.state(REPO, number) == "merged"
    assert client.read_file(REPO, "src/widget.py", fake.branch_head(REPO)) == "blue\n"
    assert client.mergeability(ref).item.state == "merged"


def test_merging_at_a_stale_sha_is_refused(fake: FakeGitLab, client: GitLabClient) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    stale = fake.head_sha(REPO, number)
    fake.push(REPO, number, "bob")
    with pytest.raises(MergeRefusedError, match=f"409 SHA does not match HEAD of source branch: {fake.head_sha(REPO, number)}"):
        client.merge(ItemRef(REPO, number, ItemKind.PULL), stale, MergeMethod.MERGE)
    assert (fake.state(REPO, number), fake.merges(REPO)) == ("open", [])


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("conflict", "406 Branch cannot be merged"),
        ("ci_must_pass", "405 405 Method Not Allowed"),
        ("discussions_not_resolved", "405 405 Method Not Allowed"),
        ("checking", "405 405 Method Not Allowed"),
    ],
)
def test_merging_an_unmergeable_merge_request_is_refused(
    fake: FakeGitLab, client: GitLabClient, status: str, message: str
) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    fake.set_mergeable(REPO, number, status)
    with pytest.raises(MergeRefusedError, match=message):
        client.merge(ItemRef(REPO, number, ItemKind.PULL), fake.head_sha(REPO, number), MergeMethod.MERGE)
    assert (fake.state(REPO, number), fake.merges(REPO)) == ("open", [])


def test_drafts_and_closed_merge_requests_are_not_merged(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    with pytest.raises(MergeRefusedError, match="405"):
        client.merge(mr, fake.head_sha(REPO, mr.number), MergeMethod.MERGE)  # a draft
    number, _ = fake.open_pull(REPO, author="bob")
    ref = ItemRef(REPO, number, ItemKind.PULL)
    client.set_open(ref, False)
    with pytest.raises(MergeRefusedError, match="405"):
        client.merge(ref, fake.head_sha(REPO, number), MergeMethod.MERGE)
    assert fake.merges(REPO) == []


@pytest.mark.parametrize("status", [405, 406, 409, 422])
def test_every_refusal_is_a_merge_refusal_without_the_token(
    fake: FakeGitLab, client: GitLabClient, status: int
) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    fake.fail_next("PUT", "/merge$", status, message=f"no, {TOKEN}")
    with pytest.raises(MergeRefusedError, match=f"{status} no, \\*\\*\\*") as err:
        client.merge(ItemRef(REPO, number, ItemKind.PULL), fake.head_sha(REPO, number), MergeMethod.MERGE)
    assert TOKEN not in str(err.value)


def test_merges_are_never_retried(fake: FakeGitLab, client: GitLabClient) -> None:
    number, _ = fake.open_pull(REPO, author="bob")
    fake.fail_next("PUT", "/merge$", 502)
    with pytest.raises(ForgeUnavailableError):
        client.merge(ItemRef(REPO, number, ItemKind.PULL), fake.head_sha(REPO, number), MergeMethod.MERGE)
    assert calls(fake, "PUT", "/merge") == 1
    assert fake.merges(REPO) == []


def test_other_merge_errors_stay_what_they_are(fake: FakeGitLab, client: GitLabClient) -> None:
    with pytest.raises(NotFoundError):
        client.merge(ItemRef(REPO, 99, ItemKind.PULL), "0" * 40, MergeMethod.MERGE)
    number, _ = fake.open_pull(REPO, author="bob")
    fake.fail_next("PUT", "/merge$", 401)  # GitLab: the bot may not push to the target branch
    with pytest.raises(ForbiddenError):
        client.merge(ItemRef(REPO, number, ItemKind.PULL), fake.head_sha(REPO, number), MergeMethod.MERGE)


def test_issues_cannot_be_merged(fake: FakeGitLab, client: GitLabClient, issue: ItemRef) -> None:
    with pytest.raises(InvalidRequestError):
        client.merge(issue, "0" * 40, MergeMethod.MERGE)
    with pytest.raises(InvalidRequestError):
        client.mergeability(issue)
    assert fake.requests == []


def test_open_issues_with_label_across_pages(fake: FakeGitLab, client: GitLabClient) -> None:
    issue = ItemKind.ISSUE
    numbers = [fake.open_issue(REPO, author="bob")[0] for _ in range(130)]
    for number in numbers[:120]:
        fake.set_labels(REPO, number, ["kind/bug"], kind=issue)
    fake.set_labels(REPO, numbers[0], ["kind/bug", "lgtm"], kind=issue)  # other labels too: still counts
    fake.set_labels(REPO, numbers[125], ["lgtm"], kind=issue)
    client.set_open(ItemRef(REPO, numbers[1], issue), False)
    pull, _ = fake.open_pull(REPO, author="bob")  # MRs are not issues
    fake.set_labels(REPO, pull, ["kind/bug"], kind=ItemKind.PULL)
    start = len(fake.requests)
    assert client.open_issues_with_label(REPO, "kind/bug") == [numbers[0], *numbers[2:120]]
    listed = requests_since(fake, start)
    assert len(listed) == 2  # 119 issues, 100 a page
    assert all(r.path == f"/projects/{ENCODED}/issues" for r in listed)
    assert (listed[0].query["state"], listed[0].query["labels"]) == ("opened", "kind/bug")
    assert client.open_issues_with_label(REPO, "lgtm") == [numbers[0], numbers[125]]
    assert client.open_issues_with_label(REPO, "no-such-label") == []


def test_the_fakes_lists_filter_by_every_label(fake: FakeGitLab, client: GitLabClient) -> None:
    for labels in (["kind/bug"], ["kind/bug", "lgtm"], []):
        number, _ = fake.open_issue(REPO, author="bob")
        fake.set_labels(REPO, number, labels, kind=ItemKind.ISSUE)
    issues = client.sdk(REPO, "list")
    with issues as project:
        assert [i.iid for i in project.issues.list(labels="kind/bug,lgtm", get_all=True)] == [2]
        assert [i.iid for i in project.issues.list(labels="kind/bug", get_all=True)] == [2, 1]  # newest first
        assert [i.iid for i in project.issues.list(state="closed", get_all=True)] == []


def test_set_mergeable_takes_only_gitlabs_statuses(fake: FakeGitLab, mr: ItemRef) -> None:
    with pytest.raises(ValueError, match="detailed_merge_status"):
        fake.set_mergeable(REPO, mr.number, "clean")


# ---- errors, retries, rate limits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequestError),
        (401, ForbiddenError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, InvalidRequestError),
        (422, InvalidRequestError),
        (500, ForgeUnavailableError),
        (503, ForgeUnavailableError),
    ],
)
def test_http_errors_become_neutral_errors(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef, status: int, error: type[ForgeError]
) -> None:
    fake.fail_next("POST", "/notes$", status)
    with pytest.raises(error, match=str(status)):
        client.comment(mr, "hi")


def test_error_messages_never_contain_the_token(fake: FakeGitLab, client: GitLabClient, mr: ItemRef) -> None:
    fake.fail_next("POST", "/notes$", 422, message=f"bad request from token {TOKEN}")
    with pytest.raises(InvalidRequestError) as err:
        client.comment(mr, "hi")
    assert TOKEN not in str(err.value)
    assert "bad request from token ***" in str(err.value)


def test_a_wrong_token_is_forbidden(fake: FakeGitLab, mr: ItemRef) -> None:
    with pytest.raises(ForbiddenError) as err:
        GitLabClient(fake.api_url, token="glpat-wrong").get_item(mr)
    assert "glpat-wrong" not in str(err.value)


def test_an_unreachable_gitlab_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects
    with pytest.raises(ForgeUnavailableError) as err:
        GitLabClient(f"http://127.0.0.1:{port}", token=TOKEN, timeout=1).whoami()
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize(
    ("method", "path", "status", "act"),
    [
        ("GET", "/merge_requests/1$", 502, lambda c, mr: c.get_item(mr)),
        ("GET", "/merge_requests/1$", 500, lambda c, mr: c.get_item(mr)),
        ("PUT", "/merge_requests/1$", 503, lambda c, mr: c.add_labels(mr, ["lgtm"])),
        ("POST", "/notes$", 502, lambda c, mr: c.comment(mr, "once")),
    ],
    ids=["GET-502", "GET-500", "PUT-label-503", "POST-note-502"],
)
def test_a_5xx_is_one_request_and_goes_up(fake: FakeGitLab, client: GitLabClient, mr: ItemRef, method: str,
                                          path: str, status: int, act) -> None:
    """python-gitlab never repeats a request here: the client's retry layer
    (bot.forge.layers.Retrying) repeats what is safe, one request per attempt."""
    fake.fail_next(method, path, status, times=5)
    with pytest.raises(ForgeUnavailableError):
        act(client, mr)
    assert calls(fake, method, path.rstrip("$")) == 1


def test_a_rate_limit_surfaces_at_once_with_the_wait_gitlab_asked_for(
    fake: FakeGitLab, client: GitLabClient, mr: ItemRef
) -> None:
    """Never slept out on the worker thread: the client's retry layer waits (bot.forge.layers)."""
    fake.fail_next("POST", "/notes$", 429, retry_after=7)
    with pytest.raises(RateLimitedError) as refused:
        client.comment(mr, "refused")
    assert refused.value.retry_after == 7
    assert fake.comments(REPO, mr.number) == []
    assert calls(fake, "POST", "/notes") == 1


# ---- the fake's webhooks, as the translator reads them --------------------------------------


def event_of(delivery: Delivery) -> Event | None:
    headers = delivery.headers
    return translate(headers["X-Gitlab-Event"], headers["X-Gitlab-Event-UUID"], json.loads(delivery.body))


def test_deliveries_carry_gitlabs_headers(fake: FakeGitLab) -> None:
    _, first = fake.open_pull(REPO, author="bob")
    _, second = fake.open_issue(REPO, author="bob")
    assert first.path == "/hook/gitlab"
    assert first.headers["X-Gitlab-Event"] == "Merge Request Hook"
    assert second.headers["X-Gitlab-Event"] == "Issue Hook"
    assert first.headers["X-Gitlab-Token"] == "gl-secret"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["X-Gitlab-Event-UUID"] != second.headers["X-Gitlab-Event-UUID"]


def test_deliveries_translate_to_the_events_people_caused(
    fake: FakeGitLab, mr: ItemRef, issue: ItemRef
) -> None:
    opened = event_of(fake.open_pull(REPO, author="bob", draft=True)[1])
    assert isinstance(opened, ItemEvent) and opened.action is ItemAction.OPENED
    assert (opened.actor, opened.item.author, opened.item.draft, opened.repo) == ("bob", "bob", True, REPO)

    note = event_of(fake.comment(REPO, mr.number, author="alice", body="/lgtm", kind=ItemKind.PULL))
    assert isinstance(note, CommentEvent)
    assert (note.actor, note.body, note.ref) == ("alice", "/lgtm", mr)

    issue_note = event_of(fake.comment(REPO, issue.number, author="alice", body="/hold", kind=ItemKind.ISSUE))
    assert isinstance(issue_note, CommentEvent) and issue_note.ref == issue

    pushed = event_of(fake.push(REPO, mr.number, pusher="bob"))
    assert isinstance(pushed, ItemEvent) and pushed.action is ItemAction.NEW_COMMITS
    assert pushed.item.head_sha == fake.head_sha(REPO, mr.number)

    for state, expected in (("approved", ReviewState.APPROVED), ("unapproved", ReviewState.UNAPPROVED)):
        review = event_of(fake.review(REPO, mr.number, author="carol", state=state))
        assert isinstance(review, ReviewEvent)
        assert (review.actor, review.state, review.ref) == ("carol", expected, mr)


# ---- projects in scope and the bot's hooks ---------------------------------------------------


def _nowhere() -> str:
    """A URL nothing listens on: deliveries to it fail."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook/gitlab"


def test_list_repos(fake: FakeGitLab, client: GitLabClient) -> None:
    for repo in ("group/sub/deeper/tool", "group/old", "other/thing", "dave/own"):
        fake.add_repo(repo)
    fake.set_archived("group/old")
    fake.set_permission("other/thing", fake.bot_login, Permission.READ)
    fake.set_permission("group/old", fake.bot_login, Permission.READ)

    assert client.list_repos(["*"]) == ["other/thing"]  # the bot is a member (archived left out)
    assert calls(fake, "GET", "/projects") == 1
    assert fake.requests[-1].query["membership"].lower() == "true"
    assert client.list_repos(["group/*"]) == ["group/sub/deeper/tool", REPO]
    assert client.list_repos(["group/sub/d*"]) == ["group/sub/deeper/tool"]
    assert fake.requests[-1].path == "/groups/group%2Fsub/projects"  # the deepest literal group
    assert fake.requests[-1].query["include_subgroups"].lower() == "true"
    assert client.list_repos(["dave/*"]) == ["dave/own"]  # a user's namespace
    assert [r.path for r in fake.requests[-2:]] == ["/groups/dave/projects", "/users/dave/projects"]
    before = len(fake.requests)
    assert client.list_repos(["x/y"]) == ["x/y"]  # named outright: no request
    assert len(fake.requests) == before


def test_hook_events_and_resend(fake: FakeGitLab, client: GitLabClient) -> None:
    url = _nowhere()
    fake.set_permission(REPO, fake.bot_login, Permission.MAINTAIN)
    hook_id = fake.add_hook(REPO, url)
    number, opened = fake.open_pull(REPO, author="bob")
    notes = [fake.comment(REPO, number, "alice", f"/hold {i}") for i in range(22)]
    for delivery in [opened, *notes]:
        assert fake.send(delivery) == [None]

    scope = HookScope(HookLevel.REPO, REPO)
    assert client.hook_scopes([REPO]) == [
        HookScope(HookLevel.ORG, "group"), HookScope(HookLevel.ORG, "group/sub"), scope,
    ]
    assert client.find_hooks(scope, url) == [Hook(scope, hook_id)]
    hook = Hook(scope, hook_id)
    before = len(fake.requests)
    attempts = client.hook_deliveries(hook, datetime.now(UTC) - timedelta(hours=1))
    assert len(attempts) == 23
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests[before:]] == ["events", "events"]  # 20 a page
    assert [a.delivery_id for a in attempts][-1] == opened.headers["Idempotency-Key"]  # newest first
    assert (attempts[-1].ok, attempts[-1].event, attempts[-1].status) == (False, "Merge Request Hook", "internal error")

    # reading stops at the look-back: the newest three are on the first page
    before = len(fake.requests)
    assert len(client.hook_deliveries(hook, attempts[2].at)) >= 3
    assert len(fake.requests) == before + 1

    client.redeliver(hook, attempts[-1].attempt_id)
    key = opened.headers["Idempotency-Key"]
    assert [status for k, status in fake.hook_events(hook_id) if k == key] == ["internal error", "internal error"]
    assert fake.requests[-1] == RecordedRequest(
        "POST", f"/projects/{ENCODED}/hooks/{hook_id}/events/{attempts[-1].attempt_id}/resend"
    )


def test_hooks_need_maintainer_or_group_owner(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.set_permission(REPO, fake.bot_login, Permission.WRITE)
    with pytest.raises(ForbiddenError):
        client.find_hooks(HookScope(HookLevel.REPO, REPO), _nowhere())
    with pytest.raises(ForbiddenError):
        client.find_hooks(HookScope(HookLevel.ORG, "group"), _nowhere())
    with pytest.raises(NotFoundError):
        client.find_hooks(HookScope(HookLevel.ORG, "no-such-group"), _nowhere())
    fake.add_group_member("group", fake.bot_login, 50)  # Owner of the group
    hook_id = fake.add_hook("group", "https://prowlet.example/hook/gitlab")
    scope = HookScope(HookLevel.ORG, "group")
    assert client.find_hooks(scope, "https://prowlet.example/hook/gitlab") == [Hook(scope, hook_id)]


def test_resend_rate_limit_is_not_waited_out(fake: FakeGitLab, client: GitLabClient) -> None:
    fake.set_permission(REPO, fake.bot_login, Permission.MAINTAIN)
    hook = Hook(HookScope(HookLevel.REPO, REPO), fake.add_hook(REPO, _nowhere()))
    fake.fail_next("POST", r"/resend$", 429)
    with pytest.raises(RateLimitedError):
        client.redeliver(hook, "1")
    assert calls(fake, "POST", "/resend") == 1
