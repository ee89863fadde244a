"""A repository's own .prowlet.yaml on both forges, end to end: it changes plugins and jobs within
the operator's limits, refusals are shown, a PR changing it is checked, and a PR's own head jobs
count only for a trusted author."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.forge.base import ChangedFile
from bot.inrepo.resolver import STATUS_CONTEXT
from plugins.verify_config import MARKER
from tests.conftest import AUTHOR, COLLAB, OTHER, REPO, Bot, typed

FILE = ".prowlet.yaml"
FAILED = {"failure", "failed"}


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {
        "in_repo_config": {"enabled": True, "repos": ["acme/*"],
                           "allow": {"plugins": ["size", "lgtm"], "enable_disable": True, "jobs": True}},
        "jobs": [{"name": "unit", "run": "true", "clone": False, "always_run": False}],
    }


def _job(name: str) -> str:
    return f"jobs:\n  - {{name: {name}, run: 'true', clone: false, always_run: false}}\n"


def _config_statuses(bot: Bot, sha: str) -> list[tuple[str, str | None]]:
    return [(state, description) for context, state, description, _ in bot.fake.statuses(REPO, sha)
            if context == STATUS_CONTEXT]


async def _open(bot: Bot, author: str, *files: ChangedFile) -> int:
    number, opened = bot.fake.open_pull(REPO, author=author, files=files or [ChangedFile("src/a.py")])
    await bot.deliver(opened)
    return number


async def test_the_file_changes_a_plugin_from_the_next_event(bot: Bot) -> None:
    number = await _open(bot, COLLAB, ChangedFile("src/a.py", additions=15))
    assert not {lbl for lbl in bot.fake.labels(REPO, number) if lbl.startswith("size/")}  # size is opt-in
    bot.fake.set_file(REPO, FILE, "plugins:\n  enabled: [size]\n  options:\n    size: {s: 20}\n")
    await bot.deliver(bot.fake.push(REPO, number, COLLAB))
    # On, and with the repository's own threshold: 15 lines is XS under s: 20 (S by default).
    assert "size/XS" in bot.fake.labels(REPO, number)


async def test_a_refused_key_is_shown_once_and_the_operator_config_applies(bot: Bot) -> None:
    sha = bot.fake.set_file(REPO, FILE, "plugins:\n  disabled: [hold]\n  options:\n    size: {s: 20}\n")
    number = await _open(bot, COLLAB)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/hold"))
    assert "do-not-merge/hold" in bot.fake.labels(REPO, number)  # hold is the operator's to turn off
    ((state, description),) = _config_statuses(bot, sha)  # once per commit, however many events
    assert state in FAILED and "plugins.disabled[0]" in (description or "")


async def test_a_broken_file_leaves_the_operator_config(bot: Bot) -> None:
    sha = bot.fake.set_file(REPO, FILE, "plugins: [\n")
    number = await _open(bot, COLLAB)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/hold"))
    assert "do-not-merge/hold" in bot.fake.labels(REPO, number)
    ((state, description),) = _config_statuses(bot, sha)
    assert state in FAILED and "not valid YAML" in (description or "")


async def test_a_file_github_will_not_serve_counts_as_broken(bot: Bot) -> None:
    if bot.fake.name != "github":
        pytest.skip("GitHub's contents API stops at 1 MB; GitLab's raw files have no such limit")
    sha = bot.fake.set_file(REPO, FILE, "# padding\n" * 120_000)
    number = await _open(bot, COLLAB)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/hold"))
    assert "do-not-merge/hold" in bot.fake.labels(REPO, number)
    ((state, description),) = _config_statuses(bot, sha)
    assert state in FAILED and "1 MB" in (description or "")


async def test_a_pull_changing_the_file_is_told_what_is_refused(bot: Bot) -> None:
    number = await _open(bot, COLLAB, ChangedFile(FILE))
    bad = "plugins:\n  options:\n    approve: {}\njobs:\n  - {name: lint, run: make, executor: process}\n"
    await bot.deliver(bot.fake.push(REPO, number, COLLAB, files={FILE: bad}))
    (comment,) = [c for c in bot.bot_comments(number) if c.startswith(MARKER)]
    assert "plugins.options.approve" in comment and "jobs[0].executor" in comment
    assert _config_statuses(bot, bot.fake.head_sha(REPO, number))[-1][0] in FAILED

    await bot.deliver(bot.fake.push(REPO, number, COLLAB, files={FILE: _job("lint")}))
    (comment,) = [c for c in bot.bot_comments(number) if c.startswith(MARKER)]  # edited in place
    assert "is valid now" in comment
    assert _config_statuses(bot, bot.fake.head_sha(REPO, number))[-1][0] == "success"


async def test_a_pull_not_touching_the_file_gets_no_check(bot: Bot) -> None:
    number = await _open(bot, COLLAB)
    assert _config_statuses(bot, bot.fake.head_sha(REPO, number)) == []
    assert not [c for c in bot.bot_comments(number) if c.startswith(MARKER)]


@pytest.mark.parametrize(("author", "listed", "not_listed"), [
    (AUTHOR, "base-job", "head-job"),  # read access only: the default branch's jobs
    (OTHER, "head-job", "base-job"),  # a collaborator with write access: the PR's own
], ids=["untrusted author: default branch jobs", "trusted author: head jobs"])
async def test_head_jobs_only_for_a_trusted_author(bot: Bot, author: str, listed: str, not_listed: str) -> None:
    bot.fake.set_file(REPO, FILE, _job("base-job"))
    number = await _open(bot, author, ChangedFile(FILE))
    await bot.deliver(bot.fake.push(REPO, number, author, files={FILE: _job("head-job")}))
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/test"))
    (reply,) = [c for c in bot.bot_comments(number) if "the jobs you can run here" in c]
    assert f"`{listed}`" in reply and f"`{not_listed}`" not in reply and "`unit`" in reply


def _allowing(jobs: bool) -> dict[str, Any]:
    return {"in_repo_config": {"enabled": True, "allow": {"plugins": ["lgtm"], "jobs": jobs}}}


@pytest.mark.parametrize(("config_data", "extra"), [(_allowing(False), 0), (_allowing(True), 1)],
                         ids=["plugins only: none", "jobs allowed: reading the PR"])
async def test_a_comment_on_a_warm_cache_costs_at_most_one_counted_request(bot: Bot, extra: int) -> None:
    """The default branch's name is cached, its head revalidated (a free 304), the file pinned by
    sha.  With jobs allowed, trigger reads the PR (is the file in its changes?) to pick its jobs."""
    bot.fake.set_file(REPO, FILE, "plugins:\n  options:\n    lgtm: {remove_on_new_commits: false}\n")
    number = await _open(bot, COLLAB)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "just a remark"))
    before = len(bot.fake.requests)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "another remark"))
    calls = bot.fake.requests[before:]
    assert sum(c.counted for c in calls) == extra, [(c.method, c.path, c.status) for c in calls]


async def test_other_repositories_are_not_read(bot: Bot) -> None:
    """Outside in_repo_config.repos nothing is asked of the forge for it."""
    bot.fake.add_repo("other/app")
    number, opened = bot.fake.open_pull("other/app", author=COLLAB)
    before = len(bot.fake.requests)
    await bot.deliver(bot.fake.comment("other/app", number, COLLAB, typed(bot.fake.name, "remark")))
    assert not [c for c in bot.fake.requests[before:] if FILE in c.path or "branch" in c.path or "git/ref" in c.path]


async def test_a_job_from_the_file_runs_sandboxed_and_reports(bot: Bot) -> None:
    bot.fake.set_file(REPO, FILE, "jobs:\n  - {name: smoke, run: 'echo smoke-ok', clone: false}\n")
    number = await _open(bot, COLLAB)
    sha = bot.fake.head_sha(REPO, number)
    for _ in range(400):  # the job runs in the background
        states = [state for context, state, *_ in bot.fake.statuses(REPO, sha) if context == "smoke"]
        if states and states[-1] in {"success", *FAILED, "error"}:
            break
        await asyncio.sleep(0.025)
    assert states[0] == "pending" and states[-1] == "success"
