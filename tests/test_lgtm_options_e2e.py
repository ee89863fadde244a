"""lgtm's Prow options on both forges: review_acts_as_lgtm, store_tree_hash (sticky across a push
that keeps the tree) and trusted_team_for_sticky_lgtm.  Webhooks in, labels read back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot
from tests.test_forge_contract import add_team_member

OPTIONS = {"review_acts_as_lgtm": True, "store_tree_hash": True, "trusted_team_for_sticky_lgtm": "core"}


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"options": {"lgtm": OPTIONS}}}


async def _pull(bot: Bot, labels: tuple[str, ...] = ()) -> int:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    # the PR's head has a file of its own, so that a push can keep or change it
    bot.fake.set_file(REPO, "src/a.py", "one", branch=bot.fake.head_branch(REPO, number))
    if labels:
        bot.fake.set_labels(REPO, number, labels)
    return number


def _withdrawal(forge: str) -> str:
    """What takes a review verdict back: GitHub's "Request changes", GitLab's revoked approval."""
    return "changes_requested" if forge == "github" else "unapproved"


@pytest.mark.parametrize(
    ("reviewer", "verdict", "seeded", "labels", "reply"),
    [
        (COLLAB, "approved", (), {"lgtm"}, None),
        (COLLAB, "withdrawn", ("lgtm",), set(), None),
        (OUTSIDER, "approved", (), set(), "your review cannot add `lgtm`: only collaborators"),
    ],
    ids=["an-approving-review-adds-lgtm", "a-withdrawing-review-removes-lgtm", "an-outsiders-approval-is-refused"],
)
async def test_review_acts_as_lgtm(bot: Bot, reviewer: str, verdict: str, seeded: tuple[str, ...],
                                   labels: set[str], reply: str | None) -> None:
    number = await _pull(bot, seeded)
    state = _withdrawal(bot.fake.name) if verdict == "withdrawn" else verdict
    await bot.deliver(bot.fake.review(REPO, number, reviewer, state))
    assert bot.fake.labels(REPO, number) == labels
    comments = bot.bot_comments(number)
    if reply is None:
        assert not any("lgtm" in c for c in comments)
    else:
        assert reply in comments[-1]
    if labels:
        assert reviewer in bot.fake.assignees(REPO, number)  # as /lgtm: the reviewer is assigned


@pytest.mark.parametrize("config_data", [{}], ids=["defaults"])
async def test_reviews_do_not_touch_lgtm_by_default(bot: Bot) -> None:
    number = await _pull(bot)
    await bot.deliver(bot.fake.review(REPO, number, COLLAB, "approved"))
    assert "lgtm" not in bot.fake.labels(REPO, number)


@pytest.mark.parametrize(
    ("files", "in_team", "kept"),
    [
        (None, False, True),
        ({"src/a.py": "two"}, False, False),
        ({"src/a.py": None}, False, False),
        ({"src/a.py": "two"}, True, True),
    ],
    ids=["a-push-keeping-the-tree-keeps-lgtm", "a-changed-file-removes-lgtm", "a-deleted-file-removes-lgtm",
         "the-trusted-teams-author-keeps-lgtm"],
)
async def test_sticky_lgtm(bot: Bot, files: dict[str, str | None] | None, in_team: bool, kept: bool) -> None:
    if in_team:
        add_team_member(bot.fake, "acme", "core", AUTHOR)
    number = await _pull(bot)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/lgtm"))
    await bot.deliver(bot.fake.push(REPO, number, AUTHOR, files=files))
    assert ("lgtm" in bot.fake.labels(REPO, number)) is kept
    assert any("New commits" in c for c in bot.bot_comments(number)) is not kept


@pytest.mark.parametrize("config_data", [{}], ids=["defaults"])
async def test_without_the_options_any_push_removes_lgtm(bot: Bot) -> None:
    number = await _pull(bot, ("lgtm",))
    await bot.deliver(bot.fake.push(REPO, number, AUTHOR))
    assert "lgtm" not in bot.fake.labels(REPO, number)
