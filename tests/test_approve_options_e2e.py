"""approve's Prow options on both forges: lgtm_acts_as_approve and issue_required."""

from __future__ import annotations

from typing import Any

import pytest

from bot.forge.base import ChangedFile, Permission
from plugins.approve import associated_issue
from tests.conftest import AUTHOR, REPO, Bot, typed
from tests.fakes.base import FakeForge

MARKER = "<!-- prowlet:approval-status -->"
APPROVER = "ray"


def _options(**approve: bool) -> dict[str, Any]:
    return {"plugins": {"options": {"approve": approve}}}


@pytest.fixture
def owners_repo(fake: FakeForge) -> FakeForge:
    fake.set_permission(REPO, APPROVER, Permission.WRITE)
    fake.set_file(REPO, "OWNERS", f"approvers: [{APPROVER}]\n")
    return fake


async def _pull(bot: Bot, body: str = "") -> int:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR, body=body, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    return number


def _status(bot: Bot, number: int) -> str:
    return [c for c in bot.bot_comments(number) if c.startswith(MARKER)][-1]


@pytest.mark.parametrize(
    ("config_data", "comments", "approved"),
    [
        (_options(lgtm_acts_as_approve=True), ["/lgtm"], True),
        (_options(lgtm_acts_as_approve=True), ["/lgtm", "/lgtm cancel"], False),
        (_options(lgtm_acts_as_approve=True), ["/approve", "/remove-lgtm"], False),
        (_options(), ["/lgtm"], False),
    ],
    ids=["lgtm-approves", "lgtm-cancel-withdraws", "remove-lgtm-withdraws-an-approve", "off-by-default"],
)
async def test_lgtm_acts_as_approve(bot: Bot, owners_repo: FakeForge, comments: list[str], approved: bool) -> None:
    number = await _pull(bot)
    for body in comments:
        await bot.deliver(owners_repo.comment(REPO, number, APPROVER, typed(owners_repo.name, body)))
    assert ("approved" in owners_repo.labels(REPO, number)) is approved


def _issue_link(forge: str) -> str:
    return "https://example.com/acme/other/issues/7" if forge == "github" else "https://example.com/acme/other/-/issues/7"


@pytest.mark.parametrize(
    ("config_data", "body", "command", "approved", "says"),
    [
        (_options(issue_required=True), "Fixes #12", "/approve", True, "Associated issue: #12."),
        (_options(issue_required=True), "link", "/approve", True, "Associated issue: #7."),
        (_options(issue_required=True), "No issue here.", "/approve", False, "**Needs an associated issue**"),
        (_options(issue_required=True), "", "/approve no-issue", True, "approved with `/approve no-issue`"),
        (_options(), "", "/approve", True, None),
    ],
    ids=["an-issue-number-in-the-description", "a-link-to-an-issue-of-the-org", "no-issue-is-not-approved",
         "an-approver-waives-it-with-no-issue", "not-required-by-default"],
)
async def test_issue_required(bot: Bot, owners_repo: FakeForge, body: str, command: str, approved: bool,
                              says: str | None) -> None:
    number = await _pull(bot, _issue_link(owners_repo.name) if body == "link" else body)
    await bot.deliver(owners_repo.comment(REPO, number, APPROVER, typed(owners_repo.name, command)))
    assert ("approved" in owners_repo.labels(REPO, number)) is approved
    status = _status(bot, number)
    assert ("is **APPROVED**" in status) is approved
    if says:
        assert says in status
    else:
        assert "issue" not in status.lower()


@pytest.mark.parametrize(
    ("body", "issue"),
    [("Fixes #12", 12), ("see acme/widgets/issues/4", 4), ("acme/w/-/issues/5", 5), ("other/w/issues/6", None),
     ("nothing", None)],
    ids=["hash-number", "github-link", "gitlab-link", "another-orgs-link", "none"],
)
def test_associated_issue(body: str, issue: int | None) -> None:
    assert associated_issue(body, "acme") == issue
