"""Prow's presubmit options for built-in jobs on both forges: branches / skip_branches, a status
context apart from the name, skip_report and a custom trigger regex."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bot.app import RUNNER_KEY
from bot.ci.jobs import JobSpec
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot
from tests.test_trigger_e2e import FINAL, settle
from tests.test_trigger_prow_e2e import _open, started


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"jobs": [
        {"name": "unit", "run": "true", "clone": False, "context": "ci/unit"},
        {"name": "release", "run": "true", "clone": False, "branches": ["release-.*"]},
        {"name": "not-main", "run": "true", "clone": False, "skip_branches": ["main"]},
        {"name": "quiet", "run": "true", "clone": False, "skip_report": True},
        {"name": "e2e", "run": "true", "clone": False, "always_run": False,
         "trigger": r"(?m)^/(run-e2e|test-everything)\s*$"},
    ]}


async def finished(bot: Bot, sha: str, names: set[str]) -> None:
    """Wait until the runner has finished each named job on ``sha`` (whether or not it reports)."""
    runner = bot.client.app[RUNNER_KEY]
    for _ in range(400):
        latest = await runner.latest(bot.fake.name, REPO, sha)
        if all(name in latest and latest[name].state in FINAL for name in names):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"jobs did not finish: {await runner.latest(bot.fake.name, REPO, sha)}")


def contexts(bot: Bot, sha: str) -> set[str]:
    return {context for context, _, _, _ in bot.fake.statuses(REPO, sha)}


async def test_branches_and_skip_branches_follow_the_base_branch(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    assert await started(bot, number) == {"unit", "quiet"}  # into main: neither release nor not-main
    bot.fake.set_file(REPO, "RELEASE", "1.0\n", branch="release-1.0")
    await bot.deliver(bot.fake.edit_pull(REPO, number, COLLAB, base="release-1.0"))
    assert await started(bot, number) == {"unit", "quiet", "release", "not-main"}


async def test_a_job_for_another_branch_cannot_be_named(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/test release"))
    assert "release" not in await started(bot, number)
    assert "`release`" in bot.bot_comments(number)[-1]


async def test_context_and_skip_report(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    sha = bot.fake.head_sha(REPO, number)
    await settle(bot, sha, {"ci/unit"})
    await finished(bot, sha, {"unit", "quiet"})
    assert contexts(bot, sha) == {"ci/unit"}  # not "unit"; and "quiet" reported nothing


@pytest.mark.parametrize(
    ("author", "commenter", "comment", "runs", "reply"),
    [
        (COLLAB, COLLAB, "/run-e2e", True, None),
        (COLLAB, OUTSIDER, "/test-everything", True, None),
        (AUTHOR, OUTSIDER, "/run-e2e", False, "you can't run `e2e`"),
        (COLLAB, COLLAB, "please /run-e2e", False, None),
        (COLLAB, COLLAB, "/test e2e", True, None),
    ],
    ids=["the-trigger-runs-the-job", "anyone-on-a-trusted-change", "refused-on-an-untrusted-change",
         "not-matching-runs-nothing", "test-by-name-still-works"],
)
async def test_a_custom_trigger(bot: Bot, author: str, commenter: str, comment: str, runs: bool,
                                reply: str | None) -> None:
    number = await _open(bot, author)
    before = len(bot.bot_comments(number))
    await bot.deliver(bot.fake.comment(REPO, number, commenter, comment))
    assert ("e2e" in await started(bot, number)) is runs
    comments = bot.bot_comments(number)
    if reply:
        assert reply in comments[-1]
    else:
        assert len(comments) == before


def _spec(**fields: Any) -> JobSpec:
    return JobSpec(name="j", run="true", **fields)


@pytest.mark.parametrize(
    ("spec", "base", "could"),
    [
        (_spec(), "main", True),
        (_spec(branches=("release-.*",)), "release-1.0", True),
        (_spec(branches=("release-.*",)), "main", False),
        (_spec(branches=("release",)), "release-1.0", False),
        (_spec(skip_branches=("main",)), "main", False),
        (_spec(skip_branches=("main",)), "maintenance", True),
    ],
    ids=["no-filter", "a-matching-branch", "another-branch", "matched-whole", "a-skipped-branch",
         "skip-branches-match-whole-names"],
)
def test_could_run(spec: JobSpec, base: str, could: bool) -> None:
    assert spec.could_run(base) is could
    assert spec.should_run(["a.py"], base) is could


def test_status_context_defaults_to_the_name() -> None:
    assert _spec().status_context == "j"
    assert _spec(context="ci/j", trigger=re.compile("x")).status_context == "ci/j"
