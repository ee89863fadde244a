"""/milestone on both forges, as Prow's milestone plugin: configured users and teams only, an unknown
title answered with the open milestones, `clear` clears."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bot.forge.base import Milestone, Permission
from plugins.milestone import find
from tests.conftest import AUTHOR, COLLAB, OTHER, OUTSIDER, REPO, Bot, typed
from tests.test_forge_contract import add_team_member

MAINTAINER = "mia"


@pytest.fixture
def config_data(request: pytest.FixtureRequest) -> dict[str, Any]:
    options = getattr(request, "param", {"allowed_users": [OTHER], "allowed_teams": ["release"]})
    return {"plugins": {"options": {"milestone": options}}}


@dataclass(frozen=True)
class Case:
    name: str
    actor: str
    body: str
    milestone: str | None  # afterwards; the item starts with "v1.0"
    reply: str | None = None
    on_issue: bool = False


CASES = [
    Case("allowed user sets", OTHER, "/milestone v1.1", "v1.1"),
    Case("team member sets", OUTSIDER, "/milestone v1.1", "v1.1"),
    Case("on an issue", OTHER, "/milestone v1.1", "v1.1", on_issue=True),
    Case("title differing in case", OTHER, "/milestone V1.1", "v1.1"),
    Case("title with spaces", OTHER, "/milestone Next release", "Next release"),
    Case("clear", OTHER, "/milestone clear", None),
    Case("same again keeps it", OTHER, "/milestone v1.0", "v1.0"),
    Case("collaborator refused", COLLAB, "/milestone v1.1", "v1.0",
         reply="only the team `release`, `bob` can set the milestone."),
    Case("unknown title lists the open ones", OTHER, "/milestone v9", "v1.0",
         reply="The provided milestone is not valid for this repository. Milestones in this repository: "
               "[`v1.0`, `v1.1`, `Next release`]"),
    Case("closed milestone is unknown", OTHER, "/milestone v0.9", "v1.0", reply="is not valid for this repository"),
]


async def _item(bot: Bot, on_issue: bool) -> int:
    fake = bot.fake
    for title in ("v1.0", "v1.1", "Next release"):
        fake.add_milestone(REPO, title)
    fake.add_milestone(REPO, "v0.9", closed=True)
    add_team_member(fake, "acme", "release", OUTSIDER)  # not even a collaborator
    number, opened = fake.open_issue(REPO, author=AUTHOR) if on_issue else fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, OTHER, typed(fake.name, "/milestone v1.0")))
    assert fake.milestone(REPO, number) == "v1.0"
    return number


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_milestone(bot: Bot, case: Case) -> None:
    number = await _item(bot, case.on_issue)
    before = len(bot.bot_comments(number))
    await bot.deliver(bot.fake.comment(REPO, number, case.actor, typed(bot.fake.name, case.body)))
    assert bot.fake.milestone(REPO, number) == case.milestone
    replies = bot.bot_comments(number)[before:]
    if case.reply is None:
        assert replies == []
    else:
        assert len(replies) == 1 and case.reply in replies[0]


async def test_unknown_title_names_the_clear_command_that_works_here(bot: Bot) -> None:
    number = await _item(bot, on_issue=False)
    await bot.deliver(bot.fake.comment(REPO, number, OTHER, typed(bot.fake.name, "/milestone v9")))
    clear = "/prow-milestone clear" if bot.fake.name == "gitlab" else "/milestone clear"
    assert f"Use `{clear}` to clear the milestone." in bot.bot_comments(number)[-1]


@pytest.mark.parametrize("config_data", [{}], indirect=True, ids=["nobody-configured"])
@pytest.mark.parametrize(("level", "allowed"), [(Permission.MAINTAIN, True), (Permission.WRITE, False)],
                         ids=["maintainer-sets", "writer-refused"])
async def test_without_configured_users_maintainers_set_it(bot: Bot, level: Permission, allowed: bool) -> None:
    fake = bot.fake
    fake.add_milestone(REPO, "v1.0")
    fake.set_permission(REPO, MAINTAINER, level)
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, MAINTAINER, typed(fake.name, "/milestone v1.0")))
    assert fake.milestone(REPO, number) == ("v1.0" if allowed else None)
    assert (bot.bot_comments(number) == []) == allowed


M1, M1_UPPER, M2 = Milestone(1, "v1"), Milestone(2, "V1"), Milestone(3, "v2")


@pytest.mark.parametrize(
    ("milestones", "wanted", "found"),
    [([M1, M2], "v2", M2), ([M1_UPPER, M2], "v1", M1_UPPER), ([M1, M1_UPPER], "V1", M1_UPPER),
     ([M1, M1_UPPER], "v1", M1), ([M1, M1_UPPER, M2], "x", None)],
    ids=["exact", "case-differs", "exact-wins-over-case", "exact-lower", "none"],
)
def test_find(milestones: list[Milestone], wanted: str, found: Milestone | None) -> None:
    assert find(milestones, wanted) == found
