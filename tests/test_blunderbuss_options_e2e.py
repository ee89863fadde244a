"""blunderbuss's Prow options on both forges: max_request_count, exclude_approvers, ignore_authors
and wait_for_status.  Review requests read back from the fakes."""

from __future__ import annotations

from typing import Any

import pytest

from bot.forge.base import ChangedFile, CommitStatus, Permission, StatusState
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, make_client, typed
from tests.fakes.base import FakeForge
from tests.test_merge_e2e import ci_finished

APPROVERS, REVIEWER = {"ray", "rae"}, "rita"


def _options(**blunderbuss: Any) -> dict[str, Any]:
    return {"plugins": {"options": {"blunderbuss": blunderbuss}}}


@pytest.fixture
def owners_repo(fake: FakeForge) -> FakeForge:
    for login in (*APPROVERS, REVIEWER):
        fake.set_permission(REPO, login, Permission.WRITE)
    fake.set_file(REPO, "OWNERS", f"approvers: [{', '.join(sorted(APPROVERS))}]\nreviewers: [{REVIEWER}]\n")
    return fake


async def _open(bot: Bot, author: str = AUTHOR) -> int:
    number, opened = bot.fake.open_pull(REPO, author=author, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    return number


@pytest.mark.parametrize(
    ("config_data", "expected"),
    [
        (_options(request_count=3), {REVIEWER} | APPROVERS),
        (_options(request_count=3, exclude_approvers=True), {REVIEWER}),
        (_options(request_count=3, max_request_count=2), 2),
    ],
    ids=["approvers-fill-in-by-default", "exclude-approvers-asks-reviewers-only", "max-request-count-caps"],
)
async def test_who_is_requested(bot: Bot, owners_repo: FakeForge, expected: set[str] | int) -> None:
    number = await _open(bot)
    requested = owners_repo.reviewers(REPO, number)
    if isinstance(expected, int):
        assert len(requested) == expected and REVIEWER in requested  # reviewers before approvers
    else:
        assert requested == expected


@pytest.mark.parametrize("config_data", [_options(ignore_authors=[COLLAB.upper()])], ids=["ignored"])
async def test_ignore_authors_skips_automatic_requests_only(bot: Bot, owners_repo: FakeForge) -> None:
    ignored, other = await _open(bot, author=COLLAB), await _open(bot)
    assert owners_repo.reviewers(REPO, ignored) == set()
    assert owners_repo.reviewers(REPO, other) != set()
    await bot.deliver(owners_repo.comment(REPO, ignored, COLLAB, typed(owners_repo.name, "/auto-cc")))
    assert owners_repo.reviewers(REPO, ignored) != set()


WAIT = _options(wait_for_status={"context": "ci/e2e", "state": "success", "description": "^all green"})


def _post_status(bot: Bot, number: int, state: StatusState, description: str) -> None:
    make_client(bot.fake).set_status(REPO, bot.fake.head_sha(REPO, number), CommitStatus("ci/e2e", state, description))


@pytest.mark.parametrize(
    ("config_data", "state", "description", "requested"),
    [
        (WAIT, StatusState.SUCCESS, "all green", True),
        (WAIT, StatusState.FAILURE, "all green", False),
        (WAIT, StatusState.SUCCESS, "mostly green", False),
    ],
    ids=["the-awaited-status-requests-reviews", "another-state-does-not", "another-description-does-not"],
)
async def test_wait_for_status(bot: Bot, owners_repo: FakeForge, state: StatusState, description: str,
                               requested: bool) -> None:
    number = await _open(bot)
    assert owners_repo.reviewers(REPO, number) == set()  # not on open: the status is not there yet
    _post_status(bot, number, state, description)
    await bot.deliver(ci_finished(bot, number))
    assert (owners_repo.reviewers(REPO, number) != set()) is requested


@pytest.mark.parametrize("config_data", [WAIT], ids=["wait"])
async def test_wait_for_status_requests_once(bot: Bot, owners_repo: FakeForge) -> None:
    if owners_repo.name == "gitlab":
        pytest.skip("GitLab keeps MR reviewers after they review, so a second request would change nothing")
    number = await _open(bot)
    _post_status(bot, number, StatusState.SUCCESS, "all green")
    await bot.deliver(ci_finished(bot, number))
    first = owners_repo.reviewers(REPO, number)
    for reviewer in first:  # a submitted review answers the request
        await bot.deliver(owners_repo.review(REPO, number, reviewer, "commented"))
    await bot.deliver(ci_finished(bot, number))
    assert first and owners_repo.reviewers(REPO, number) == set()
