"""OWNERS, /approve, blunderbuss and OWNERS checks on both forges, end to end."""

from __future__ import annotations

import pytest

from bot.forge.base import ChangedFile, Permission
from tests.conftest import AUTHOR, COLLAB, OTHER, REPO, Bot, typed
from tests.fakes.base import FakeForge

ROOT_APPROVER, LEGACY_APPROVER = "ray", "lee"
OWNERS = {
    "OWNERS": "approvers: [ray]\nreviewers: [rita]\n",
    "pkg/api/OWNERS": "approvers: [carl]\nreviewers: [bob]\nlabels: [area/api]\n",
    "pkg/legacy/OWNERS": "options:\n  no_parent_owners: true\napprovers: [lee]\n",
}
API_FILE, ROOT_FILE, LEGACY_FILE = "pkg/api/server.go", "README.md", "pkg/legacy/old.go"
MARKER = "<!-- prowlet:approval-status -->"


@pytest.fixture
def owners_repo(fake: FakeForge) -> FakeForge:
    for login in (ROOT_APPROVER, LEGACY_APPROVER, "rita"):
        fake.set_permission(REPO, login, Permission.WRITE)
    for path, text in OWNERS.items():
        fake.set_file(REPO, path, text)
    return fake


async def _open(bot: Bot, *paths: str, author: str = AUTHOR, draft: bool = False, body: str = "") -> int:
    files = [ChangedFile(p) for p in paths]
    number, opened = bot.fake.open_pull(REPO, author=author, files=files, draft=draft, body=body)
    await bot.deliver(opened)
    return number


async def _say(bot: Bot, number: int, who: str, body: str) -> None:
    await bot.deliver(bot.fake.comment(REPO, number, who, typed(bot.fake.name, body)))


def _status(bot: Bot, number: int) -> list[str]:
    return [c for c in bot.bot_comments(number) if c.startswith(MARKER)]


async def test_partial_approval_does_not_label(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE, ROOT_FILE)
    await _say(bot, number, COLLAB, "/approve")
    assert "approved" not in owners_repo.labels(REPO, number)
    (status,) = _status(bot, number)
    assert "NOT APPROVED" in status and "@carl" in status
    assert "Suggested approvers: @ray" in status


async def test_full_coverage_labels_and_cancel_removes(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE, ROOT_FILE)
    await _say(bot, number, COLLAB, "/approve")
    await _say(bot, number, ROOT_APPROVER, "/approve")
    assert "approved" in owners_repo.labels(REPO, number)
    await _say(bot, number, ROOT_APPROVER, "/approve cancel")
    assert "approved" not in owners_repo.labels(REPO, number)


async def test_root_approver_covers_everything(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE, ROOT_FILE, "docs/guide/intro.md")
    await _say(bot, number, ROOT_APPROVER, "/approve")
    assert "approved" in owners_repo.labels(REPO, number)
    (status,) = _status(bot, number)
    assert "is **APPROVED**" in status


async def test_no_parent_owners_blocks_inherited_approvers(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, LEGACY_FILE)
    await _say(bot, number, ROOT_APPROVER, "/approve")
    assert "approved" not in owners_repo.labels(REPO, number)
    await _say(bot, number, LEGACY_APPROVER, "/approve")
    assert "approved" in owners_repo.labels(REPO, number)


async def test_approvals_from_non_approvers_do_nothing(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE)
    await _say(bot, number, OTHER, "/approve")  # bob: a reviewer, not an approver
    assert "approved" not in owners_repo.labels(REPO, number)
    assert any("only approvers" in c for c in bot.bot_comments(number))


async def test_status_comment_is_edited_not_duplicated(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE, ROOT_FILE)
    await _say(bot, number, COLLAB, "/approve")
    first = _status(bot, number)
    await _say(bot, number, ROOT_APPROVER, "/approve")
    second = _status(bot, number)
    assert len(first) == len(second) == 1 and first != second


async def test_author_approves_what_they_own(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE, author=COLLAB)
    assert "approved" in owners_repo.labels(REPO, number)


async def test_review_approval_counts_as_approve(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE, ROOT_FILE)
    await bot.deliver(owners_repo.review(REPO, number, ROOT_APPROVER, "approved"))
    assert "approved" in owners_repo.labels(REPO, number)


