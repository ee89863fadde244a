"""/cc @org/team: a team review request on GitHub, a clear answer on GitLab (no team reviewers)."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.conftest import AUTHOR, COLLAB, OTHER, REPO, Bot, typed


class Case(NamedTuple):
    name: str
    comments: list[str]
    github_teams: set[str]  # team reviewers afterwards (GitHub)
    reviewers: set[str]  # user reviewers afterwards (both forges)
    github_reply: str | None  # a phrase of the bot's last reply, None: no reply
    gitlab_reply: str | None


CASES = [
    Case("cc a team", ["/cc @acme/reviewers"], {"reviewers"}, set(), None, "has no team reviewers here"),
    Case("cc a team without the @", ["/cc acme/reviewers"], {"reviewers"}, set(), None, "has no team reviewers"),
    Case("cc a person and a team", ["/cc @bob @acme/reviewers"], {"reviewers"}, {OTHER}, None, "`acme/reviewers`"),
    Case("uncc a team", ["/cc @acme/reviewers", "/uncc @acme/reviewers"], set(), set(), None, "has no team"),
    Case("cc a team without access", ["/cc @acme/ghosts"], set(), set(), "couldn't request a review from `acme/ghosts`",
         "has no team reviewers"),
    Case("cc another organisation's team", ["/cc @elsewhere/reviewers"], set(), set(),
         "couldn't request a review from `elsewhere/reviewers`", "has no team reviewers"),
    Case("a malformed team is no command", ["/cc @acme/"], set(), set(), None, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_cc_teams(bot: Bot, case: Case) -> None:
    fake: Any = bot.fake
    if fake.name == "github":
        fake.add_team("acme", "reviewers", repos=[REPO])
        fake.add_team("acme", "ghosts")  # a team of the org with no access to the repository
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    for body in case.comments:
        await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, body)))
    assert fake.reviewers(REPO, number) == case.reviewers
    if fake.name == "github":
        assert fake.team_reviewers(REPO, number) == case.github_teams
    reply = case.github_reply if fake.name == "github" else case.gitlab_reply
    replies = bot.bot_comments(number)
    if reply is None:
        assert replies == []
    else:
        assert reply in replies[-1]
