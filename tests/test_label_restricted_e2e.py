"""label.restricted_labels on both forges: allowed users and teams, and assign_on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AUTHOR, COLLAB, OTHER, OUTSIDER, REPO, Bot
from tests.test_forge_contract import add_team_member

URGENT = "priority/critical-urgent"


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"options": {"label": {"restricted_labels": [
        {"label": URGENT, "allowed_users": [OTHER], "allowed_teams": ["release"],
         "assign_on": [{"label": "needs-docs"}]},
    ]}}}}


async def _pull(bot: Bot, labels: tuple[str, ...] = ()) -> int:
    add_team_member(bot.fake, "acme", "release", OUTSIDER)  # not even a collaborator
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    if labels:
        bot.fake.set_labels(REPO, number, labels)
    return number


@pytest.mark.parametrize(
    ("who", "command", "seeded", "labels", "reply"),
    [
        (OTHER, f"/label {URGENT}", (), {URGENT}, None),
        (OUTSIDER, "/priority critical-urgent", (), {URGENT}, None),
        (COLLAB, f"/label {URGENT}", (), set(), "only members of the teams `release` or one of `bob` may add"),
        (COLLAB, f"/remove-label {URGENT}", (URGENT,), {URGENT}, "may add or remove the `priority/critical-urgent`"),
        (OUTSIDER, f"/remove-label {URGENT}", (URGENT,), set(), None),
    ],
    ids=["an-allowed-user-adds", "a-team-member-adds", "anyone-else-is-refused", "and-may-not-remove",
         "a-team-member-removes"],
)
async def test_who_may_change_a_restricted_label(bot: Bot, who: str, command: str, seeded: tuple[str, ...],
                                                 labels: set[str], reply: str | None) -> None:
    number = await _pull(bot, seeded)
    await bot.deliver(bot.fake.comment(REPO, number, who, command))
    assert bot.fake.labels(REPO, number) == labels
    comments = bot.bot_comments(number)
    if reply:
        assert reply in comments[-1]
    else:
        assert comments == []


@pytest.mark.parametrize("by_hand", [False, True], ids=["by-label-command", "by-a-person-in-the-ui"])
async def test_assign_on_assigns_the_allowed_users(bot: Bot, by_hand: bool) -> None:
    number = await _pull(bot)
    if by_hand:
        await bot.deliver(bot.fake.label(REPO, number, COLLAB, "needs-docs"))
    else:
        await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/label needs-docs"))
    assert "needs-docs" in bot.fake.labels(REPO, number)
    assert bot.fake.assignees(REPO, number) == {OTHER}


async def test_other_labels_assign_nobody(bot: Bot) -> None:
    number = await _pull(bot)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/kind bug"))
    assert bot.fake.assignees(REPO, number) == set()
