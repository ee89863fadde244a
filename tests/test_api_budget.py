"""Forge API calls per command on a warm cache: the forge's write budget, not CPU, bounds the bot.

The README states these numbers; raising one should be a decision, not an accident.
"""

from __future__ import annotations

import pytest

from bot.forge.base import ChangedFile, Permission
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed

# (command, at most this many requests on GitHub, on GitLab)
BUDGET = [
    ("/lgtm", 4, 4),  # read PR, base branch head (OWNERS decide who may), permission, add label
    ("/hold", 1, 1),  # anyone may: just add the label
    ("/kind bug", 2, 2),  # read the item's labels + add label (label list cached; anyone may, as in Prow)
    ("/assign @bob", 1, 3),  # assign: anyone may, as in Prow (GitLab: read MR, resolve user, update)
]


@pytest.mark.parametrize("command,github,gitlab", BUDGET, ids=[b[0] for b in BUDGET])
async def test_calls_per_command(bot: Bot, command: str, github: int, gitlab: int) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    # Warm up: the bot's own login, the repository's labels and the user ids are cached by now.
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, "/label needs-docs\n/assign @carl")))
    before = len(fake.requests)
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, command)))
    calls = fake.requests[before:]
    limit = github if fake.name == "github" else gitlab
    assert len(calls) <= limit, [f"{c.method} {c.path}" for c in calls]
    assert bot.bot_comments(number) == []  # no error replies: the command really ran


async def test_calls_per_approve(bot: Bot) -> None:
    """One /approve on a warm cache (OWNERS files and changed files are cached by sha)."""
    fake = bot.fake
    for login in ("ray",):
        fake.set_permission(REPO, login, Permission.WRITE)
    fake.set_file(REPO, "OWNERS", "approvers: [ray]\n")
    fake.set_file(REPO, "pkg/OWNERS", "approvers: [carl]\n")
    number, opened = fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile("pkg/a.go"), ChangedFile("b.go")])
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/approve"))  # warms the caches
    before = len(fake.requests)
    await bot.deliver(fake.comment(REPO, number, "ray", "/approve"))
    calls = [f"{c.method} {c.path}" for c in fake.requests[before:]]
    assert "approved" in fake.labels(REPO, number)
    # read PR, base head, comments, reviews, add label, edit status comment
    assert len(calls) <= 6, calls
