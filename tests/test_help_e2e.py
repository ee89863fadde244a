"""Prow's help plugin on issues, on both forges; /help on a PR/MR still lists the commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot

HELP, GFI = "help wanted", "good first issue"


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"options": {"help": {"guidelines_url": "https://example.com/help-wanted.md"}}}}


@dataclass(frozen=True)
class Case:
    name: str
    body: str
    labels: set[str]
    reply: str | None = None  # in the bot's only reply; None: no reply
    seed: list[str] = field(default_factory=list)
    closed: bool = False


CASES = [
    Case("help adds help wanted with the guidelines", "/help", {HELP},
         "marked as needing help from a contributor.\n\nPlease ensure the request meets the requirements listed "
         "[here](https://example.com/help-wanted.md)"),
    Case("help again does nothing", "/help", {HELP}, seed=[HELP]),
    Case("good-first-issue adds both labels", "/good-first-issue", {HELP, GFI},
         "marked as suitable for new contributors"),
    Case("good-first-issue keeps help wanted", "/good-first-issue", {HELP, GFI}, "suitable for new contributors",
         seed=[HELP]),
    Case("remove-help removes both", "/remove-help", set(), seed=[HELP, GFI]),
    Case("remove-good-first-issue removes only it", "/remove-good-first-issue", {HELP}, seed=[HELP, GFI]),
    Case("remove-help without the label does nothing", "/remove-help", {GFI}, seed=[GFI]),
    Case("closed issue is left alone", "/help", set(), closed=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_help_on_issues(bot: Bot, case: Case) -> None:
    fake = bot.fake
    number, opened = fake.open_issue(REPO, author=AUTHOR)
    await bot.deliver(opened)
    if case.seed:
        fake.set_labels(REPO, number, case.seed)
    if case.closed:
        await bot.deliver(fake.comment(REPO, number, AUTHOR, "/prow-close"))
    before = len(bot.bot_comments(number))
    await bot.deliver(fake.comment(REPO, number, OUTSIDER, case.body))
    assert fake.labels(REPO, number) == case.labels
    replies = bot.bot_comments(number)[before:]
    if case.reply is None:
        assert replies == []
    else:
        (reply,) = replies
        assert case.reply in reply


async def test_help_wanted_commands_are_for_issues(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/good-first-issue"))
    (reply,) = bot.bot_comments(number)
    assert "`/good-first-issue` only works on issues." in reply
    assert fake.labels(REPO, number) == set()
