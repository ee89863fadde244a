"""GitHubActions (``/retest``, ``/test NAME`` on GitHub Actions) through the real PyGithub against FakeGitHub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.events import ItemKind, ItemRef
from bot.forge.base import ForbiddenError, ForgeUnavailableError, NotFoundError, RateLimitedError
from bot.forge.github.actions import GitHubActions
from bot.forge.github.client import GitHubClient
from tests.fakes.github import FakeGitHub
from tests.native_direct import Direct

REPO = "acme/widgets"
FAST: dict[str, float] = {}  # PyGithub's throttle is always off now


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo(REPO)
        yield fake


@pytest.fixture
def actions(fake: FakeGitHub) -> Direct:
    return Direct(GitHubActions(GitHubClient(fake.api_url, token=fake.token, **FAST)))


@pytest.fixture
def ref(fake: FakeGitHub) -> ItemRef:
    number, _ = fake.open_pull(REPO, author="bob")
    return ItemRef(REPO, number, ItemKind.PULL)


@pytest.fixture
def sha(fake: FakeGitHub, ref: ItemRef) -> str:
    return fake.head_sha(REPO, ref.number)


def posts(fake: FakeGitHub, since: int) -> list[str]:
    return [r.path for r in fake.requests[since:] if r.method == "POST"]


def test_is_native_ci(actions: Direct) -> None:
    assert actions.name == "github-actions"
    assert all(callable(getattr(actions, method)) for method in ("retest", "run", "names"))


# ---- retest ----------------------------------------------------------------------------------


def test_retest_reruns_the_failed_jobs_of_failed_latest_runs(
    fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str
) -> None:
    ci = fake.add_workflow_run(REPO, sha, "CI", "failure")
    e2e = fake.add_workflow_run(REPO, sha, "E2E", "cancelled")
    slow = fake.add_workflow_run(REPO, sha, "Slow", "timed_out")
    fake.add_workflow_run(REPO, sha, "Lint", "success")
    fake.add_workflow_run(REPO, sha, "Skipped", "skipped")
    fake.add_workflow_run(REPO, sha, "Deploy", "action_required")  # waits for a person, not failed
    fake.add_workflow_run(REPO, sha, "Running", None)
    before = len(fake.requests)

    assert actions.retest(ref, sha) == ["CI", "E2E", "Slow"]

    assert fake.reruns(REPO) == [(ci, "rerun-failed-jobs"), (e2e, "rerun-failed-jobs"), (slow, "rerun-failed-jobs")]
    assert [r for r in fake.requests[before:] if r.method == "GET"][0].query == {"head_sha": sha, "per_page": "100"}


def test_retest_looks_at_each_workflows_latest_run_only(
    fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str
) -> None:
    fake.add_workflow_run(REPO, sha, "Docs", "failure")
    fake.add_workflow_run(REPO, sha, "Docs", "success")  # it failed, then passed: nothing to do
    fake.add_workflow_run(REPO, sha, "CI", "success")
    flaky = fake.add_workflow_run(REPO, sha, "CI", "failure")  # passed, then failed
    nightly = fake.add_workflow_run(REPO, sha, "Nightly", "failure", run_number=9)
    fake.add_workflow_run(REPO, sha, "Nightly", "success", run_number=8)  # created later, yet older

    assert actions.retest(ref, sha) == ["CI", "Nightly"]
    assert fake.reruns(REPO) == [(flaky, "rerun-failed-jobs"), (nightly, "rerun-failed-jobs")]


def test_retest_ignores_other_commits(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    old = sha
    fake.add_workflow_run(REPO, old, "CI", "failure")
    fake.push(REPO, ref.number, pusher="bob")
    new = fake.head_sha(REPO, ref.number)
    fake.add_workflow_run(REPO, new, "CI", "success")
    before = len(fake.requests)
    assert actions.retest(ref, new) == []
    assert posts(fake, before) == [] and fake.reruns(REPO) == []


def test_retest_twice_reruns_once(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    run_id = fake.add_workflow_run(REPO, sha, "CI", "failure")
    assert actions.retest(ref, sha) == ["CI"]
    assert actions.retest(ref, sha) == []  # the re-run is queued now, not failed
    assert fake.reruns(REPO) == [(run_id, "rerun-failed-jobs")]


def test_retest_skips_a_run_github_will_not_rerun(
    fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str
) -> None:
    fake.add_workflow_run(REPO, sha, "Ancient", "failure", rerunnable=False)  # e.g. over 30 days old
    ci = fake.add_workflow_run(REPO, sha, "CI", "failure")
    e2e = fake.add_workflow_run(REPO, sha, "E2E", "failure")
    before = len(fake.requests)
    assert actions.retest(ref, sha) == ["CI", "E2E"]
    assert len(posts(fake, before)) == 3  # all asked, one refused
    assert fake.reruns(REPO) == [(ci, "rerun-failed-jobs"), (e2e, "rerun-failed-jobs")]


def test_retest_when_github_refuses_every_run(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    fake.add_workflow_run(REPO, sha, "Ancient", "failure", rerunnable=False)
    fake.add_workflow_run(REPO, sha, "Lint", "success")
    with pytest.raises(ForbiddenError, match=r"403 This workflow run cannot be rerun .*Ancient"):
        actions.retest(ref, sha)
    assert fake.reruns(REPO) == []


def test_retest_stops_at_a_rate_limit(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    fake.add_workflow_run(REPO, sha, "CI", "failure")
    fake.add_workflow_run(REPO, sha, "E2E", "failure")
    fake.fail_next("POST", r"/rerun-failed-jobs$", 403, message="API rate limit exceeded for installation ID 1.")
    with pytest.raises(RateLimitedError):  # not taken for "this run cannot be re-run"
        actions.retest(ref, sha)


def test_rerun_posts_are_never_retried(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    fake.add_workflow_run(REPO, sha, "CI", "failure")
    fake.fail_next("POST", r"/rerun-failed-jobs$", 502)
    before = len(fake.requests)
    with pytest.raises(ForgeUnavailableError):
        actions.retest(ref, sha)
    assert len(posts(fake, before)) == 1
    assert fake.reruns(REPO) == []


def test_listing_errors_are_neutral(
    fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str
) -> None:
    fake.add_workflow_run(REPO, sha, "CI", "failure")
    fake.fail_next("GET", r"/actions/runs$", 502)  # one request: repeating is the retry layer's to do
    with pytest.raises(ForgeUnavailableError):
        actions.retest(ref, sha)
    assert actions.retest(ref, sha) == ["CI"]
    with pytest.raises(NotFoundError):
        actions.retest(ItemRef("acme/nope", 1, ItemKind.PULL), sha)


def test_retest_reads_every_page(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    first = fake.add_workflow_run(REPO, sha, "Oldest", "failure")  # listed last: newest first
    for i in range(120):
        fake.add_workflow_run(REPO, sha, f"wf-{i}", "success")
    before = len(fake.requests)
    assert actions.retest(ref, sha) == ["Oldest"]
    assert [r.query.get("page") for r in fake.requests[before:] if r.method == "GET"] == [None, "2"]
    assert fake.reruns(REPO) == [(first, "rerun-failed-jobs")]


# ---- run -------------------------------------------------------------------------------------


def test_run_reruns_the_latest_run_of_the_named_workflow(
    fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str
) -> None:
    fake.add_workflow_run(REPO, sha, "Integration Tests", "failure")
    latest = fake.add_workflow_run(REPO, sha, "Integration Tests", "success")
    fake.add_workflow_run(REPO, sha, "Lint", "failure")
    before = len(fake.requests)
    assert actions.run(ref, sha, "integration TESTS") == "Integration Tests"
    assert posts(fake, before) == [f"/repos/{REPO}/actions/runs/{latest}/rerun"]
    assert fake.reruns(REPO) == [(latest, "rerun")]  # every job, though it passed


def test_run_of_an_unknown_workflow(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    fake.add_workflow_run(REPO, sha, "CI", "failure")
    fake.push(REPO, ref.number, pusher="bob")
    fake.add_workflow_run(REPO, fake.head_sha(REPO, ref.number), "E2E", "failure")
    before = len(fake.requests)
    assert actions.run(ref, sha, "nope") is None
    assert actions.run(ref, sha, "E2E") is None  # ran for another commit only
    assert posts(fake, before) == [] and fake.reruns(REPO) == []


def test_run_refused_is_an_error(fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str) -> None:
    fake.add_workflow_run(REPO, sha, "CI", "success", rerunnable=False)
    with pytest.raises(ForbiddenError, match="cannot be rerun"):
        actions.run(ref, sha, "ci")
    fake.add_workflow_run(REPO, sha, "E2E", "success")
    assert actions.run(ref, sha, "e2e") == "E2E"
    with pytest.raises(ForbiddenError):  # still queued from the first time
        actions.run(ref, sha, "e2e")


# ---- names -----------------------------------------------------------------------------------


def test_names_are_the_workflows_that_ran_for_the_commit(
    fake: FakeGitHub, actions: Direct, ref: ItemRef, sha: str
) -> None:
    # a workflow renamed from "ci" to "CI" between its runs is listed once, as its newest run calls it
    for name, conclusion in [("lint", "success"), ("ci", "failure"), ("CI", "success"), ("E2E", None)]:
        fake.add_workflow_run(REPO, sha, name, conclusion)
    fake.push(REPO, ref.number, pusher="bob")
    fake.add_workflow_run(REPO, fake.head_sha(REPO, ref.number), "Release", "success")
    before = len(fake.requests)
    assert actions.names(ref, sha) == ["CI", "E2E", "lint"]
    assert posts(fake, before) == []
    assert actions.names(ref, "f" * 40) == []


# ---- as a GitHub App -------------------------------------------------------------------------


def test_as_a_github_app(fake: FakeGitHub, ref: ItemRef, sha: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    fake.register_app("4242", public, slug="prowlet")
    client = GitHubClient(fake.api_url, app_id="4242", app_private_key=private, **FAST)
    run_id = fake.add_workflow_run(REPO, sha, "CI", "failure")

    actions = Direct(GitHubActions(client))
    assert actions.retest(ref, sha) == ["CI"]
    assert actions.names(ref, sha) == ["CI"]
    assert fake.reruns(REPO) == [(run_id, "rerun-failed-jobs")]
    paths = [r.path for r in fake.requests]
    assert paths.count(f"/repos/{REPO}/installation") == 1  # the client's installation, shared
