"""/skip and /override on both forges: statuses of the PR/MR head, read back from the fakes."""

from __future__ import annotations

from typing import Any

import pytest

from bot.forge.base import CommitStatus, Permission, StatusState
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot, make_client

ADMIN, TRUSTED = "ada", "tess"


@pytest.fixture
def config_data() -> dict[str, Any]:
    # Jobs that never start by themselves: the tests post their statuses.
    return {
        "jobs": [
            {"name": "unit", "run": "true", "clone": False, "always_run": False},
            {"name": "lint", "run": "true", "clone": False, "always_run": False, "optional": True},
            {"name": "docs", "run": "true", "clone": False, "always_run": False, "optional": True},
            {"name": "e2e", "run": "true", "clone": False, "always_run": False, "optional": True},
        ],
        "plugins": {"options": {"override": {"allowed_users": [TRUSTED]}}},
    }


def latest(bot: Bot, sha: str) -> dict[str, tuple[str, str]]:
    """context → (state, description) of the latest status per context."""
    out: dict[str, tuple[str, str]] = {}
    for context, state, description, _ in bot.fake.statuses(REPO, sha):
        out[context] = (state, description or "")
    return out


async def _pull_with_statuses(bot: Bot, statuses: dict[str, StatusState]) -> tuple[int, str]:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    sha = bot.fake.head_sha(REPO, number)
    client = make_client(bot.fake)
    for context, state in statuses.items():
        client.set_status(REPO, sha, CommitStatus(context, state, "from CI"))
    return number, sha


def _ok(bot: Bot) -> str:
    return "success"


def _failed(bot: Bot) -> str:
    return "failure" if bot.fake.name == "github" else "failed"


async def test_skip_marks_optional_jobs_that_did_not_succeed(bot: Bot) -> None:
    number, sha = await _pull_with_statuses(bot, {
        "unit": StatusState.FAILURE,  # required: stays red
        "lint": StatusState.FAILURE,  # optional, failed: skipped
        "docs": StatusState.SUCCESS,  # already green: untouched
        "e2e": StatusState.FAILURE,  # optional, but re-tested in the same comment: left to that run
        "external": StatusState.FAILURE,  # not a job of ours: untouched
    })
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/skip\n/test e2e"))
    states = latest(bot, sha)
    assert states["lint"] == (_ok(bot), "Skipped")
    assert states["unit"][0] == _failed(bot) and states["external"][0] == _failed(bot)
    assert states["docs"] == (_ok(bot), "from CI")
    assert states["e2e"][1] != "Skipped"


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(ADMIN, True), (TRUSTED, True), (COLLAB, False)],
    ids=["an-administrator", "a-configured-user", "a-collaborator-is-refused"],
)
async def test_override_marks_a_failing_context_passed(bot: Bot, who: str, allowed: bool) -> None:
    bot.fake.set_permission(REPO, ADMIN, Permission.ADMIN)
    number, sha = await _pull_with_statuses(bot, {"external-ci": StatusState.FAILURE})
    await bot.deliver(bot.fake.comment(REPO, number, who, "/override external-ci"))
    state, description = latest(bot, sha)["external-ci"]
    if allowed:
        assert (state, description) == (_ok(bot), f"Overridden by {who}")
        assert not any("override" in c for c in bot.bot_comments(number))
    else:
        assert state == _failed(bot)
        assert "only repository administrators" in bot.bot_comments(number)[-1]


async def test_override_of_an_unknown_context_changes_nothing(bot: Bot) -> None:
    bot.fake.set_permission(REPO, ADMIN, Permission.ADMIN)
    number, sha = await _pull_with_statuses(bot, {"external-ci": StatusState.FAILURE})
    await bot.deliver(bot.fake.comment(REPO, number, ADMIN, "/override external-ci nope"))
    assert latest(bot, sha)["external-ci"][0] == _failed(bot)
    reply = bot.bot_comments(number)[-1]
    assert "`nope`" in reply and "`external-ci`" in reply
