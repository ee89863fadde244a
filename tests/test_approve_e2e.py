"""Approval beyond the basics, on both forges end to end: a change larger than the forge lists
cannot be approved (Prow's bypass), approvals in review bodies, manual `approved`, the author's
implicit approval withdrawn."""

from __future__ import annotations

import pytest

from bot.forge.base import ChangedFile, Permission
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed
from tests.fakes.base import FakeForge

MARKER = "<!-- prowlet:approval-status -->"
ROOT_APPROVER = "ray"


@pytest.fixture
def owners_repo(fake: FakeForge) -> FakeForge:
    fake.set_permission(REPO, ROOT_APPROVER, Permission.WRITE)
    fake.set_file(REPO, "OWNERS", f"approvers: [{ROOT_APPROVER}]\n")
    return fake


def _listing_limit(fake: FakeForge) -> int:
    """How many files the forge lists for one PR/MR: GitHub's fixed 3,000; on GitLab the instance's
    diff_max_files (lowered here so the test stays small)."""
    if fake.name == "github":
        return 3000
    fake.diff_max_files = 40  # type: ignore[attr-defined]
    return 40


def _status(bot: Bot, number: int) -> list[str]:
    return [c for c in bot.bot_comments(number) if c.startswith(MARKER)]


@pytest.mark.parametrize(
    ("extra", "approved"),
    [(0, True), (1, False)],
    ids=["exactly-as-many-files-as-the-forge-lists-is-approved", "one-file-more-is-never-approved"],
)
async def test_a_change_larger_than_the_forge_lists_is_not_approved(
    bot: Bot, owners_repo: FakeForge, extra: int, approved: bool
) -> None:
    count = _listing_limit(owners_repo) + extra
    files = [ChangedFile(f"src/f{i}.go") for i in range(count)]
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=files)
    await bot.deliver(opened)
    await bot.deliver(owners_repo.comment(REPO, number, ROOT_APPROVER, typed(owners_repo.name, "/approve")))
    assert ("approved" in owners_repo.labels(REPO, number)) is approved
    (status,) = _status(bot, number)
    if approved:
        assert "is **APPROVED**" in status
    else:
        assert "**NOT APPROVED**" in status and "Split it into smaller" in status
        assert f"more than the forge's API lists ({count - 1})" in status


async def test_a_truncated_change_loses_an_earlier_approval(bot: Bot, owners_repo: FakeForge) -> None:
    limit = _listing_limit(owners_repo)
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    await bot.deliver(owners_repo.comment(REPO, number, ROOT_APPROVER, typed(owners_repo.name, "/approve")))
    assert "approved" in owners_repo.labels(REPO, number)
    owners_repo.set_changed_files(REPO, number, [ChangedFile(f"src/f{i}.go") for i in range(limit + 5)])
    await bot.deliver(owners_repo.push(REPO, number, AUTHOR))
    assert "approved" not in owners_repo.labels(REPO, number)
    (status,) = _status(bot, number)
    assert "**NOT APPROVED**" in status


@pytest.mark.parametrize(
    ("state", "body", "approved"),
    [
        ("approved", "", True),
        ("approved", "/approve cancel", False),
        ("changes_requested", "/approve", True),
        ("commented", "/approve", True),
        ("commented", "/approve\n/approve cancel", False),
        ("approved", "/remove-approve", False),
    ],
    ids=[
        "approve-review-approves",
        "cancel-in-an-approve-review-wins-over-its-state",
        "approve-in-a-changes-requested-review-wins-over-its-state",
        "approve-in-a-comment-review-approves",
        "the-last-command-in-a-review-body-counts",
        "remove-approve-in-an-approve-review",
    ],
)
async def test_commands_in_a_review_body_count_after_its_state(
    bot: Bot, owners_repo: FakeForge, state: str, body: str, approved: bool
) -> None:
    if owners_repo.name == "gitlab":
        pytest.skip("GitLab approvals carry no text")
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    await bot.deliver(owners_repo.review(REPO, number, ROOT_APPROVER, state, body=body))
    assert ("approved" in owners_repo.labels(REPO, number)) is approved


async def test_the_author_withdraws_and_renews_their_implicit_approval(bot: Bot, owners_repo: FakeForge) -> None:
    owners_repo.set_file(REPO, "OWNERS", f"approvers: [{ROOT_APPROVER}, {AUTHOR}]\n")
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    assert "approved" in owners_repo.labels(REPO, number)  # the author owns what they change
    for command, approved in [("/approve cancel", False), ("/approve", True), ("/remove-approve", False)]:
        await bot.deliver(owners_repo.comment(REPO, number, AUTHOR, typed(owners_repo.name, command)))
        assert ("approved" in owners_repo.labels(REPO, number)) is approved, command
    (status,) = _status(bot, number)
    assert "No approvals from approvers yet." in status


async def test_another_users_cancel_leaves_the_authors_implicit_approval(bot: Bot, owners_repo: FakeForge) -> None:
    owners_repo.set_file(REPO, "OWNERS", f"approvers: [{ROOT_APPROVER}, {AUTHOR}]\n")
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    await bot.deliver(owners_repo.comment(REPO, number, ROOT_APPROVER, typed(owners_repo.name, "/approve cancel")))
    assert "approved" in owners_repo.labels(REPO, number)


async def test_approved_added_by_hand_is_a_kept_override(bot: Bot, owners_repo: FakeForge) -> None:
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    await bot.deliver(owners_repo.label(REPO, number, COLLAB, "approved"))
    assert "approved" in owners_repo.labels(REPO, number)
    (status,) = _status(bot, number)
    assert f"is **APPROVED** by hand: @{COLLAB} added the `approved` label" in status
    assert "Suggested approvers: @ray" in status  # what approval would need without the override
    # later events keep it
    await bot.deliver(owners_repo.comment(REPO, number, COLLAB, typed(owners_repo.name, "/approve cancel")))
    assert "approved" in owners_repo.labels(REPO, number)
    # removing the label ends the override
    await bot.deliver(owners_repo.label(REPO, number, COLLAB, "approved", add=False))
    assert "approved" not in owners_repo.labels(REPO, number)
    (status,) = _status(bot, number)
    assert "**NOT APPROVED**" in status and "by hand" not in status


async def test_approved_the_bot_added_is_no_override(bot: Bot, owners_repo: FakeForge) -> None:
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(opened)
    await bot.deliver(owners_repo.comment(REPO, number, ROOT_APPROVER, typed(owners_repo.name, "/approve")))
    assert "approved" in owners_repo.labels(REPO, number)
    await bot.deliver(owners_repo.comment(REPO, number, ROOT_APPROVER, typed(owners_repo.name, "/approve cancel")))
    assert "approved" not in owners_repo.labels(REPO, number)


async def test_a_truncated_change_can_be_approved_by_hand(bot: Bot, owners_repo: FakeForge) -> None:
    limit = _listing_limit(owners_repo)
    files = [ChangedFile(f"src/f{i}.go") for i in range(limit + 1)]
    number, opened = owners_repo.open_pull(REPO, author=AUTHOR, files=files)
    await bot.deliver(opened)
    await bot.deliver(owners_repo.label(REPO, number, COLLAB, "approved"))
    assert "approved" in owners_repo.labels(REPO, number)
    (status,) = _status(bot, number)
    assert "by hand" in status and "more than the forge's API lists" in status
