"""trigger's Prow options on both forges: only_org_members and ignore_ok_to_test."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import AUTHOR, COLLAB, REPO, Bot
from tests.fakes.base import FakeForge
from tests.test_trigger_prow_e2e import _open, started

MEMBER = "mia"


def _config(**trigger: bool) -> dict[str, Any]:
    return {
        "jobs": [{"name": "unit", "run": "echo unit", "clone": False}],
        "plugins": {"options": {"trigger": trigger}},
    }


def add_org_member(fake: FakeForge, login: str) -> None:
    """A member of the repository's organisation (GitLab: its top-level group)."""
    if fake.name == "github":
        fake.add_org_member("acme", login)
    else:
        fake.add_group_member("acme", login)


@pytest.mark.parametrize(
    ("config_data", "author", "trusted"),
    [
        (_config(only_org_members=True), COLLAB, False),
        (_config(only_org_members=True), MEMBER, True),
        (_config(), COLLAB, True),
    ],
    ids=["a-collaborator-is-not-trusted", "an-org-member-is-trusted", "collaborators-are-trusted-by-default"],
)
async def test_only_org_members(bot: Bot, author: str, trusted: bool) -> None:
    add_org_member(bot.fake, MEMBER)
    number = await _open(bot, author)
    assert (await started(bot, number) == {"unit"}) is trusted
    assert ("needs-ok-to-test" in bot.fake.labels(REPO, number)) is not trusted


@pytest.mark.parametrize("config_data", [_config(only_org_members=True)], ids=["only-org-members"])
async def test_only_org_members_may_vouch(bot: Bot) -> None:
    add_org_member(bot.fake, MEMBER)
    number = await _open(bot, AUTHOR)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/ok-to-test"))
    assert await started(bot, number) == set()
    assert "can't use `/ok-to-test`" in bot.bot_comments(number)[-1]
    await bot.deliver(bot.fake.comment(REPO, number, MEMBER, "/ok-to-test"))
    assert await started(bot, number) == {"unit"}


@pytest.mark.parametrize(
    ("config_data", "runs"),
    [(_config(ignore_ok_to_test=True), False), (_config(), True)],
    ids=["ignored", "honoured-by-default"],
)
async def test_ignore_ok_to_test(bot: Bot, runs: bool) -> None:
    number = await _open(bot, AUTHOR)
    replies = len(bot.bot_comments(number))
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/ok-to-test"))
    assert (await started(bot, number) == {"unit"}) is runs
    assert ("ok-to-test" in bot.fake.labels(REPO, number)) is runs
    assert len(bot.bot_comments(number)) == replies  # no reply either way


@pytest.mark.parametrize("config_data", [_config(ignore_ok_to_test=True)], ids=["ignored"])
async def test_ignore_ok_to_test_makes_the_label_vouch_for_nothing(bot: Bot) -> None:
    number = await _open(bot, AUTHOR)
    await bot.deliver(bot.fake.label(REPO, number, COLLAB, "ok-to-test"))
    assert await started(bot, number) == set()
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/test unit"))  # a trusted user still may
    assert await started(bot, number) == {"unit"}
