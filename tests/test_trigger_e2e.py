"""CI from comments on both forges: gating, /test, /retest, /ok-to-test, statuses with log links."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.forge.base import ChangedFile
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot
from tests.fakes.base import FakeForge

@pytest.fixture
def config_data(tmp_path: Path) -> dict[str, Any]:
    marker = tmp_path / "flaky-ran-once"  # outside the job's workspace, which is fresh per run
    return {"jobs": [
        {"name": "unit", "run": "echo unit-ok $PROWLET_REPO#$PROWLET_NUMBER", "clone": False},
        {"name": "docs", "run": "echo docs", "clone": False, "run_if_changed": "^docs/"},
        # A plain process: it keeps its state outside the workspace, which the sandbox forbids.
        {"name": "flaky", "run": f"test -e {marker} || (touch {marker}; exit 1)", "clone": False, "optional": True,
         "executor": "process"},
        {"name": "manual", "run": "echo manual", "clone": False, "always_run": False},
    ]}


def final_states(fake: FakeForge, sha: str) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for context, state, *_ in fake.statuses(REPO, sha):
        states.setdefault(context, []).append(state)
    return states


FINAL = {"success", "failure", "failed", "error"}


async def settle(bot: Bot, sha: str, contexts: set[str], runs: int = 1) -> dict[str, list[str]]:
    """Wait until each named job has finished ``runs`` times on ``sha`` (jobs run in the background,
    so a re-run's first status may not be posted yet when the comment has been handled)."""
    for _ in range(400):
        states = final_states(bot.fake, sha)
        if all(sum(s in FINAL for s in states.get(c, [])) >= runs and states[c][-1] in FINAL for c in contexts):
            return states
        await asyncio.sleep(0.025)
    raise AssertionError(f"jobs did not finish: {final_states(bot.fake, sha)}")


async def _open(bot: Bot, author: str = COLLAB, paths: tuple[str, ...] = ("src/a.py",), draft: bool = False) -> int:
    number, opened = bot.fake.open_pull(REPO, author=author, files=[ChangedFile(p) for p in paths], draft=draft)
    await bot.deliver(opened)
    return number


async def test_trusted_pr_runs_its_jobs_with_log_links(bot: Bot) -> None:
    number = await _open(bot)
    sha = bot.fake.head_sha(REPO, number)
    states = await settle(bot, sha, {"unit", "flaky"})
    assert states["unit"][0] == "pending" and states["unit"][-1] == "success"
    assert "docs" not in states and "manual" not in states  # file filter, always_run: false
    url = next(u for c, _, _, u in bot.fake.statuses(REPO, sha) if c == "unit" and u)
    path = url.split("://", 1)[1].split("/", 1)[1]
    resp = await bot.client.get(f"/{path}/log")
    assert resp.status == 200 and f"unit-ok {REPO}#{number}" in await resp.text()
    page = await bot.client.get(f"/{path}")
    assert page.status == 200 and "unit" in await page.text()
    # The link carries the job's token: without it (or with another's) there is no such page.
    job_id, token = path.split("/")[-2:]
    for other in (f"/jobs/{job_id}", f"/jobs/{job_id}/log", f"/jobs/{job_id}/{token[::-1]}/log"):
        resp = await bot.client.get(other)
        assert resp.status == 404, other
        assert "unit-ok" not in await resp.text()
    # The dashboard's job list shows a private repository's jobs only after a login.
    listing = await (await bot.client.get("/jobs")).text()
    assert job_id not in listing and token not in listing


async def test_untrusted_pr_waits_for_ok_to_test(bot: Bot) -> None:
    number = await _open(bot, author=AUTHOR)
    sha = bot.fake.head_sha(REPO, number)
    assert "needs-ok-to-test" in bot.fake.labels(REPO, number)
    assert any("/ok-to-test" in c.replace("&#47;", "/") for c in bot.bot_comments(number))
    await bot.deliver(bot.fake.comment(REPO, number, AUTHOR, "/test unit"))
    await asyncio.sleep(0.2)
    assert final_states(bot.fake, sha) == {}
    assert "only trusted users" in bot.bot_comments(number)[-1]
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/ok-to-test"))
    assert "needs-ok-to-test" in bot.fake.labels(REPO, number)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/ok-to-test"))
    labels = bot.fake.labels(REPO, number)
    assert "ok-to-test" in labels and "needs-ok-to-test" not in labels
    states = await settle(bot, sha, {"unit"})
    assert states["unit"][-1] == "success"


async def test_drafts_run_nothing(bot: Bot) -> None:
    number = await _open(bot, draft=True)
    await asyncio.sleep(0.2)
    assert final_states(bot.fake, bot.fake.head_sha(REPO, number)) == {}


async def test_test_names_a_job_even_outside_its_filter(bot: Bot) -> None:
    number = await _open(bot)
    sha = bot.fake.head_sha(REPO, number)
    await settle(bot, sha, {"unit", "flaky"})
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/test docs manual"))
    states = await settle(bot, sha, {"docs", "manual"})  # neither ran before: one run each
    assert states["docs"][-1] == "success" and states["manual"][-1] == "success"


async def test_test_alone_lists_the_jobs(bot: Bot) -> None:
    number = await _open(bot)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/test"))
    reply = bot.bot_comments(number)[-1]
    assert "`unit`" in reply and "`docs`" in reply and "/test all" in reply


async def test_retest_reruns_only_what_failed(bot: Bot) -> None:
    number = await _open(bot)
    sha = bot.fake.head_sha(REPO, number)
    first = await settle(bot, sha, {"unit", "flaky"})
    assert first["flaky"][-1] in ("failure", "failed") and first["unit"][-1] == "success"
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/retest"))
    again = await settle(bot, sha, {"flaky"}, runs=2)
    assert again["flaky"][-1] == "success" and len(again["flaky"]) == 4  # pending, failure, pending, success
    assert again["unit"] == first["unit"]  # not re-run


# ---- the team's own CI: GitHub Actions re-runs, GitLab MR pipelines ------------------------------


async def test_retest_reruns_the_forges_own_failed_ci(bot: Bot) -> None:
    fake: Any = bot.fake
    number = await _open(bot)
    sha = fake.head_sha(REPO, number)
    await settle(bot, sha, {"unit", "flaky"})
    if fake.name == "github":
        failed = fake.add_workflow_run(REPO, sha, "CI", "failure")
        fake.add_workflow_run(REPO, sha, "Lint", "success")
        await bot.deliver(fake.comment(REPO, number, COLLAB, "/retest"))
        assert (failed, "rerun-failed-jobs") in fake.reruns(REPO) and len(fake.reruns(REPO)) == 1
    else:
        failed = fake.add_pipeline(REPO, number, sha, "failed")
        await bot.deliver(fake.comment(REPO, number, COLLAB, "/retest"))
        assert fake.pipeline_actions(REPO) == [(failed, "retry")]


async def test_test_without_a_job_of_that_name_uses_the_forges_ci(bot: Any) -> None:
    fake: Any = bot.fake
    number = await _open(bot)
    sha = fake.head_sha(REPO, number)
    if fake.name == "github":
        run = fake.add_workflow_run(REPO, sha, "Integration", "success")
        await bot.deliver(fake.comment(REPO, number, COLLAB, "/test integration"))
        assert fake.reruns(REPO) == [(run, "rerun")]
        await bot.deliver(fake.comment(REPO, number, COLLAB, "/test nope"))
        assert "I don't know `nope`" in bot.bot_comments(number)[-1]
    else:
        await bot.deliver(fake.comment(REPO, number, COLLAB, "/test e2e"))
        assert fake.pipeline_actions(REPO) == []  # no such job: answered, nothing started
        assert "I don't know `e2e`" in bot.bot_comments(number)[-1] and "`pipeline`" in bot.bot_comments(number)[-1]
        await bot.deliver(fake.comment(REPO, number, COLLAB, "/test pipeline"))
        ((_, action),) = fake.pipeline_actions(REPO)
        assert action == "create"


async def test_retest_with_nothing_failed_says_so(bot: Bot) -> None:
    number = await _open(bot, paths=("docs/guide.md",))
    sha = bot.fake.head_sha(REPO, number)
    await settle(bot, sha, {"unit", "docs", "flaky"})
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/retest"))  # flaky failed: re-run
    await settle(bot, sha, {"flaky"}, runs=2)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/retest"))
    assert "nothing has failed" in bot.bot_comments(number)[-1]


async def test_anyone_may_test_a_change_from_a_trusted_author(bot: Bot) -> None:
    """Prow: an untrusted commenter may /test a PR whose author is trusted."""
    number = await _open(bot, author=COLLAB)
    sha = bot.fake.head_sha(REPO, number)
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/test manual"))
    states = await settle(bot, sha, {"manual"})
    assert states["manual"][-1] == "success"
    assert not any("only trusted users" in c for c in bot.bot_comments(number))


@pytest.mark.parametrize("config_data", [{"runner": {"executor": "container", "container_cli": "no-such-container-cli"},
                                          "jobs": [{"name": "unit", "run": "echo hi", "clone": False,
                                                    "image": "python:3.11-slim"}]}])
async def test_jobs_for_an_executor_that_cannot_run_here_are_refused(bot: Bot) -> None:
    number = await _open(bot)
    sha = bot.fake.head_sha(REPO, number)
    await settle(bot, sha, {"unit"})
    (final,) = [d for c, s, d, _ in bot.fake.statuses(REPO, sha) if c == "unit" and s in ("error", "failed")]
    # GitLab has no "error" state: the adapter says it in the description.
    assert "Refused: the container executor cannot run jobs on this host (no-such-container-cli is not installed)." in final