async def test_reviewers_requested_on_open(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE)
    reviewers = owners_repo.reviewers(REPO, number)
    assert "bob" in reviewers and AUTHOR not in reviewers and len(reviewers) == 2


async def test_no_reviewers_requested_for_drafts_or_when_body_has_cc(bot: Bot, owners_repo: FakeForge) -> None:
    draft = await _open(bot, API_FILE, draft=True)
    assert owners_repo.reviewers(REPO, draft) == set()
    chosen = await _open(bot, API_FILE, author=OTHER, body=typed(owners_repo.name, "/cc @rita"))
    assert owners_repo.reviewers(REPO, chosen) == {"rita"}


async def test_owners_labels_are_applied(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE)
    assert "area/api" in owners_repo.labels(REPO, number)


async def test_lgtm_is_for_owners_reviewers(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE)
    await _say(bot, number, LEGACY_APPROVER, "/lgtm")  # a collaborator, but not in pkg/api's OWNERS chain
    assert "lgtm" not in owners_repo.labels(REPO, number)
    await _say(bot, number, OTHER, "/lgtm")  # bob reviews pkg/api
    assert "lgtm" in owners_repo.labels(REPO, number)


async def test_invalid_owners_in_a_pr_is_labelled_until_fixed(bot: Bot, owners_repo: FakeForge) -> None:
    fake = owners_repo
    number = await _open(bot, "pkg/api/OWNERS")
    assert "do-not-merge/invalid-owners-file" not in fake.labels(REPO, number)
    fake.set_file(REPO, "pkg/api/OWNERS", "approvers: carl\n", branch=fake.head_branch(REPO, number))  # not a list
    await bot.deliver(fake.push(REPO, number, pusher=AUTHOR))
    assert "do-not-merge/invalid-owners-file" in fake.labels(REPO, number)
    (report,) = [c for c in bot.bot_comments(number) if "prowlet:verify-owners" in c]
    assert "pkg/api/OWNERS" in report
    fake.set_file(REPO, "pkg/api/OWNERS", "approvers: [carl]\n", branch=fake.head_branch(REPO, number))
    await bot.deliver(fake.push(REPO, number, pusher=AUTHOR))
    assert "do-not-merge/invalid-owners-file" not in fake.labels(REPO, number)
    (report,) = [c for c in bot.bot_comments(number) if "prowlet:verify-owners" in c]  # edited, not re-posted
    assert "valid again" in report


async def test_invalid_owners_on_the_base_branch_is_explained(bot: Bot, owners_repo: FakeForge) -> None:
    owners_repo.set_file(REPO, "pkg/api/OWNERS", "approvers: [carl\n")  # broken YAML
    number = await _open(bot, API_FILE)
    await _say(bot, number, ROOT_APPROVER, "/approve")
    (status,) = _status(bot, number)
    assert "pkg/api/OWNERS" in status and "invalid" in status
    assert "approved" not in owners_repo.labels(REPO, number)


async def test_withdrawing_a_review_approval(bot: Bot, owners_repo: FakeForge) -> None:
    """GitHub: "Request changes" after "Approve" withdraws it; GitLab: the native unapproval does."""
    number = await _open(bot, API_FILE, ROOT_FILE)
    await bot.deliver(owners_repo.review(REPO, number, ROOT_APPROVER, "approved"))
    assert "approved" in owners_repo.labels(REPO, number)
    withdraw = "changes_requested" if owners_repo.name == "github" else "unapproved"
    await bot.deliver(owners_repo.review(REPO, number, ROOT_APPROVER, withdraw))
    assert "approved" not in owners_repo.labels(REPO, number)


async def test_new_approver_set_on_the_base_branch_is_followed(bot: Bot, owners_repo: FakeForge) -> None:
    number = await _open(bot, API_FILE)
    await _say(bot, number, COLLAB, "/approve")
    assert "approved" in owners_repo.labels(REPO, number)
    owners_repo.set_file(REPO, "pkg/api/OWNERS", "approvers: [lee]\n")  # carl is no longer an approver
    await bot.deliver(owners_repo.push(REPO, number, pusher=AUTHOR))
    assert "approved" not in owners_repo.labels(REPO, number)
