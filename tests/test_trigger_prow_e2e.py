"""Prow's trigger behaviour beyond the basics, on both forges end to end: drafts, the greeting, stale
needs-ok-to-test, re-targeted PRs/MRs, labels added by hand, /retest-required."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import RUNNER_KEY
from bot.forge.base import ChangedFile
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot
from tests.test_trigger_e2e import settle

JOBS = {"unit", "flaky"}  # the automatic jobs for a change under src/


@pytest.fixture
def config_data(tmp_path: Any) -> dict[str, Any]:
    marker = tmp_path / "flaky-ran-once"
    return {"jobs": [
        {"name": "unit", "run": "echo unit", "clone": False},
        {"name": "flaky", "run": f"test -e {marker} || (touch {marker}; exit 1)", "clone": False, "optional": True},
        {"name": "manual", "run": "echo manual", "clone": False, "always_run": False},
    ]}


async def started(bot: Bot, number: int) -> set[str]:
    """The jobs started so far on the PR/MR's head (recorded before ``start`` returns)."""
    runner = bot.client.app[RUNNER_KEY]
    return set(await runner.latest(bot.fake.name, REPO, bot.fake.head_sha(REPO, number)))


async def _open(bot: Bot, author: str, *, draft: bool = False, labels: tuple[str, ...] = ()) -> int:
    number, opened = bot.fake.open_pull(REPO, author=author, files=[ChangedFile("src/a.py")], draft=draft)
    if labels:
        bot.fake.set_labels(REPO, number, labels)  # e.g. put on by an automation as it was opened
    await bot.deliver(opened)
    return number


def _plain(comment: str) -> str:
    return comment.replace("&#47;", "/")


async def test_a_trusted_authors_draft_is_skipped_with_prows_message(bot: Bot) -> None:
    number = await _open(bot, COLLAB, draft=True)
    assert await started(bot, number) == set()
    (note,) = [_plain(c) for c in bot.bot_comments(number)]
    assert note.startswith("Skipping CI for Draft Pull Request.") and "`/test all`" in note


async def test_an_untrusted_draft_is_greeted_not_skipped(bot: Bot) -> None:
    number = await _open(bot, AUTHOR, draft=True)
    assert "needs-ok-to-test" in bot.fake.labels(REPO, number)
    assert not any("Skipping CI" in c for c in bot.bot_comments(number))


async def test_an_untrusted_change_opened_with_ok_to_test_is_greeted_without_needs_ok_to_test(bot: Bot) -> None:
    number = await _open(bot, AUTHOR, labels=("ok-to-test",))
    assert bot.fake.labels(REPO, number) == {"ok-to-test"}
    (greeting,) = [_plain(c) for c in bot.bot_comments(number)]
    assert f"Hi @{AUTHOR}" in greeting and "/ok-to-test" in greeting
    assert await started(bot, number) == set()  # as Prow: opening runs an untrusted change's jobs for nobody


@pytest.mark.parametrize("command", ["/test unit", "/retest"], ids=["test", "retest"])
async def test_test_removes_a_stale_needs_ok_to_test(bot: Bot, command: str) -> None:
    number = await _open(bot, AUTHOR)
    bot.fake.set_labels(REPO, number, ["needs-ok-to-test", "ok-to-test"])
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, command))
    assert bot.fake.labels(REPO, number) == {"ok-to-test"}


async def test_test_keeps_needs_ok_to_test_without_ok_to_test(bot: Bot) -> None:
    number = await _open(bot, AUTHOR)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/test unit"))
    assert "needs-ok-to-test" in bot.fake.labels(REPO, number)
    assert await started(bot, number) == {"unit"}  # a trusted commenter may still run a job


async def test_a_new_base_branch_reruns_the_jobs(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    sha = bot.fake.head_sha(REPO, number)
    await settle(bot, sha, JOBS)
    bot.fake.set_file(REPO, "RELEASE", "1.0\n", branch="release-1.0")
    await bot.deliver(bot.fake.edit_pull(REPO, number, COLLAB, base="release-1.0"))
    await settle(bot, sha, JOBS, runs=2)


async def test_a_new_title_runs_nothing(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    sha = bot.fake.head_sha(REPO, number)
    await settle(bot, sha, JOBS)
    runner = bot.client.app[RUNNER_KEY]
    ids = {name: record.id for name, record in (await runner.latest(bot.fake.name, REPO, sha)).items()}
    await bot.deliver(bot.fake.edit_pull(REPO, number, COLLAB, title="A better title"))
    assert {name: record.id for name, record in (await runner.latest(bot.fake.name, REPO, sha)).items()} == ids


@pytest.mark.parametrize(
    ("author", "label", "runs"),
    [
        (AUTHOR, "lgtm", True),
        (COLLAB, "lgtm", False),
        (AUTHOR, "ok-to-test", True),
        (AUTHOR, "kind/bug", False),
    ],
    ids=[
        "lgtm-on-an-untrusted-change-runs-its-jobs",
        "lgtm-on-a-trusted-change-runs-nothing-more",
        "ok-to-test-added-by-a-person-runs-the-jobs",
        "another-label-runs-nothing",
    ],
)
async def test_labels_added_by_hand(bot: Bot, author: str, label: str, runs: bool) -> None:
    number = await _open(bot, author)
    before = {name: r.id for name, r in (await bot.client.app[RUNNER_KEY].latest(
        bot.fake.name, REPO, bot.fake.head_sha(REPO, number))).items()}
    await bot.deliver(bot.fake.label(REPO, number, COLLAB, label))
    after = {name: r.id for name, r in (await bot.client.app[RUNNER_KEY].latest(
        bot.fake.name, REPO, bot.fake.head_sha(REPO, number))).items()}
    assert (after.keys() == JOBS and after != before) is runs


async def test_retest_required_leaves_failed_optional_jobs(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    sha = bot.fake.head_sha(REPO, number)
    first = await settle(bot, sha, JOBS)
    assert first["flaky"][-1] in ("failure", "failed")
    runner = bot.client.app[RUNNER_KEY]
    ids = {name: record.id for name, record in (await runner.latest(bot.fake.name, REPO, sha)).items()}
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/retest-required"))
    assert {name: record.id for name, record in (await runner.latest(bot.fake.name, REPO, sha)).items()} == ids
    assert "no required job has failed" in bot.bot_comments(number)[-1]
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/retest"))
    assert (await runner.latest(bot.fake.name, REPO, sha))["flaky"].id != ids["flaky"]
