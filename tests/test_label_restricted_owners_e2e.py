"""restricted_labels' allow_approvers_from_owners and remove_on_new_commits on both forges (Prow's
label plugin options)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.forge.base import ChangedFile
from tests.conftest import AUTHOR, COLLAB, OTHER, REPO, Bot

RELEASE = "restricted-label"  # one of the seeded labels
API_APPROVER, ROOT_APPROVER = "apia", "rooty"


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"options": {"label": {"restricted_labels": [
        {"label": RELEASE, "allowed_users": [OTHER], "allow_approvers_from_owners": True,
         "remove_on_new_commits": True},
        {"label": "needs-docs", "allowed_users": [OTHER]},  # neither option: stays on new commits
    ]}}}}


async def _pull(bot: Bot, files: list[str], labels: tuple[str, ...] = ()) -> int:
    fake = bot.fake
    fake.set_file(REPO, "OWNERS", f"approvers: [{ROOT_APPROVER}]\n")
    fake.set_file(REPO, "pkg/api/OWNERS", f"approvers: [{API_APPROVER}]\n")
    number, opened = fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile(f) for f in files])
    await bot.deliver(opened)
    if labels:
        fake.set_labels(REPO, number, labels)
    return number


@pytest.mark.parametrize(
    ("who", "files", "command", "seeded", "labels", "refused"),
    [
        (API_APPROVER, ["pkg/api/a.go"], f"/label {RELEASE}", (), {RELEASE}, False),
        (ROOT_APPROVER, ["pkg/api/a.go", "README.md"], f"/label {RELEASE}", (), {RELEASE}, False),
        (API_APPROVER, ["pkg/api/a.go"], f"/remove-label {RELEASE}", (RELEASE,), set(), False),
        (API_APPROVER, ["pkg/api/a.go", "README.md"], f"/label {RELEASE}", (), set(), True),
        (COLLAB, ["pkg/api/a.go"], f"/label {RELEASE}", (), set(), True),
        (API_APPROVER, [], f"/label {RELEASE}", (), set(), True),
        (API_APPROVER, ["pkg/api/a.go"], "/label needs-docs", (), set(), True),
    ],
    ids=["approver-of-every-file-adds", "root-approver-covers-all", "approver-removes",
         "approver-of-some-files-refused", "non-approver-refused", "no-changed-files-grant-nothing",
         "other-restricted-labels-unaffected"],
)
async def test_owners_approvers_may_change_the_label(bot: Bot, who: str, files: list[str], command: str,
                                                     seeded: tuple[str, ...], labels: set[str], refused: bool) -> None:
    number = await _pull(bot, files, seeded)
    before = len(bot.bot_comments(number))  # the approve plugin's status comment
    await bot.deliver(bot.fake.comment(REPO, number, who, command))
    assert bot.fake.labels(REPO, number) == labels
    comments = bot.bot_comments(number)[before:]
    if refused:
        assert len(comments) == 1 and "may add or remove the" in comments[0]
    else:
        assert comments == []


async def test_refusal_names_the_owners_route(bot: Bot) -> None:
    number = await _pull(bot, ["README.md"])
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, f"/label {RELEASE}"))
    assert "or an OWNERS approver of every file this change touches" in bot.bot_comments(number)[-1]


async def test_new_commits_remove_only_labels_marked_so(bot: Bot) -> None:
    number = await _pull(bot, ["pkg/api/a.go"], (RELEASE, "needs-docs", "lgtm"))
    await bot.deliver(bot.fake.push(REPO, number, AUTHOR, files={"pkg/api/a.go": "changed"}))
    assert RELEASE not in bot.fake.labels(REPO, number)
    assert "needs-docs" in bot.fake.labels(REPO, number)
