"""dispatch_workflow / start_pipeline through the real SDKs against the fake forges: what the
forges answer, as neutral results and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.forge.base import InvalidRequestError, NotFoundError, RunStarted
from tests.conftest import AUTHOR, REPO, make_client, make_fake, seed

INPUTS = {"environment": {"required": True, "options": ["staging", "prod"]}}


@pytest.fixture
def github() -> Iterator[Any]:
    with make_fake("github") as fake:
        seed(fake)
        fake.add_workflow(REPO, "deploy.yml", inputs=INPUTS)
        fake.add_workflow(REPO, "push-only.yml", dispatchable=False)
        yield fake


GITHUB_CASES = [
    ("accepted", "deploy.yml", "main", {"environment": "prod"}, None),
    ("by workflow id", "ID", "main", {"environment": "prod"}, None),
    ("unknown workflow", "nope.yml", "main", {}, (NotFoundError, "404")),
    ("no workflow_dispatch trigger", "push-only.yml", "main", {}, (InvalidRequestError, "workflow_dispatch")),
    ("unknown ref", "deploy.yml", "no-such-branch", {"environment": "prod"}, (InvalidRequestError, "No ref found")),
    ("undeclared input", "deploy.yml", "main", {"environment": "prod", "x": "1"}, (InvalidRequestError, "Unexpected inputs")),
    ("missing required input", "deploy.yml", "main", {}, (InvalidRequestError, "Required input 'environment'")),
    ("value not an option", "deploy.yml", "main", {"environment": "qa"}, (InvalidRequestError, "not in the list")),
]


@pytest.mark.parametrize("workflow,ref,inputs,error", [c[1:] for c in GITHUB_CASES], ids=[c[0] for c in GITHUB_CASES])
def test_github_dispatch(github: Any, workflow: str, ref: str, inputs: dict, error: tuple | None) -> None:
    client = make_client(github)
    if workflow == "ID":
        workflow = str(github.add_workflow(REPO, "deploy.yml", inputs=INPUTS))
    if error is not None:
        with pytest.raises(error[0], match=error[1]):
            client.dispatch_workflow(REPO, workflow, ref, inputs)
        assert github.dispatches(REPO) == []
        return
    started = client.dispatch_workflow(REPO, workflow, ref, inputs)
    ((file, at, sent, run_id),) = github.dispatches(REPO)
    assert (file, at, sent) == ("deploy.yml", ref, inputs)
    assert started == RunStarted(run_id, started.url) and started.url.endswith(f"/actions/runs/{run_id}")


def test_github_dispatch_without_run_details(github: Any) -> None:
    github.dispatch_run_details = False
    assert make_client(github).dispatch_workflow(REPO, "deploy.yml", "main", {"environment": "prod"}) == RunStarted(None)
    assert len(github.dispatches(REPO)) == 1


def test_github_has_no_pipelines(github: Any) -> None:
    with pytest.raises(InvalidRequestError, match="not supported on GitHub"):
        make_client(github).start_pipeline(REPO, "main", {})


@pytest.fixture
def gitlab() -> Iterator[Any]:
    with make_fake("gitlab") as fake:
        seed(fake)
        yield fake


def test_gitlab_pipeline_with_variables(gitlab: Any) -> None:
    number, _ = gitlab.open_pull(REPO, author=AUTHOR)
    branch = gitlab.head_branch(REPO, number)
    started = make_client(gitlab).start_pipeline(REPO, branch, {"DEPLOY_ENV": "prod", "X": "a b"})
    assert gitlab.branch_pipelines(REPO) == [(started.id, branch, [
        {"key": "DEPLOY_ENV", "value": "prod", "variable_type": "env_var"},
        {"key": "X", "value": "a b", "variable_type": "env_var"}])]
    assert started.url.endswith(f"/-/pipelines/{started.id}")


def test_gitlab_pipeline_unknown_ref(gitlab: Any) -> None:
    with pytest.raises(InvalidRequestError, match="Reference not found"):
        make_client(gitlab).start_pipeline(REPO, "no-such-branch", {})
    assert gitlab.branch_pipelines(REPO) == []


def test_gitlab_has_no_workflows(gitlab: Any) -> None:
    with pytest.raises(InvalidRequestError, match="not supported on GitLab"):
        make_client(gitlab).dispatch_workflow(REPO, "deploy.yml", "main", {})
