"""GitHubClient through the real PyGithub against FakeGitHub (HTTP on 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.events import CommentEvent, ItemAction, ItemEvent, ItemKind, ItemRef, ReviewEvent, ReviewState
from bot.forge.base import (
    ChangedFile,
    Comment,
    CommitStatus,
    ForbiddenError,
    ForgeClient,
    ForgeUnavailableError,
    GitSource,
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
from bot.forge.github.client import GitHubClient
from bot.forge.github.translate import translate
from tests.fakes.github import FakeGitHub

REPO = "acme/widgets"
FAST: dict[str, float] = {}  # PyGithub's throttle is always off now


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO, labels=["lgtm", "kind/bug", "do-not-merge/hold"])
        fake.set_permission(REPO, "alice", Permission.WRITE)
        fake.set_permission(REPO, "carol", Permission.READ)
        fake.add_user("mallory")  # exists, no access
        yield fake


@pytest.fixture
def client(fake: FakeGitHub) -> GitHubClient:
    return GitHubClient(fake.api_url, token=fake.token, **FAST)


def pull(fake: FakeGitHub, author: str = "bob", **kwargs: object) -> ItemRef:
    number, _ = fake.open_pull(REPO, author=author, **kwargs)
    return ItemRef(REPO, number, ItemKind.PULL)


def issue(fake: FakeGitHub, author: str = "bob") -> ItemRef:
    number, _ = fake.open_issue(REPO, author=author, title="Broken", body="It fails")
    return ItemRef(REPO, number, ItemKind.ISSUE)


def calls(fake: FakeGitHub, since: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests[since:]]


# ---- construction ----------------------------------------------------------------------------


def test_implements_forge_client(client: GitHubClient) -> None:
    assert isinstance(client, ForgeClient)
    assert client.name == "github"
    assert not client.capabilities.consumes_quick_actions


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"token": "t", "app_id": "1", "app_private_key": "k"},
        {"app_id": "1"},
        {"app_private_key": "k"},
        {"token": "t", "app_id": "1"},
    ],
    ids=["nothing", "both", "app id only", "key only", "token and app id"],
)
def test_exactly_one_kind_of_auth(auth: dict) -> None:
    with pytest.raises(ValueError):
        GitHubClient("https://api.github.com", **auth)


# ---- reading ---------------------------------------------------------------------------------


def test_whoami_asks_the_forge_each_time(fake: FakeGitHub, client: GitHubClient) -> None:
    # The layered client caches it; readiness re-checks the credentials through the adapter.
    assert client.whoami() == "prowlet-bot"
    assert client.whoami() == "prowlet-bot"
    assert calls(fake, 0) == [("GET", "/user"), ("GET", "/user")]


def test_get_item_of_a_pull_takes_one_request(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake, title="Fix it", body="Details", draft=True)
    fake.set_labels(REPO, ref.number, ["lgtm"])
    client.add_assignees(ref, ["alice"])
    before = len(fake.requests)

    item = client.get_item(ref)

    assert calls(fake, before) == [("GET", f"/repos/{REPO}/pulls/{ref.number}")]
    assert item.ref == ref
    assert (item.author, item.title, item.body, item.state, item.draft) == ("bob", "Fix it", "Details", "open", True)
    assert item.labels == {"lgtm"} and item.assignees == {"alice"}
    assert item.head_sha == fake.head_sha(REPO, ref.number) and item.base_ref == "main"
    assert item.url.endswith(f"/{REPO}/pull/{ref.number}")


def test_get_item_of_an_issue(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = issue(fake)
    item = client.get_item(ref)
    assert item.ref == ref
    assert (item.author, item.title, item.body, item.state) == ("bob", "Broken", "It fails", "open")
    assert item.head_sha is None and item.base_ref is None
    assert [m for m, _ in calls(fake, 0)] == ["GET"]


def test_get_item_finds_the_pull_behind_an_issue_ref(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    item = client.get_item(ItemRef(REPO, ref.number, ItemKind.ISSUE))
    assert item.ref == ref
    assert item.head_sha == fake.head_sha(REPO, ref.number)


def test_get_item_of_a_merged_pull(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.merge(REPO, ref.number, merger="alice")
    assert client.get_item(ref).state == "merged"


@pytest.mark.parametrize("kind", list(ItemKind))
def test_get_item_missing(fake: FakeGitHub, client: GitHubClient, kind: ItemKind) -> None:
    with pytest.raises(NotFoundError):
        client.get_item(ItemRef(REPO, 99, kind))


def test_get_item_of_a_pull_ref_naming_an_issue(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = issue(fake)
    with pytest.raises(NotFoundError):
        client.get_item(ItemRef(REPO, ref.number, ItemKind.PULL))


def test_repo_labels_reads_every_page(fake: FakeGitHub, client: GitHubClient) -> None:
    many = [f"area/part-{i}" for i in range(247)]
    fake.add_repo(REPO, labels=many)
    before = len(fake.requests)
    assert client.repo_labels(REPO) == {"lgtm", "kind/bug", "do-not-merge/hold", *many}
    pages = fake.requests[before:]
    assert [r.query.get("per_page") for r in pages] == ["100"] * 3


def test_list_comments_reads_every_page_in_order(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    for i in range(130):
        fake.comment(REPO, ref.number, author="alice" if i % 2 else "carol", body=f"comment {i}")
    comments = client.list_comments(ref)
    assert [c.body for c in comments] == [f"comment {i}" for i in range(130)]
    assert comments[1].author == "alice" and comments[0].author == "carol"
    assert len({c.id for c in comments}) == 130


ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_comment_times_are_utc_and_ordered(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.comment(REPO, ref.number, author="alice", body="one")
    client.comment(ref, "two")
    fake.comment(REPO, ref.number, author="carol", body="three")
    stamps = [c.created_at for c in client.list_comments(ref)]
    assert all(ISO_UTC.fullmatch(stamp) for stamp in stamps)
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


# ---- what OWNERS support reads ---------------------------------------------------------------


def test_branch_sha_is_one_request(fake: FakeGitHub, client: GitHubClient) -> None:
    empty = client.branch_sha(REPO, "main")  # a new repository has one empty commit on main
    release = fake.set_file(REPO, "OWNERS", "approvers: [alice]\n", branch="release/1.0")
    before = len(fake.requests)
    assert client.branch_sha(REPO, "release/1.0") == release
    # a ref lookup keeps "/" between the name's parts, as GitHub wants
    assert calls(fake, before) == [("GET", f"/repos/{REPO}/git/ref/heads/release/1.0")]
    assert client.branch_sha(REPO, "main") == empty != release  # the new branch started from main


def test_branch_sha_escapes_the_name(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = fake.set_file(REPO, "OWNERS", "approvers: [alice]\n", branch="fix/issue#12-é")
    before = len(fake.requests)
    assert client.branch_sha(REPO, "fix/issue#12-é") == sha
    assert calls(fake, before) == [("GET", f"/repos/{REPO}/git/ref/heads/fix/issue%2312-%C3%A9")]


@pytest.mark.parametrize(
    ("repo", "branch"),
    [(REPO, "no-such-branch"), (REPO, "release"), ("acme/nope", "main")],
    ids=["missing branch", "prefix of a branch", "missing repository"],
)
def test_branch_sha_not_found(fake: FakeGitHub, client: GitHubClient, repo: str, branch: str) -> None:
    fake.set_file(REPO, "OWNERS", "approvers: [alice]\n", branch="release/1.0")
    with pytest.raises(NotFoundError, match="404"):
        client.branch_sha(repo, branch)


def test_read_file_at_old_and_new_commits(fake: FakeGitHub, client: GitHubClient) -> None:
    old = fake.set_file(REPO, "pkg/OWNERS", "approvers: [alice]\n")
    new = fake.set_file(REPO, "pkg/OWNERS", "approvers: [carol]\n")
    before = len(fake.requests)
    assert client.read_file(REPO, "pkg/OWNERS", old) == "approvers: [alice]\n"
    assert client.read_file(REPO, "pkg/OWNERS", new) == "approvers: [carol]\n"
    assert [(r.method, r.path, r.query) for r in fake.requests[before:]] == [
        ("GET", f"/repos/{REPO}/contents/pkg/OWNERS", {"ref": old}),
        ("GET", f"/repos/{REPO}/contents/pkg/OWNERS", {"ref": new}),
    ]


def test_read_file_that_is_not_there(fake: FakeGitHub, client: GitHubClient) -> None:
    empty = client.branch_sha(REPO, "main")
    added = fake.set_file(REPO, "pkg/OWNERS", "approvers: [alice]\n")
    removed = fake.set_file(REPO, "pkg/OWNERS", None)
    before = len(fake.requests)
    assert client.read_file(REPO, "pkg/OWNERS", empty) is None  # not yet there
    assert client.read_file(REPO, "pkg/OWNERS", added) == "approvers: [alice]\n"
    assert client.read_file(REPO, "pkg/OWNERS", removed) is None  # deleted since
    assert client.read_file(REPO, "OWNERS", added) is None
    assert len(fake.requests) - before == 4


def test_read_file_of_a_directory_is_none(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = fake.set_file(REPO, "pkg/api/OWNERS", "approvers: [alice]\n")
    before = len(fake.requests)
    assert client.read_file(REPO, "pkg", sha) is None
    assert client.read_file(REPO, "pkg/api", sha) is None
    assert len(fake.requests) - before == 2  # the listing is not followed up


def test_read_file_with_special_characters(fake: FakeGitHub, client: GitHubClient) -> None:
    path = "docs/a dir/ünï#?%+.md"
    text = "approvers:\n  - ålice  # café\n" * 20  # long enough for wrapped base64
    sha = fake.set_file(REPO, path, text)
    before = len(fake.requests)
    assert client.read_file(REPO, path, sha) == text
    assert calls(fake, before) == [("GET", f"/repos/{REPO}/contents/docs/a%20dir/%C3%BCn%C3%AF%23%3F%25%2B.md")]


def test_read_file_at_an_unknown_commit(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.set_file(REPO, "OWNERS", "approvers: [alice]\n")
    with pytest.raises(NotFoundError, match="No commit found"):
        client.read_file(REPO, "OWNERS", "0" * 40)


def test_read_file_too_large_for_the_contents_api(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = fake.set_file(REPO, "huge.txt", "x" * (1024 * 1024 + 1))
    with pytest.raises(InvalidRequestError, match=r"huge\.txt .* 1 MB"):
        client.read_file(REPO, "huge.txt", sha)


def test_read_file_errors_are_not_taken_for_a_missing_file(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = fake.set_file(REPO, "OWNERS", "approvers: [alice]\n")
    fake.fail_next("GET", r"/contents/", 403, message="Resource not accessible by integration")
    with pytest.raises(ForbiddenError):
        client.read_file(REPO, "OWNERS", sha)
    fake.fail_next("GET", r"/contents/", 502)  # unavailable, not missing (the retry layer repeats it)
    with pytest.raises(ForgeUnavailableError):
        client.read_file(REPO, "OWNERS", sha)
    assert client.read_file(REPO, "OWNERS", sha) == "approvers: [alice]\n"


def test_changed_files_reads_every_page(fake: FakeGitHub, client: GitHubClient) -> None:
    files = []
    for i in range(250):
        if i % 10 == 3:
            files.append(ChangedFile(f"pkg/new-{i}.go", "renamed", previous_path=f"pkg/old/{i}.go"))
        elif i % 10 == 7:
            files.append(ChangedFile(f"pkg/gone-{i}.go", "removed"))
        else:
            files.append(ChangedFile(f"pkg/file-{i}.go", "added" if i % 2 else "modified"))
    ref = pull(fake, files=files)
    before = len(fake.requests)
    assert client.changed_files(ref) == files
    pages = fake.requests[before:]
    assert [r.path for r in pages] == [f"/repos/{REPO}/pulls/{ref.number}/files"] * 3
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]
    assert client.get_item(ref).ref == ref


def test_changed_files_map_githubs_other_statuses(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.set_changed_files(
        REPO,
        ref.number,
        [
            ChangedFile("copy.go", "copied", previous_path="orig.go"),  # the original is untouched
            ChangedFile("run.sh", "changed"),  # mode only
            ChangedFile("same.go", "unchanged"),
        ],
    )
    assert client.changed_files(ref) == [
        ChangedFile("copy.go", "added"),
        ChangedFile("run.sh", "modified"),
        ChangedFile("same.go", "modified"),
    ]


def test_changed_files_stop_at_githubs_3000(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake, files=[ChangedFile(f"f/{i}") for i in range(3005)])
    files = client.changed_files(ref)
    assert len(files) == 3000 and files[-1] == ChangedFile("f/2999")
    assert not files.complete and files.total == "3005"  # from the PR's own changed_files count


@pytest.mark.parametrize("count", [2999, 3000], ids=["under-the-cap", "exactly-the-cap"])
def test_changed_files_up_to_the_cap_are_complete(fake: FakeGitHub, client: GitHubClient, count: int) -> None:
    ref = pull(fake, files=[ChangedFile(f"f/{i}") for i in range(count)])
    before = len(fake.requests)
    files = client.changed_files(ref)
    assert files.complete and files.total == str(count) and len(files) == count
    # the PR itself is read only when the listing reached the cap
    asked_pull = [r for r in fake.requests[before:] if r.path == f"/repos/{REPO}/pulls/{ref.number}"]
    assert len(asked_pull) == (count == 3000)


def test_changed_files_of_none_and_of_an_issue(fake: FakeGitHub, client: GitHubClient) -> None:
    assert client.changed_files(pull(fake)) == []
    with pytest.raises(NotFoundError):
        client.changed_files(issue(fake))


def _raw_reviews(fake: FakeGitHub, number: int) -> list[dict]:
    """The reviews as GitHub lists them to the bot, in its order."""
    url = f"{fake.api_url}/repos/{REPO}/pulls/{number}/reviews"
    request = Request(url, headers={"Authorization": f"token {fake.token}"})
    with urlopen(request) as response:
        return json.loads(response.read())


def test_reviews_oldest_first_without_pending_ones(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.start_review(REPO, ref.number, "alice")  # pending: only alice sees it
    fake.review(REPO, ref.number, "carol", "changes_requested")
    fake.start_review(REPO, ref.number, fake.bot_login)  # pending, and the bot sees its own
    fake.review(REPO, ref.number, "alice", "approved", body="LGTM")  # submits alice's pending review
    fake.review(REPO, ref.number, "carol", "commented")

    raw = _raw_reviews(fake, ref.number)
    assert [(r["user"]["login"], r["state"]) for r in raw] == [
        ("alice", "APPROVED"),  # listed where it was started
        ("carol", "CHANGES_REQUESTED"),
        ("prowlet-bot", "PENDING"),
        ("carol", "COMMENTED"),
    ]
    assert "submitted_at" not in raw[2]

    reviews = client.list_reviews(ref)
    assert [(r.author, r.state) for r in reviews] == [
        ("carol", ReviewState.CHANGES_REQUESTED),
        ("alice", ReviewState.APPROVED),  # ordered by when it was submitted
        ("carol", ReviewState.COMMENTED),
    ]
    stamps = [r.submitted_at for r in reviews]
    assert all(ISO_UTC.fullmatch(stamp) for stamp in stamps) and stamps == sorted(stamps)


def test_reviews_dismissed_and_by_deleted_accounts(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.review(REPO, ref.number, "alice", "approved")
    fake.review(REPO, ref.number, "dave", "approved")
    fake.review(REPO, ref.number, "carol", "changes_requested")
    fake.dismiss_review(REPO, ref.number, "carol", dismisser="alice")
    fake.delete_user("dave")
    assert [(r.author, r.state) for r in client.list_reviews(ref)] == [
        ("alice", ReviewState.APPROVED),
        ("carol", ReviewState.DISMISSED),
    ]


def test_reviews_read_every_page(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    for i in range(120):
        fake.review(REPO, ref.number, "alice" if i % 2 else "carol", "commented")
    before = len(fake.requests)
    reviews = client.list_reviews(ref)
    assert len(reviews) == 120 and reviews[0].author == "carol" and reviews[-1].author == "alice"
    assert len(fake.requests) - before == 2


def test_reviews_and_comments_share_one_timeline(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.comment(REPO, ref.number, author="alice", body="/lgtm")
    fake.review(REPO, ref.number, "carol", "approved")
    fake.comment(REPO, ref.number, author="alice", body="/lgtm cancel")
    first, last = client.list_comments(ref)
    (review,) = client.list_reviews(ref)
    assert first.created_at < review.submitted_at < last.created_at
    assert review == Review("carol", ReviewState.APPROVED, review.submitted_at)


def test_reviews_of_an_issue(fake: FakeGitHub, client: GitHubClient) -> None:
    with pytest.raises(NotFoundError):
        client.list_reviews(issue(fake))


# ---- writing ---------------------------------------------------------------------------------


def test_labels_add_and_remove(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    client.add_labels(ref, ["lgtm", "kind/bug"])
    assert fake.labels(REPO, ref.number) == {"lgtm", "kind/bug"}

    client.remove_label(ref, "kind/bug")  # "/" must be escaped in the URL
    assert fake.labels(REPO, ref.number) == {"lgtm"}
    assert ("DELETE", f"/repos/{REPO}/issues/{ref.number}/labels/kind%2Fbug") in calls(fake, 0)


def test_add_labels_is_one_request_and_idempotent(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = issue(fake)
    before = len(fake.requests)
    client.add_labels(ref, ["lgtm"])
    client.add_labels(ref, ["lgtm"])
    client.add_labels(ref, [])
    assert calls(fake, before) == [("POST", f"/repos/{REPO}/issues/{ref.number}/labels")] * 2
    assert fake.labels(REPO, ref.number) == {"lgtm"}


def test_removing_an_absent_label_is_fine(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    client.remove_label(ref, "do-not-merge/hold")
    assert fake.labels(REPO, ref.number) == set()


def test_remove_label_still_reports_other_errors(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.fail_next("DELETE", r"/labels/", 403)
    with pytest.raises(ForbiddenError):
        client.remove_label(ref, "lgtm")


def test_comment_and_edit(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    comment_id = client.comment(ref, "first")
    before = len(fake.requests)
    client.edit_comment(ref, comment_id, "edited")
    assert calls(fake, before) == [("PATCH", f"/repos/{REPO}/issues/comments/{comment_id}")]  # no GET first
    assert fake.comments(REPO, ref.number) == [("prowlet-bot", "edited")]
    # the fake's clock: the PR at 00:00:00, the comment a second later; an edit leaves created_at
    assert client.list_comments(ref) == [Comment(comment_id, "prowlet-bot", "edited", "2026-01-01T00:00:01Z")]


def test_edit_missing_comment(fake: FakeGitHub, client: GitHubClient) -> None:
    with pytest.raises(NotFoundError):
        client.edit_comment(pull(fake), 424242, "x")


def test_add_assignees_returns_who_github_dropped(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = issue(fake)
    failed = client.add_assignees(ref, ["Alice", "carol", "mallory", "ghost"])
    assert failed == {"mallory", "ghost"}
    assert fake.assignees(REPO, ref.number) == {"alice", "carol"}
    assert client.add_assignees(ref, []) == frozenset()


def test_remove_assignees(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    client.add_assignees(ref, ["alice", "carol"])
    client.remove_assignees(ref, ["alice"])
    assert fake.assignees(REPO, ref.number) == {"carol"}


def test_request_review(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    before = len(fake.requests)
    assert client.request_review(ref, ["alice", "carol"]) == frozenset()
    assert calls(fake, before) == [("POST", f"/repos/{REPO}/pulls/{ref.number}/requested_reviewers")]
    assert fake.reviewers(REPO, ref.number) == {"alice", "carol"}


def test_request_review_falls_back_to_one_login_at_a_time(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake, author="bob")
    failed = client.request_review(ref, ["alice", "mallory", "bob", "carol"])
    assert failed == {"mallory", "bob"}  # not a collaborator; the PR's author
    assert fake.reviewers(REPO, ref.number) == {"alice", "carol"}


def test_request_review_of_one_refused_login(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    before = len(fake.requests)
    assert client.request_review(ref, ["mallory"]) == {"mallory"}
    assert len(fake.requests) - before == 1


def test_remove_review_request(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    client.request_review(ref, ["alice", "carol"])
    client.remove_review_request(ref, ["alice"])
    assert fake.reviewers(REPO, ref.number) == {"carol"}


def test_request_review_on_an_issue(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = issue(fake)
    with pytest.raises(NotFoundError):
        client.request_review(ItemRef(REPO, ref.number, ItemKind.PULL), ["alice"])


def test_set_open(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    client.set_open(ref, False)
    assert fake.state(REPO, ref.number) == "closed"
    client.set_open(ref, True)
    assert fake.state(REPO, ref.number) == "open"


def test_reopening_a_merged_pull_is_invalid(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.merge(REPO, ref.number, merger="alice")
    with pytest.raises(InvalidRequestError):
        client.set_open(ref, True)


@pytest.mark.parametrize("level", list(Permission))
def test_permission(fake: FakeGitHub, client: GitHubClient, level: Permission) -> None:
    fake.set_permission(REPO, "dave", level)
    assert client.permission(REPO, "dave") is level


def test_permission_of_unknown_user(client: GitHubClient) -> None:
    assert client.permission(REPO, "nobody-at-all") is Permission.NONE


def test_permission_forbidden(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail_next("GET", r"/permission$", 403, message="Must have push access to view collaborator permission.")
    with pytest.raises(ForbiddenError):
        client.permission(REPO, "alice")


# ---- CI: commit statuses, check runs, org membership, git source ---------------------------------


def head(fake: FakeGitHub) -> str:
    """The head sha of a new PR."""
    return fake.head_sha(REPO, pull(fake).number)


def test_set_status_then_list(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = head(fake)
    before = len(fake.requests)
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.PENDING, "running", "https://ci.example/1"))
    client.set_status(REPO, sha, CommitStatus("e2e", StatusState.FAILURE, "2 failed", "https://ci.example/2"))
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS, "passed", "https://ci.example/1"))
    client.set_status(REPO, sha, CommitStatus("lint", StatusState.ERROR))
    # one POST each, no read before it
    assert calls(fake, before) == [("POST", f"/repos/{REPO}/statuses/{sha}")] * 4
    assert fake.statuses(REPO, sha) == [
        ("unit", "pending", "running", "https://ci.example/1"),
        ("e2e", "failure", "2 failed", "https://ci.example/2"),
        ("unit", "success", "passed", "https://ci.example/1"),
        ("lint", "error", None, None),  # no description or URL sent
    ]
    statuses = client.list_statuses(REPO, sha)
    assert sorted(statuses, key=lambda s: s.context) == [
        CommitStatus("e2e", StatusState.FAILURE, "2 failed", "https://ci.example/2"),
        CommitStatus("lint", StatusState.ERROR, "", None),
        CommitStatus("unit", StatusState.SUCCESS, "passed", "https://ci.example/1"),  # the latest of "unit"
    ]


def test_set_status_cuts_the_description_to_140(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = head(fake)
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.FAILURE, "é" * 140))
    client.set_status(REPO, sha, CommitStatus("e2e", StatusState.FAILURE, "x" * 141))
    (_, _, exact, _), (_, _, cut, _) = fake.statuses(REPO, sha)
    assert exact == "é" * 140  # characters, not bytes
    assert cut == "x" * 139 + "…" and len(cut) == 140
    # the fake refuses a longer one, as GitHub does
    request = Request(
        f"{fake.api_url}/repos/{REPO}/statuses/{sha}",
        data=json.dumps({"state": "success", "description": "y" * 141}).encode(),
        headers={"Authorization": f"token {fake.token}"},
    )
    with pytest.raises(HTTPError) as caught:
        urlopen(request)
    assert caught.value.code == 422


def test_set_status_errors(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = head(fake)
    with pytest.raises(InvalidRequestError, match="No commit found"):
        client.set_status(REPO, "0" * 40, CommitStatus("unit", StatusState.SUCCESS))
    fake.fail_next("POST", r"/statuses/", 502)
    before = len(fake.requests)
    with pytest.raises(ForgeUnavailableError):
        client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS))
    assert len(fake.requests) - before == 1  # a POST is never retried
    assert fake.statuses(REPO, sha) == []


def test_list_statuses_reads_every_page(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = head(fake)
    for i in range(205):
        client.set_status(REPO, sha, CommitStatus(f"job-{i}", StatusState.SUCCESS))
    for i in range(130):
        fake.add_check_run(REPO, sha, f"check-{i}", "completed", "failure")
    before = len(fake.requests)
    statuses = client.list_statuses(REPO, sha)
    assert len(statuses) == 335
    assert {s.context for s in statuses} == {f"job-{i}" for i in range(205)} | {f"check-{i}" for i in range(130)}
    pages = [(r.path.rsplit("/", 1)[-1], r.query.get("page")) for r in fake.requests[before:]]
    assert pages == [("status", "1"), ("status", "2"), ("status", "3"), ("check-runs", None), ("check-runs", "2")]


def test_list_statuses_of_a_commit_with_none(fake: FakeGitHub, client: GitHubClient) -> None:
    assert client.list_statuses(REPO, head(fake)) == []


@pytest.mark.parametrize(
    ("status", "conclusion", "state"),
    [
        ("queued", None, StatusState.PENDING),
        ("in_progress", None, StatusState.PENDING),
        ("waiting", None, StatusState.PENDING),
        ("completed", "success", StatusState.SUCCESS),
        ("completed", "neutral", StatusState.SUCCESS),
        ("completed", "skipped", StatusState.SUCCESS),
        ("completed", "failure", StatusState.FAILURE),
        ("completed", "timed_out", StatusState.FAILURE),
        ("completed", "action_required", StatusState.FAILURE),
        ("completed", "startup_failure", StatusState.FAILURE),
        ("completed", "cancelled", StatusState.ERROR),
        ("completed", "stale", StatusState.ERROR),
    ],
)
def test_check_runs_count_as_statuses(
    fake: FakeGitHub, client: GitHubClient, status: str, conclusion: str | None, state: StatusState
) -> None:
    sha = head(fake)
    run_id = fake.add_check_run(REPO, sha, "build (linux)", status, conclusion, title="Build summary")
    (listed,) = client.list_statuses(REPO, sha)
    assert listed == CommitStatus("build (linux)", state, "Build summary", listed.target_url)
    assert listed.target_url and listed.target_url.endswith(f"/{REPO}/runs/{run_id}")


def test_statuses_and_check_runs_merged_latest_per_context(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = head(fake)
    client.set_status(REPO, sha, CommitStatus("unit", StatusState.SUCCESS))
    fake.add_check_run(REPO, sha, "lint", "completed", "failure")
    fake.add_check_run(REPO, sha, "lint", "in_progress")  # a re-run of lint hides the failed run
    client.set_status(REPO, sha, CommitStatus("build", StatusState.FAILURE))
    fake.add_check_run(REPO, sha, "build", "completed", "success")  # a check run named as a status, later
    fake.add_check_run(REPO, sha, "e2e", "completed", "success", app="circleci")
    fake.add_check_run(REPO, sha, "e2e", "completed", "timed_out")  # the same name in another suite, later
    fake.add_check_run(REPO, sha, "docs", "completed", "success")
    client.set_status(REPO, sha, CommitStatus("docs", StatusState.ERROR, "gone"))  # a status, later
    states = {s.context: s.state for s in client.list_statuses(REPO, sha)}
    assert states == {
        "unit": StatusState.SUCCESS,
        "lint": StatusState.PENDING,
        "build": StatusState.SUCCESS,
        "e2e": StatusState.FAILURE,
        "docs": StatusState.ERROR,
    }


def test_list_statuses_errors(fake: FakeGitHub, client: GitHubClient) -> None:
    sha = head(fake)
    with pytest.raises(InvalidRequestError, match="No commit found"):
        client.list_statuses(REPO, "0" * 40)
    fake.fail_next("GET", r"/check-runs$", 403, message="Resource not accessible by integration")
    with pytest.raises(ForbiddenError):
        client.list_statuses(REPO, sha)


ORG = "acme-org"


@pytest.fixture
def org(fake: FakeGitHub) -> str:
    fake.add_org_member(ORG, "alice", public=False)
    fake.add_org_member(ORG, "carol")  # public
    return ORG


def test_org_member_seen_by_a_member(fake: FakeGitHub, client: GitHubClient, org: str) -> None:
    fake.add_org_member(org, fake.bot_login, public=False)
    before = len(fake.requests)
    assert client.is_org_member(org, "alice") is True  # private membership shows to members
    assert client.is_org_member(org, "Carol") is True
    assert client.is_org_member(org, "mallory") is False
    assert client.is_org_member(org, "no-such-user") is False
    assert calls(fake, before)[0] == ("GET", f"/orgs/{org}/members/alice")
    assert len(fake.requests) - before == 4  # one request each


def test_org_member_seen_by_an_outsider(fake: FakeGitHub, client: GitHubClient, org: str) -> None:
    before = len(fake.requests)
    assert client.is_org_member(org, "carol") is True  # public
    assert calls(fake, before) == [("GET", f"/orgs/{org}/members/carol"), ("GET", f"/orgs/{org}/public_members/carol")]
    assert client.is_org_member(org, "alice") is False  # private: invisible to a non-member
    assert client.is_org_member(org, "mallory") is False


def test_org_member_of_a_user_account_or_no_org(fake: FakeGitHub, client: GitHubClient) -> None:
    assert client.is_org_member("acme", "acme") is False  # "acme" owns the repository: a user here
    assert client.is_org_member("no-such-org", "alice") is False


def test_org_member_errors(fake: FakeGitHub, client: GitHubClient, org: str) -> None:
    fake.fail_next("GET", r"/members/", 403, message="Resource not accessible by integration")
    with pytest.raises(ForbiddenError):
        client.is_org_member(org, "alice")
    fake.fail_next("GET", r"/members/", 500)
    with pytest.raises(ForgeUnavailableError):  # not "no"
        client.is_org_member(org, "alice")


def _decoded(source: GitSource) -> str:
    scheme, _, credentials = source.header.partition(": ")
    assert scheme == "Authorization"
    kind, _, encoded = credentials.partition(" ")
    assert kind == "Basic"
    return base64.b64decode(encoded, validate=True).decode()


def test_git_source_with_a_token(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    before = len(fake.requests)
    source = client.git_source(ref)
    assert len(fake.requests) == before  # nothing to ask
    web = fake.api_url.removesuffix("/api/v3")  # the fake is addressed like GitHub Enterprise
    assert (source.url, source.ref) == (f"{web}/{REPO}.git", f"refs/pull/{ref.number}/head")
    assert _decoded(source) == f"x-access-token:{fake.token}"
    assert fake.token not in repr(source) and source.header not in repr(source)


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://api.github.com/", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://ghe.example.com:8443/api/v3/", "https://ghe.example.com:8443"),
        ("https://api.octo.ghe.com", "https://octo.ghe.com"),
    ],
)
def test_git_source_web_url(api_url: str, web_url: str) -> None:
    client = GitHubClient(api_url, token="ghp_" + "S3cr3t" * 6)
    source = client.git_source(ItemRef("acme/widgets", 7, ItemKind.PULL))
    assert source == GitSource(f"{web_url}/acme/widgets.git", "refs/pull/7/head", source.header)
    assert _decoded(source) == "x-access-token:ghp_" + "S3cr3t" * 6


# ---- merge automation: open PRs, mergeability, merging, blocker issues ---------------------------


def test_list_open_pulls_reads_every_page_in_two_requests(fake: FakeGitHub, client: GitHubClient) -> None:
    refs = [pull(fake, title=f"PR {n}") for n in range(152)]
    fake.merge(REPO, refs[0].number, merger="alice")
    client.set_open(refs[1], False)
    issue(fake)  # issues are not listed
    labelled, drafted = refs[7], pull(fake, author="carol", title="Draft", body="WIP", draft=True)
    fake.set_labels(REPO, labelled.number, ["lgtm", "kind/bug"])
    client.add_assignees(labelled, ["alice"])
    moved = fake.set_file(REPO, "README.md", "new", branch=fake.head_branch(REPO, labelled.number))
    before = len(fake.requests)

    pulls = client.list_open_pulls(REPO)

    # One GraphQL query per 100 open PRs (bot.forge.github.open_pulls), as Prow's Tide reads them.
    assert calls(fake, before) == [("POST", "/api/graphql"), ("POST", "/api/graphql")]
    by_number = {p.item.ref.number: p for p in pulls}
    assert len(pulls) == len(by_number) == 151
    assert set(by_number) == {ref.number for ref in refs[2:]} | {drafted.number}
    assert all(p.mergeable is Mergeability.CLEAN and p.statuses == () for p in pulls if p.item.ref != drafted)
    assert (by_number[drafted.number].mergeable, by_number[drafted.number].reason) == (Mergeability.BLOCKED, "draft")
    assert all(p.item.state == "open" and p.item.base_ref == "main" for p in pulls)
    item = by_number[labelled.number].item
    assert item.ref == labelled
    assert (item.labels, item.assignees, item.author, item.title) == ({"lgtm", "kind/bug"}, {"alice"}, "bob", "PR 7")
    assert item.head_sha == moved == fake.head_sha(REPO, labelled.number)
    assert item == client.get_item(labelled)  # the list gives what the PR's own endpoint does
    draft = by_number[drafted.number].item
    assert (draft.draft, draft.author, draft.body) == (True, "carol", "WIP")
    assert draft.url.endswith(f"/{REPO}/pull/{drafted.number}")


def test_list_open_pulls_of_none_and_of_no_repo(fake: FakeGitHub, client: GitHubClient) -> None:
    issue(fake)
    assert client.list_open_pulls(REPO) == []
    with pytest.raises(NotFoundError):
        client.list_open_pulls("acme/nothing")


@pytest.mark.parametrize(
    ("state", "mergeable", "reason"),
    [("clean", Mergeability.CLEAN, ""), ("unstable", Mergeability.CLEAN, ""), ("dirty", Mergeability.CONFLICT, "dirty"),
     ("blocked", Mergeability.BLOCKED, "blocked"), ("behind", Mergeability.BLOCKED, "behind"),
     ("unknown", Mergeability.UNKNOWN, "")],
)
def test_list_open_pulls_tells_mergeability_as_the_pr_does(
    fake: FakeGitHub, client: GitHubClient, state: str, mergeable: Mergeability, reason: str
) -> None:
    ref = pull(fake)
    fake.set_mergeable(REPO, ref.number, state)
    (listed,) = client.list_open_pulls(REPO)
    fresh = client.mergeability(ref)
    assert (listed.mergeable, listed.reason) == (fresh.mergeable, fresh.reason) == (mergeable, reason)
    assert listed.item == fresh.item


def test_list_open_pulls_brings_each_heads_statuses_as_list_statuses_does(fake: FakeGitHub, client: GitHubClient) -> None:
    ref, quiet = pull(fake), pull(fake)
    sha = fake.head_sha(REPO, ref.number)
    fake.add_status(REPO, sha, "jenkins", "pending")
    fake.add_status(REPO, sha, "jenkins", "success", description="Build 7 passed", target_url="https://ci/7")
    fake.add_status(REPO, sha, "lint", "error")
    fake.add_check_run(REPO, sha, "unit", "completed", "failure", title="2 failed")
    fake.add_check_run(REPO, sha, "unit", "completed", "success")  # a re-run replaces the failed one
    fake.add_check_run(REPO, sha, "e2e", "in_progress", app="other-ci")
    fake.add_check_run(REPO, sha, "docs", "completed", "skipped")
    before = len(fake.requests)

    pulls = {p.item.ref: p for p in client.list_open_pulls(REPO)}

    assert calls(fake, before) == [("POST", "/api/graphql")]
    by_context = lambda status: status.context  # noqa: E731
    assert sorted(pulls[ref].statuses or (), key=by_context) == sorted(client.list_statuses(REPO, sha), key=by_context)
    assert {s.context: s.state for s in pulls[ref].statuses or ()} == {
        "jenkins": StatusState.SUCCESS, "lint": StatusState.ERROR, "unit": StatusState.SUCCESS,
        "e2e": StatusState.PENDING, "docs": StatusState.SUCCESS}
    assert pulls[quiet].statuses == ()


def test_list_open_pulls_leaves_what_does_not_fit_to_rest(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    sha = fake.head_sha(REPO, ref.number)
    fake.add_repo(REPO, labels=[f"area/{n}" for n in range(105)])
    fake.set_labels(REPO, ref.number, [f"area/{n}" for n in range(105)])
    for n in range(101):
        fake.add_status(REPO, sha, f"ci-{n}", "success")
    (listed,) = client.list_open_pulls(REPO)
    assert listed.item.labels == {f"area/{n}" for n in range(105)}  # read from the issue
    assert listed.statuses is None  # for list_statuses to read


def test_list_open_pulls_refuses_what_graphql_refuses(fake: FakeGitHub, client: GitHubClient) -> None:
    with pytest.raises(NotFoundError):
        client.list_open_pulls("acme/nothing")
    fake.fail_next("POST", "^/api/graphql$", 502)  # a POST: the adapter itself never repeats it
    with pytest.raises(ForgeUnavailableError):
        client.list_open_pulls(REPO)
    fake.fail_next("POST", "^/api/graphql$", 403, message="API rate limit exceeded for user ID 1.", retry_after=7)
    with pytest.raises(RateLimitedError) as limited:
        client.list_open_pulls(REPO)
    assert limited.value.retry_after == 7


def test_the_fakes_pull_list_has_no_mergeability(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    requester = client.sdk(REPO).requester
    _, listed = requester.requestJsonAndCheck("GET", f"/repos/{REPO}/pulls")
    _, single = requester.requestJsonAndCheck("GET", f"/repos/{REPO}/pulls/{ref.number}")
    detail = {"mergeable", "mergeable_state", "merged", "commits", "changed_files"}
    assert detail <= single.keys() and not detail & listed[0].keys()
    assert set(listed[0]) < set(single)
    assert listed[0]["head"]["ref"] == fake.head_branch(REPO, ref.number)


@pytest.mark.parametrize(
    ("state", "mergeable", "reason"),
    [
        ("clean", Mergeability.CLEAN, ""),
        ("unstable", Mergeability.CLEAN, ""),
        ("has_hooks", Mergeability.CLEAN, ""),
        ("dirty", Mergeability.CONFLICT, "dirty"),
        ("blocked", Mergeability.BLOCKED, "blocked"),
        ("behind", Mergeability.BLOCKED, "behind"),
        ("draft", Mergeability.BLOCKED, "draft"),
        ("unknown", Mergeability.UNKNOWN, ""),
    ],
)
def test_mergeability(
    fake: FakeGitHub, client: GitHubClient, state: str, mergeable: Mergeability, reason: str
) -> None:
    ref = pull(fake, title="Fix")
    fake.set_mergeable(REPO, ref.number, state)
    before = len(fake.requests)

    fresh = client.mergeability(ref)

    assert calls(fake, before) == [("GET", f"/repos/{REPO}/pulls/{ref.number}")]
    assert fresh == PullState(item=client.get_item(ref), mergeable=mergeable, reason=reason)


def test_mergeability_of_a_draft_closed_merged_and_issue(fake: FakeGitHub, client: GitHubClient) -> None:
    draft = pull(fake, draft=True)
    assert (client.mergeability(draft).mergeable, client.mergeability(draft).reason) == (Mergeability.BLOCKED, "draft")
    fake.set_mergeable(REPO, draft.number, "dirty")  # a conflict shows through the draft
    assert client.mergeability(draft).mergeable is Mergeability.CONFLICT

    merged, closed = pull(fake), pull(fake)
    fake.merge(REPO, merged.number, merger="alice")
    client.set_open(closed, False)
    assert client.mergeability(merged) == PullState(client.get_item(merged), Mergeability.BLOCKED, "merged")
    assert client.mergeability(closed) == PullState(client.get_item(closed), Mergeability.BLOCKED, "closed")
    with pytest.raises(NotFoundError):
        client.mergeability(issue(fake))


@pytest.mark.parametrize("method", list(MergeMethod))
def test_merge(fake: FakeGitHub, client: GitHubClient, method: MergeMethod) -> None:
    ref = pull(fake)
    sha = fake.set_file(REPO, "src/new.py", "print('hi')\n", branch=fake.head_branch(REPO, ref.number))
    before = len(fake.requests)

    client.merge(ref, sha, method)

    assert calls(fake, before) == [("PUT", f"/repos/{REPO}/pulls/{ref.number}/merge")]
    assert fake.merges(REPO) == [(ref.number, sha, method.value)]
    assert fake.state(REPO, ref.number) == "merged"
    assert client.get_item(ref).state == "merged"
    main = client.branch_sha(REPO, "main")
    assert main != sha and client.read_file(REPO, "src/new.py", main) == "print('hi')\n"


def test_merge_keeps_what_main_gained_meanwhile(fake: FakeGitHub, client: GitHubClient) -> None:
    first, second = pull(fake), pull(fake)
    fake.set_file(REPO, "a.txt", "from the first", branch=fake.head_branch(REPO, first.number))
    sha = fake.set_file(REPO, "b.txt", "from the second", branch=fake.head_branch(REPO, second.number))
    client.merge(first, fake.head_sha(REPO, first.number), MergeMethod.MERGE)
    client.merge(second, sha, MergeMethod.MERGE)
    main = client.branch_sha(REPO, "main")
    assert (client.read_file(REPO, "a.txt", main), client.read_file(REPO, "b.txt", main)) == (
        "from the first",
        "from the second",
    )


def test_merge_refused_when_the_head_moved(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    evaluated = fake.head_sha(REPO, ref.number)
    fake.push(REPO, ref.number, pusher="bob")
    with pytest.raises(MergeRefusedError, match="Head branch was modified") as caught:
        client.merge(ref, evaluated, MergeMethod.SQUASH)
    assert str(caught.value) == "Head branch was modified. Review and try the merge again."
    assert fake.state(REPO, ref.number) == "open" and fake.merges(REPO) == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("dirty", "Pull Request is not mergeable"),
        ("blocked", "At least 1 approving review is required by reviewers with write access."),
        ("behind", "Head branch is not up to date with the base branch"),
    ],
)
def test_merge_refused_when_not_mergeable(fake: FakeGitHub, client: GitHubClient, state: str, message: str) -> None:
    ref = pull(fake)
    fake.set_mergeable(REPO, ref.number, state)
    with pytest.raises(MergeRefusedError) as caught:
        client.merge(ref, fake.head_sha(REPO, ref.number), MergeMethod.MERGE)
    assert str(caught.value) == message
    assert fake.state(REPO, ref.number) == "open" and fake.merges(REPO) == []


def test_merge_refused_for_a_draft_or_merged_pull(fake: FakeGitHub, client: GitHubClient) -> None:
    draft, merged = pull(fake, draft=True), pull(fake)
    with pytest.raises(MergeRefusedError, match="draft"):
        client.merge(draft, fake.head_sha(REPO, draft.number), MergeMethod.MERGE)
    client.merge(merged, fake.head_sha(REPO, merged.number), MergeMethod.MERGE)
    with pytest.raises(MergeRefusedError, match="not mergeable"):  # twice
        client.merge(merged, fake.head_sha(REPO, merged.number), MergeMethod.MERGE)
    assert fake.merges(REPO) == [(merged.number, fake.head_sha(REPO, merged.number), "merge")]


def test_merge_without_a_sha_is_not_sent(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    before = len(fake.requests)
    with pytest.raises(InvalidRequestError):
        client.merge(ref, "", MergeMethod.MERGE)
    assert calls(fake, before) == []


@pytest.mark.parametrize("status", [502, 503, 504])
def test_merge_is_never_retried(fake: FakeGitHub, client: GitHubClient, status: int) -> None:
    ref = pull(fake)
    sha = fake.head_sha(REPO, ref.number)
    fake.fail_next("PUT", r"/merge$", status)
    before = len(fake.requests)
    with pytest.raises(ForgeUnavailableError, match=str(status)):
        client.merge(ref, sha, MergeMethod.MERGE)
    assert calls(fake, before) == [("PUT", f"/repos/{REPO}/pulls/{ref.number}/merge")]
    # the caller reads the PR again to learn what happened, then decides
    assert client.mergeability(ref).item.state == "open"
    client.merge(ref, sha, MergeMethod.MERGE)
    assert fake.state(REPO, ref.number) == "merged"


def test_merge_errors_map_as_usual(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    sha = fake.head_sha(REPO, ref.number)
    with pytest.raises(NotFoundError):
        client.merge(ItemRef(REPO, 999, ItemKind.PULL), sha, MergeMethod.MERGE)
    with pytest.raises(NotFoundError):
        client.merge(issue(fake), sha, MergeMethod.MERGE)
    fake.fail_next("PUT", r"/merge$", 403, message="Resource not accessible by integration")
    with pytest.raises(ForbiddenError):
        client.merge(ref, sha, MergeMethod.MERGE)
    fake.fail_next("PUT", r"/merge$", 403, message="You have exceeded a secondary rate limit.")
    with pytest.raises(RateLimitedError):
        client.merge(ref, sha, MergeMethod.MERGE)
    assert fake.merges(REPO) == []


def test_open_issues_with_label(fake: FakeGitHub, client: GitHubClient) -> None:
    wanted = [issue(fake) for _ in range(120)]
    for ref in wanted:
        fake.set_labels(REPO, ref.number, ["kind/bug"])
    fake.set_labels(REPO, wanted[3].number, ["kind/bug", "lgtm"])  # other labels too
    labelled_pull, closed, other = pull(fake), issue(fake), issue(fake)
    fake.set_labels(REPO, labelled_pull.number, ["kind/bug"])
    fake.set_labels(REPO, closed.number, ["kind/bug"])
    client.set_open(closed, False)
    fake.set_labels(REPO, other.number, ["lgtm"])
    before = len(fake.requests)

    numbers = client.open_issues_with_label(REPO, "kind/bug")

    assert sorted(numbers) == [ref.number for ref in wanted]
    requests = fake.requests[before:]
    assert [(r.method, r.path) for r in requests] == [("GET", f"/repos/{REPO}/issues")] * 2
    assert all(r.query["labels"] == "kind/bug" and r.query["state"] == "open" for r in requests)
    assert client.open_issues_with_label(REPO, "do-not-merge/hold") == []
    assert client.open_issues_with_label(REPO, "LGTM") == [other.number, wanted[3].number]  # any case, newest first


def test_the_fakes_issue_list_filters_like_githubs(fake: FakeGitHub, client: GitHubClient) -> None:
    both, bug, none = issue(fake), issue(fake), pull(fake)
    fake.set_labels(REPO, both.number, ["lgtm", "kind/bug"])
    fake.set_labels(REPO, bug.number, ["kind/bug"])
    client.set_open(bug, False)
    repo = client.sdk(REPO).get_repo(REPO)
    assert [i.number for i in repo.get_issues(state="all", labels=["lgtm", "kind/bug"])] == [both.number]
    assert [i.number for i in repo.get_issues(state="all", labels=["kind/bug"])] == [bug.number, both.number]
    assert [i.number for i in repo.get_issues(state="closed")] == [bug.number]
    assert [i.number for i in repo.get_issues()] == [none.number, both.number]  # PRs are listed too


def test_a_person_merging_lands_on_main_but_not_in_merges(fake: FakeGitHub, client: GitHubClient) -> None:
    ref = pull(fake)
    fake.set_mergeable(REPO, ref.number, "blocked")  # an admin may override protection
    fake.set_file(REPO, "x.txt", "x", branch=fake.head_branch(REPO, ref.number))
    fake.merge(REPO, ref.number, merger="alice")
    assert fake.merges(REPO) == []
    assert client.read_file(REPO, "x.txt", "main") == "x"
    with pytest.raises(ValueError):
        fake.set_mergeable(REPO, ref.number, "mergeable")


# ---- errors, retries, pacing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (404, "Not Found", NotFoundError),
        (401, "Bad credentials", ForbiddenError),
        (403, "Resource not accessible by integration", ForbiddenError),
        (403, "API rate limit exceeded for installation ID 1.", RateLimitedError),
        (
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            RateLimitedError,
        ),
        (429, "Too many requests", RateLimitedError),
        (422, "Validation Failed", InvalidRequestError),
        (500, "Server Error", ForgeUnavailableError),
    ],
)
def test_error_mapping(fake: FakeGitHub, client: GitHubClient, status: int, message: str, error: type) -> None:
    ref = pull(fake)
    fake.fail_next("POST", r"/comments$", status, message=message)
    with pytest.raises(error, match=str(status)):
        client.comment(ref, "hi")
    assert fake.comments(REPO, ref.number) == []


def test_wrong_token(fake: FakeGitHub) -> None:
    client = GitHubClient(fake.api_url, token="not-the-token", **FAST)
    with pytest.raises(ForbiddenError) as caught:
        client.whoami()
    assert "not-the-token" not in str(caught.value)


INSTALLATION_TOKEN = "ghs_" + "Z9y8X7w6" * 5


@pytest.mark.parametrize("token", ["plain-secret-token", "ghp_" + "A1b2C3d4" * 5], ids=["any", "github-format"])
def test_no_token_in_error_messages(token: str) -> None:
    with FakeGitHub(token=token) as fake:
        fake.add_repo(REPO)
        ref = pull(fake)
        client = GitHubClient(fake.api_url, token=token, **FAST)
        # as a misbehaving proxy might: the response quotes credentials, ours or an App installation's
        fake.fail_next("POST", r"/comments$", 500, message=f"rejected 'token {token}' and 'token {INSTALLATION_TOKEN}'")
        with pytest.raises(ForgeUnavailableError) as caught:
            client.comment(ref, "hi")
    message = str(caught.value)
    assert token not in message and INSTALLATION_TOKEN not in message
    assert message.count("***") == 2


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = GitHubClient(f"http://127.0.0.1:{port}/api/v3", token="secret-token", **FAST)
    with pytest.raises(ForgeUnavailableError) as caught:
        client.whoami()
    assert "secret-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "status", "act"),
    [
        ("GET", r"/pulls/\d+$", 502, lambda c, ref: c.get_item(ref)),
        ("GET", r"/user$", 503, lambda c, ref: c.whoami()),
        ("DELETE", r"/labels/", 503, lambda c, ref: c.remove_label(ref, "lgtm")),
        ("PATCH", r"/issues/\d+$", 504, lambda c, ref: c.set_open(ref, False)),
        ("POST", r"/labels$", 502, lambda c, ref: c.add_labels(ref, ["kind/bug"])),
        ("POST", r"/comments$", 502, lambda c, ref: c.comment(ref, "only once")),
    ],
    ids=["GET-502", "GET-503", "DELETE-503", "PATCH-504", "POST-label-502", "POST-comment-502"],
)
def test_a_5xx_is_one_request_and_goes_up(fake: FakeGitHub, client: GitHubClient, method: str, path: str,
                                          status: int, act) -> None:
    """The adapter never repeats a request that reached GitHub, whatever the method: the client's
    retry layer (bot.forge.layers.Retrying) repeats what is safe, one request per attempt."""
    ref = pull(fake)
    fake.set_labels(REPO, ref.number, ["lgtm"])
    fake.fail_next(method, path, status, times=5)
    before = len(fake.requests)
    with pytest.raises(ForgeUnavailableError, match=str(status)):
        act(client, ref)
    assert [m for m, _ in calls(fake, before)] == [method]


# ---- GitHub App authentication ---------------------------------------------------------------


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_app_auth_end_to_end(fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    fake.register_app("4242", public, slug="prowlet")
    fake.add_repo("other-org/tools")
    ref = pull(fake)
    other = ItemRef("other-org/tools", fake.open_issue("other-org/tools", author="bob")[0], ItemKind.ISSUE)
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=private, **FAST)

    assert client.whoami() == "prowlet[bot]"
    client.comment(ref, "from the app")
    client.add_labels(ref, ["lgtm"])
    client.comment(other, "elsewhere")

    assert fake.comments(REPO, ref.number) == [("prowlet[bot]", "from the app")]
    assert fake.comments("other-org/tools", other.number) == [("prowlet[bot]", "elsewhere")]
    paths = [path for _, path in calls(fake, 0)]
    # one installation lookup and one token per owner, reused for later calls
    assert paths.count(f"/repos/{REPO}/installation") == 1
    assert paths.count("/repos/other-org/tools/installation") == 1
    assert len([p for p in paths if p.endswith("/access_tokens")]) == 2


def test_app_with_the_wrong_key_is_refused(fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    fake.register_app("4242", app_key[1], slug="prowlet")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=wrong, **FAST)
    with pytest.raises(ForbiddenError):
        client.comment(pull(fake), "nope")


def test_app_not_installed_on_the_repo(fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    fake.register_app("4242", app_key[1], slug="prowlet")
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=app_key[0], **FAST)
    with pytest.raises(NotFoundError):
        client.repo_labels("nobody/nothing")


def test_app_git_source_and_org_membership(fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    fake.register_app("4242", public, slug="prowlet")
    fake.add_org_member("acme-org", "alice", public=False)
    ref = pull(fake)
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=private, **FAST)

    source = client.git_source(ref)
    user, _, token = _decoded(source).partition(":")
    assert user == "x-access-token" and token.startswith("ghs_")  # the installation's token, not the JWT
    assert token not in repr(source)
    request = Request(f"{fake.api_url}/repos/{REPO}/labels", headers={"Authorization": f"token {token}"})
    with urlopen(request) as response:  # it is a token the installation can use
        assert response.status == 200
    assert client.git_source(ref) == source  # reused until near expiry

    # an App sees private members without being one; the organisation's installation is looked up
    assert client.is_org_member("acme-org", "alice") is True
    assert client.is_org_member("acme-org", "carol") is False
    assert client.is_org_member("no-such-org", "alice") is False  # not installed there
    assert ("GET", "/orgs/acme-org/installation") in calls(fake, 0)


# ---- the fake's webhooks ---------------------------------------------------------------------


def _event(fake: FakeGitHub, delivery) -> object:
    expected = "sha256=" + hmac.new(fake.webhook_secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature-256"] == expected
    assert delivery.path == "/hook/github"
    return translate(
        delivery.headers["X-GitHub-Event"], delivery.headers["X-GitHub-Delivery"], json.loads(delivery.body)
    )


def test_fake_webhooks_translate(fake: FakeGitHub) -> None:
    number, opened = fake.open_pull(REPO, author="bob", title="T", draft=True)
    event = _event(fake, opened)
    assert isinstance(event, ItemEvent) and event.action is ItemAction.OPENED
    assert (event.actor, event.item.title, event.item.draft) == ("bob", "T", True)

    event = _event(fake, fake.comment(REPO, number, author="alice", body="/lgtm"))
    assert isinstance(event, CommentEvent)
    assert (event.ref.kind, event.actor, event.body) == (ItemKind.PULL, "alice", "/lgtm")

    event = _event(fake, fake.push(REPO, number, pusher="bob"))
    assert event.action is ItemAction.NEW_COMMITS and event.item.head_sha == fake.head_sha(REPO, number)

    event = _event(fake, fake.review(REPO, number, author="alice", state="approved"))
    assert isinstance(event, ReviewEvent) and event.state is ReviewState.APPROVED and event.body == ""

    event = _event(fake, fake.dismiss_review(REPO, number, author="alice", dismisser="carol"))
    assert isinstance(event, ReviewEvent) and event.state is ReviewState.DISMISSED and event.actor == "carol"

    event = _event(fake, fake.merge(REPO, number, merger="alice"))
    assert event.action is ItemAction.MERGED

    issue_number, opened = fake.open_issue(REPO, author="carol")
    assert issue_number == number + 1  # one sequence for issues and PRs
    event = _event(fake, fake.comment(REPO, issue_number, author="carol", body="hi"))
    assert event.ref == ItemRef(REPO, issue_number, ItemKind.ISSUE)


def test_fake_requires_auth(fake: FakeGitHub) -> None:
    with pytest.raises(HTTPError) as caught:
        urlopen(f"{fake.api_url}/repos/{REPO}/labels")
    assert caught.value.code == 401
    assert json.loads(caught.value.read()) == {
        "message": "Requires authentication",
        "documentation_url": "https://docs.github.com/rest",
    }


# ---- repositories in scope and the bot's hooks -----------------------------------------------


def _nowhere() -> str:
    """A URL nothing listens on: deliveries to it fail."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook/github"


