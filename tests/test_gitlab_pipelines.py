"""GitLabPipelines (NativeCI) through the real python-gitlab against FakeGitLab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.ci.native import NativeCI
from bot.events import ItemKind, ItemRef
from bot.forge.base import ForgeUnavailableError, InvalidRequestError, NotFoundError, Permission
from bot.forge.gitlab.client import GitLabClient
from bot.forge.gitlab.pipelines import GitLabPipelines
from tests.fakes.gitlab import FakeGitLab
from tests.native_direct import Direct

REPO = "group/sub/project"
ENCODED = "group%2Fsub%2Fproject"
TOKEN = "glpat-s3cr3t"
MERGE_SHA = "e" * 40  # a merged-results pipeline runs on a merge commit, not on the MR's head


@pytest.fixture
def fake() -> Iterator[FakeGitLab]:
    with FakeGitLab(token=TOKEN) as fake:
        fake.add_repo(REPO)
        fake.set_permission(REPO, "alice", Permission.WRITE)
        yield fake


@pytest.fixture
def ci(fake: FakeGitLab) -> Direct:
    return Direct(GitLabPipelines(GitLabClient(fake.api_url, token=TOKEN)))


@pytest.fixture
def mr(fake: FakeGitLab) -> ItemRef:
    number, _ = fake.open_pull(REPO, author="bob")
    return ItemRef(REPO, number, ItemKind.PULL)


@pytest.fixture
def head(fake: FakeGitLab, mr: ItemRef) -> str:
    return fake.head_sha(REPO, mr.number)


def posts(fake: FakeGitLab) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST"]


def test_is_native_ci_with_nothing_to_name(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    native: NativeCI = ci.native
    assert native.name == "gitlab-ci"
    assert native.names(mr, head) == ["pipeline"]
    assert fake.requests == []


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_retest_retries_the_latest_pipeline_when_it_failed(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str, status: str
) -> None:
    older = fake.add_pipeline(REPO, mr.number, head, "failed")
    latest = fake.add_pipeline(REPO, mr.number, head, status)
    assert ci.retest(mr, head) == [f"pipeline #{latest}"]
    assert fake.pipeline_actions(REPO) == [(latest, "retry")]
    assert (fake.pipeline_status(REPO, latest), fake.pipeline_status(REPO, older)) == ("running", "failed")
    assert posts(fake) == [f"/projects/{ENCODED}/pipelines/{latest}/retry"]
    assert fake.requests[0].path == f"/projects/{ENCODED}/merge_requests/{mr.number}/pipelines"
    assert ci.retest(mr, head) == []  # running now: nothing failed any more
    assert fake.pipeline_actions(REPO) == [(latest, "retry")]


@pytest.mark.parametrize("status", ["running", "pending", "created", "success", "skipped", "manual"])
def test_retest_leaves_a_latest_pipeline_that_did_not_fail(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str, status: str
) -> None:
    fake.add_pipeline(REPO, mr.number, head, "failed")  # superseded
    fake.add_pipeline(REPO, mr.number, head, status)
    assert ci.retest(mr, head) == []
    assert fake.pipeline_actions(REPO) == []
    assert posts(fake) == []


def test_retest_without_pipelines_does_nothing(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    assert ci.retest(mr, head) == []
    assert posts(fake) == []


def test_retest_prefers_the_pipeline_of_the_head(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    failed_head = fake.add_pipeline(REPO, mr.number, head, "failed")
    fake.add_pipeline(REPO, mr.number, MERGE_SHA, "success")  # newer, but not for this head
    assert ci.retest(mr, head) == [f"pipeline #{failed_head}"]
    assert fake.pipeline_actions(REPO) == [(failed_head, "retry")]


def test_retest_leaves_a_passed_head_pipeline_despite_a_newer_failure_elsewhere(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    fake.add_pipeline(REPO, mr.number, head, "success")
    fake.add_pipeline(REPO, mr.number, MERGE_SHA, "failed")
    assert ci.retest(mr, head) == []
    assert fake.pipeline_actions(REPO) == []


def test_retest_falls_back_to_the_latest_pipeline_of_the_merge_request(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    fake.add_pipeline(REPO, mr.number, "d" * 40, "failed")  # an older head
    merged = fake.add_pipeline(REPO, mr.number, MERGE_SHA, "failed")
    assert ci.retest(mr, head) == [f"pipeline #{merged}"]
    assert fake.pipeline_actions(REPO) == [(merged, "retry")]


def test_retest_looks_only_at_this_merge_requests_pipelines(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    other, _ = fake.open_pull(REPO, author="bob")
    fake.add_pipeline(REPO, mr.number, head, "success")
    fake.add_pipeline(REPO, other, head, "failed")
    assert ci.retest(mr, head) == []
    assert fake.pipeline_actions(REPO) == []


def test_run_starts_a_merge_request_pipeline_at_the_head(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    fake.add_pipeline(REPO, mr.number, head, "failed")
    assert ci.run(mr, head, "e2e") is None  # not a pipeline: GitLab cannot run one job by name
    assert fake.requests == []
    started = ci.run(mr, head, "Pipeline")
    assert started is not None
    ((pipeline_id, action),) = fake.pipeline_actions(REPO)
    assert (started, action) == (f"pipeline #{pipeline_id}", "create")
    assert fake.pipeline_status(REPO, pipeline_id) == "created"
    assert posts(fake) == [f"/projects/{ENCODED}/merge_requests/{mr.number}/pipelines"]
    assert ci.retest(mr, head) == []  # the new pipeline, for the same head, is the latest now


def test_posts_are_never_retried_on_transient_errors(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    failed = fake.add_pipeline(REPO, mr.number, head, "failed")
    fake.fail_next("POST", "/retry$", 502)
    with pytest.raises(ForgeUnavailableError, match="502"):
        ci.retest(mr, head)
    fake.fail_next("POST", "/merge_requests/1/pipelines$", 502)
    with pytest.raises(ForgeUnavailableError, match="502"):
        ci.run(mr, head, "pipeline")
    assert posts(fake) == [
        f"/projects/{ENCODED}/pipelines/{failed}/retry",
        f"/projects/{ENCODED}/merge_requests/{mr.number}/pipelines",
    ]
    assert fake.pipeline_actions(REPO) == []


def test_a_failed_read_is_one_request(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    failed = fake.add_pipeline(REPO, mr.number, head, "failed")
    fake.fail_next("GET", "/pipelines$", 502)  # repeating is the retry layer's to do
    with pytest.raises(ForgeUnavailableError):
        ci.retest(mr, head)
    assert sum(r.method == "GET" for r in fake.requests) == 1
    assert ci.retest(mr, head) == [f"pipeline #{failed}"]


def test_errors_are_neutral_and_never_show_the_token(
    fake: FakeGitLab, ci: Direct, mr: ItemRef, head: str
) -> None:
    fake.fail_next("POST", "/pipelines$", 400, message=f"Pipeline will not run (token {TOKEN})")
    with pytest.raises(InvalidRequestError, match="could not start a pipeline") as err:
        ci.run(mr, head, "pipeline")
    assert TOKEN not in str(err.value)
    with pytest.raises(NotFoundError):
        ci.retest(ItemRef(REPO, 99, ItemKind.PULL), head)


def test_issues_have_no_pipelines(fake: FakeGitLab, ci: Direct, head: str) -> None:
    number, _ = fake.open_issue(REPO, author="bob")
    issue = ItemRef(REPO, number, ItemKind.ISSUE)
    with pytest.raises(InvalidRequestError):
        ci.retest(issue, head)
    with pytest.raises(InvalidRequestError):
        ci.run(issue, head, "pipeline")
    assert fake.requests == []
