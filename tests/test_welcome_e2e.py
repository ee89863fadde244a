"""welcome on both forges: an author's first PR/MR is greeted with Prow's template."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.welcome import DEFAULT_MESSAGE, WelcomeOptions, render
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot

RENDER = [
    ("prow's default", DEFAULT_MESSAGE, "acme/widgets",
     "Welcome @zed! It looks like this is your first PR to acme/widgets 🎉"),
    ("gitlab subgroups are the org", "{{.Org}} / {{.Repo}}", "group/sub/project", "group/sub / project"),
    ("spaces inside braces", "Hi {{ .AuthorName }}", "a/b", "Hi zed"),
]


@pytest.mark.parametrize(("name", "template", "repo", "expected"), RENDER, ids=[r[0] for r in RENDER])
def test_render(name: str, template: str, repo: str, expected: str) -> None:
    assert render(template, "zed", repo) == expected


def test_unknown_template_fields_are_refused() -> None:
    assert WelcomeOptions(message_template="Hi {{.Author}}").check()[0][0] == "message_template"


@pytest.fixture
def config_data(request: pytest.FixtureRequest) -> dict[str, Any]:
    always = getattr(request, "param", False)
    return {"plugins": {"enabled": ["welcome"], "options": {"welcome": {"always_post": always}}}}


def _welcomes(bot: Bot, number: int) -> list[str]:
    return [c for c in bot.bot_comments(number) if c.startswith("Welcome @")]


async def test_a_first_pr_is_welcomed_once(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=OUTSIDER)
    await bot.deliver(opened)
    (welcome,) = _welcomes(bot, number)
    assert welcome.startswith(f"Welcome @{OUTSIDER}! It looks like this is your first PR to {REPO}")
    second, opened = bot.fake.open_pull(REPO, author=OUTSIDER)
    await bot.deliver(opened)
    assert _welcomes(bot, second) == []


async def test_an_issue_before_does_not_count(bot: Bot) -> None:
    bot.fake.open_pull(REPO, author=OUTSIDER)  # GitLab numbers issues apart: keep the numbers distinct
    bot.fake.open_issue(REPO, author=AUTHOR)
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    assert len(_welcomes(bot, number)) == 1


async def test_trusted_authors_are_not_welcomed(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=COLLAB)
    await bot.deliver(opened)
    assert _welcomes(bot, number) == []


@pytest.mark.parametrize("config_data", [True], indirect=True, ids=["always_post"])
async def test_always_post_welcomes_everyone(bot: Bot) -> None:
    for author in (COLLAB, COLLAB):
        number, opened = bot.fake.open_pull(REPO, author=author)
        await bot.deliver(opened)
        assert len(_welcomes(bot, number)) == 1
