"""Forge requests per command on a warm cache: the forge's budget, not CPU, bounds the bot.

"Counted" requests are those the forge counts against the rate limit: every request but the 304s
that answer a conditional read whose answer did not change (free on GitHub; GitLab still counts
them).  The README states these numbers; raising one should be a decision, not an accident.
"""

from __future__ import annotations

import pytest

from bot.forge.base import ChangedFile, Permission
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed
from tests.fakes.base import RecordedRequest

# (command, at most this many counted requests on GitHub, on GitLab)
BUDGET = [
    ("/lgtm", 2, 2),  # read PR (base branch head and permission: 304) + add label
    ("/hold", 1, 1),  # anyone may: just add the label
    ("/kind bug", 2, 2),  # read the item's labels + add label (label list cached; anyone may, as in Prow)
    ("/assign @bob", 1, 3),  # assign: anyone may, as in Prow (GitLab: read MR, resolve user, update)
    ("no command here, just words", 0, 0),
]


def _described(calls: list[RecordedRequest]) -> list[str]:
    return [f"{c.method} {c.path} {c.status}" for c in calls]


@pytest.mark.parametrize("command,github,gitlab", BUDGET, ids=[b[0] for b in BUDGET])
async def test_requests_per_command(bot: Bot, command: str, github: int, gitlab: int) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    # Warm up: the bot's own login, the repository's labels, the user ids and the validators of
    # the reads (ETags) are kept by now.
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, "/label needs-docs\n/assign @carl")))
    before = len(fake.requests)
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, command)))
    calls = fake.requests[before:]
    limit = github if fake.name == "github" else gitlab
    assert sum(c.counted for c in calls) <= limit, _described(calls)
    assert sum(c.method != "GET" for c in calls) <= 1, _described(calls)  # at most one write
    assert bot.bot_comments(number) == []  # no error replies: the command really ran


async def test_requests_per_approve(bot: Bot) -> None:
    """One /approve on a warm cache (OWNERS files and changed files are pinned by sha)."""
    fake = bot.fake
    fake.set_permission(REPO, "ray", Permission.WRITE)
    fake.set_file(REPO, "OWNERS", "approvers: [ray]\n")
    fake.set_file(REPO, "pkg/OWNERS", "approvers: [carl]\n")
    number, opened = fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile("pkg/a.go"), ChangedFile("b.go")])
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, COLLAB, typed(fake.name, "/approve")))  # warms the caches
    before = len(fake.requests)
    await bot.deliver(fake.comment(REPO, number, "ray", typed(fake.name, "/approve")))
    calls = fake.requests[before:]
    assert "approved" in fake.labels(REPO, number)
    # read PR, comments; base head and (GitHub) reviews: 304; (GitLab) no approvals read, as its
    # notes show nobody approved; add label, edit the status comment
    assert sum(c.counted for c in calls) <= 4, _described(calls)
    if fake.name == "gitlab":
        assert not any(c.path.endswith("/approvals") for c in calls), _described(calls)


async def test_requests_per_approve_on_gitlab_once_someone_approved_natively(bot: Bot) -> None:
    """GitLab's approvals are read when the MR's notes show an approval: one more request."""
    fake = bot.fake
    if fake.name != "gitlab":
        pytest.skip("GitLab's native approvals")
    fake.set_permission(REPO, "ray", Permission.WRITE)
    fake.set_file(REPO, "OWNERS", "approvers: [ray, carl]\n")
    number, opened = fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile("b.go")])
    await bot.deliver(opened)
    await bot.deliver(fake.review(REPO, number, COLLAB, "approved"))
    await bot.deliver(fake.comment(REPO, number, "ray", typed(fake.name, "/approve")))  # warms the caches
    before = len(fake.requests)
    await bot.deliver(fake.comment(REPO, number, "ray", typed(fake.name, "/approve")))
    calls = fake.requests[before:]
    assert "approved" in fake.labels(REPO, number)
    assert sum(c.path.endswith("/approvals") for c in calls) == 1, _described(calls)
    assert sum(c.counted for c in calls) <= 5, _described(calls)