def test_list_repos_with_a_token(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.add_org_member("acme-org", fake.bot_login)
    for repo in ("acme-org/api", "acme-org/old", "bob/tools", "zed/private"):
        fake.add_repo(repo)
    fake.set_archived("acme-org/old")
    fake.set_permission("bob/tools", fake.bot_login, Permission.WRITE)

    assert client.list_repos(["*"]) == ["acme-org/api", "bob/tools"]  # member, collaborator; not archived
    assert calls(fake, 0) == [("GET", "/user/repos")]
    before = len(fake.requests)
    assert client.list_repos(["acme-org/*", f"{REPO.split('/')[0]}/w*"]) == ["acme-org/api", REPO]
    assert calls(fake, before) == [
        ("GET", "/orgs/acme/repos"), ("GET", "/users/acme/repos"),  # acme is a user: the fallback
        ("GET", "/orgs/acme-org/repos"),
    ]
    before = len(fake.requests)
    assert client.list_repos(["bob/tools"]) == ["bob/tools"]  # named outright: no request
    assert calls(fake, before) == []


def test_list_repos_with_an_app(fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    fake.register_app("4242", public, slug="prowlet")
    fake.add_repo("other-org/tools")
    fake.add_repo("other-org/old")
    fake.set_archived("other-org/old")
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=private, **FAST)

    assert client.list_repos(["*"]) == [REPO, "other-org/tools"]
    assert client.list_repos(["other-org/*", "nobody/thing"]) == ["other-org/tools"]  # not installed: left out
    paths = [path for _, path in calls(fake, 0)]
    assert paths.count("/installation/repositories") == 4  # one per installation and listing
    assert len([p for p in paths if p.endswith("/access_tokens")]) == 2  # tokens reused


def test_repository_hook_deliveries_and_redelivery(fake: FakeGitHub, client: GitHubClient) -> None:
    url = _nowhere()
    fake.set_permission(REPO, fake.bot_login, Permission.ADMIN)
    fake.add_hook(REPO, _nowhere().replace("/hook/github", "/other"))  # someone else's hook
    hook_id = fake.add_hook(REPO, url)
    number, opened = fake.open_pull(REPO, author="bob")
    assert fake.send(opened) == [None, None]  # refused at both

    scope = HookScope(HookLevel.REPO, REPO)
    assert client.hook_scopes([REPO]) == [HookScope(HookLevel.ORG, "acme"), scope]
    assert client.find_hooks(scope, url + "/") == [Hook(scope, hook_id)]
    [attempt] = client.hook_deliveries(Hook(scope, hook_id), datetime.now(UTC) - timedelta(hours=1))
    assert attempt.delivery_id == opened.headers["X-GitHub-Delivery"]
    assert (attempt.ok, attempt.event, attempt.status) == (False, "pull_request.opened", "failed to connect to host")

    before = len(fake.requests)
    client.redeliver(Hook(scope, hook_id), attempt.attempt_id)
    fake.hooks_idle()
    assert calls(fake, before) == [("POST", f"/repos/{REPO}/hooks/{hook_id}/deliveries/{attempt.attempt_id}/attempts")]
    guid = opened.headers["X-GitHub-Delivery"]
    assert fake.hook_deliveries(hook_id) == [(guid, False, 0), (guid, True, 0)]  # same guid, a redelivery

    # the look-back ends the listing: nothing newer than a minute from now
    assert client.hook_deliveries(Hook(scope, hook_id), datetime.now(UTC) + timedelta(minutes=1)) == []


def test_hooks_without_admin_are_not_found(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.set_permission(REPO, fake.bot_login, Permission.WRITE)
    with pytest.raises(NotFoundError):
        client.find_hooks(HookScope(HookLevel.REPO, REPO), _nowhere())
    with pytest.raises(NotFoundError):  # a user account has no organisation hooks
        client.find_hooks(HookScope(HookLevel.ORG, "acme"), _nowhere())
    fake.add_org_member("acme-org", fake.bot_login)
    hook_id = fake.add_hook("acme-org", "https://prowlet.example/hook/github")
    scope = HookScope(HookLevel.ORG, "acme-org")
    assert client.find_hooks(scope, "https://prowlet.example/hook/github") == [Hook(scope, hook_id)]


def test_the_app_hook(fake: FakeGitHub, app_key: tuple[str, str]) -> None:
    private, public = app_key
    url = _nowhere()
    fake.register_app("4242", public, slug="prowlet")
    fake.set_app_hook(url)
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=private, **FAST)
    number, opened = fake.open_pull(REPO, author="bob")
    assert fake.send(opened) == [None]

    app = HookScope(HookLevel.APP)
    assert client.hook_scopes([REPO])[0] == app
    assert client.find_hooks(app, "https://other.example/hook/github") == []
    [hook] = client.find_hooks(app, url)
    [attempt] = client.hook_deliveries(hook, datetime.now(UTC) - timedelta(hours=1))
    client.redeliver(hook, attempt.attempt_id)
    fake.hooks_idle()
    assert [redelivery for _, redelivery, _ in fake.hook_deliveries()] == [False, True]
    assert {path for _, path in calls(fake, 0) if path.startswith("/app/hook")} == {
        "/app/hook/config", "/app/hook/deliveries", f"/app/hook/deliveries/{attempt.attempt_id}/attempts",
    }
