"""CI that names no PR still merges at once: a GitHub commit status (external CI), a fork PR's check
suite, a GitLab branch pipeline (external statuses run in one) are mapped to the PR by head sha.

Passes an hour apart here: after the first pass, only the webhook can start the pass that merges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import MERGE_KEY
from tests.conftest import AUTHOR, REPO, Bot
from tests.fakes.base import Delivery
from tests.test_merge_e2e import READY, merges, opened, pull_kind, sync

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"merge": {"sync_interval": 3600}}


def external_status(bot: Bot, sha: str, state: str, context: str = "jenkins") -> Delivery:
    """External CI reports on ``sha``, and the webhook the forge sends for it: GitHub a ``status``
    event; GitLab keeps the status in a pipeline of the branch and sends its Pipeline Hook."""
    fake: Any = bot.fake
    if fake.name == "github":
        return fake.add_status(REPO, sha, context, state)
    fake.add_status(REPO, sha, context, {"success": "success", "failure": "failed"}.get(state, state))
    payload = json.loads((FIXTURES / "gitlab" / "pipeline__success__1.json").read_text())
    payload["project"]["path_with_namespace"] = REPO
    payload["object_attributes"].update(sha=sha, status={"pending": "running", "failure": "failed"}.get(state, state),
                                        source="external")  # the pipeline GitLab keeps external statuses in
    payload["merge_request"] = None
    return fake.delivery("Pipeline Hook", payload)


async def passes(bot: Bot) -> int:
    merger = bot.client.app[MERGE_KEY]
    await merger.idle()
    return sum(1 for entry in await merger.state.history(bot.fake.name, REPO) if entry["kind"] == "pass")


async def ready_but_waiting(bot: Bot, sha_of: Any) -> tuple[int, str]:
    """A PR with the labels, whose one external status is still pending, after a pass saw it."""
    number = await opened(bot, READY)
    sha = sha_of(number)
    await bot.deliver(external_status(bot, sha, "pending"))
    await sync(bot)
    assert merges(bot) == []
    return number, sha


async def test_external_status_turning_green_merges_at_once(bot: Bot) -> None:
    number, sha = await ready_but_waiting(bot, lambda n: bot.fake.head_sha(REPO, n))
    assert await bot.deliver(external_status(bot, sha, "success")) == 202
    await bot.client.app[MERGE_KEY].idle()
    assert merges(bot) == [(number, sha, "merge")]


@pytest.mark.parametrize("forge_name", ["gitlab"])  # GitHub's listing carries the statuses (below)
async def test_a_remembered_waiting_answer_is_used_until_ci_reports(bot: Bot) -> None:
    """Statuses that hold an MR back are not read again each pass; the webhook makes them read."""
    number, sha = await ready_but_waiting(bot, lambda n: bot.fake.head_sha(REPO, n))
    external_status(bot, sha, "success")  # the forge has it, but its webhook was not delivered
    before = len(bot.fake.requests)
    await sync(bot)
    assert merges(bot) == []
    assert not [r for r in bot.fake.requests[before:] if r.path.endswith("/statuses")]
    await bot.deliver(external_status(bot, sha, "success"))
    await bot.client.app[MERGE_KEY].idle()
    assert [n for n, _, _ in merges(bot)] == [number]


@pytest.mark.parametrize("forge_name", ["github"])
async def test_github_passes_see_statuses_in_the_listing(bot: Bot) -> None:
    """GitHub's listing (GraphQL) brings every head's statuses: a lost webhook costs one interval
    at most, and no pass reads statuses or check runs one PR at a time."""
    number, sha = await ready_but_waiting(bot, lambda n: bot.fake.head_sha(REPO, n))
    external_status(bot, sha, "success")  # its webhook was lost
    before = len(bot.fake.requests)
    await sync(bot)
    assert merges(bot) == [(number, sha, "merge")]
    assert not [r for r in bot.fake.requests[before:] if r.method == "GET" and ("/status" in r.path or "/check-runs" in r.path)]


async def test_ci_on_a_commit_no_pr_has_starts_no_pass(bot: Bot) -> None:
    await ready_but_waiting(bot, lambda n: bot.fake.head_sha(REPO, n))
    before = await passes(bot)
    main = bot.fake.set_file(REPO, "NOTES.md", "a commit on main, which no PR has as its head")
    assert await bot.deliver(external_status(bot, main, "success")) == 202
    assert await passes(bot) == before


async def test_ci_on_a_pr_whose_labels_do_not_qualify_starts_no_pass(bot: Bot) -> None:
    """Its labels decide its verdict whatever CI says: no whole pass for its statuses."""
    await ready_but_waiting(bot, lambda n: bot.fake.head_sha(REPO, n))
    unreviewed = await opened(bot, ["lgtm"])
    await sync(bot)
    before = await passes(bot)
    assert await bot.deliver(external_status(bot, bot.fake.head_sha(REPO, unreviewed), "success")) == 202
    assert await passes(bot) == before


@pytest.mark.parametrize("forge_name", ["github"])  # GitLab's pipeline hook names no status context
async def test_the_bots_own_merge_status_starts_no_pass(bot: Bot) -> None:
    number, sha = await ready_but_waiting(bot, lambda n: bot.fake.head_sha(REPO, n))
    before = await passes(bot)
    assert await bot.deliver(external_status(bot, sha, "success", context="merge")) == 202
    assert await passes(bot) == before
    assert number


@pytest.mark.parametrize("forge_name", ["github"])
async def test_fork_check_suite_merges_at_once(bot: Bot) -> None:
    """GitHub lists no PR in a check suite run on a fork's head: mapped by its head sha."""
    fake: Any = bot.fake
    number = await opened(bot, READY)
    sha = fake.head_sha(REPO, number)
    fake.add_check_run(REPO, sha, "unit", "in_progress")
    await sync(bot)
    assert merges(bot) == []
    fake.add_check_run(REPO, sha, "unit", "completed", "success")
    payload = json.loads((FIXTURES / "github" / "check_suite__completed__1.json").read_text())
    payload["repository"]["full_name"] = REPO
    payload["check_suite"].update(head_sha=sha, conclusion="success", pull_requests=[])
    assert await bot.deliver(fake.delivery("check_suite", payload)) == 202
    await bot.client.app[MERGE_KEY].idle()
    assert merges(bot) == [(number, sha, "merge")]
    assert pull_kind(bot) == {}


@pytest.mark.parametrize("config_data", [{"merge": {"sync_interval": 3600, "status_writes_per_pass": 2}}])
async def test_a_pass_writes_a_bounded_number_of_statuses_most_relevant_first(bot: Bot) -> None:
    """A first pass over more PRs than it may write statuses for: the reviewed one and the newest
    get theirs; the next pass writes the rest."""
    fake: Any = bot.fake
    oldest, lgtm_only, reviewed, newest = (fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(4))
    fake.set_labels(REPO, lgtm_only, ["lgtm"], **pull_kind(bot))
    fake.set_labels(REPO, reviewed, READY, **pull_kind(bot))
    fake.add_status(REPO, fake.head_sha(REPO, reviewed), "jenkins", "failure" if fake.name == "github" else "failed")

    def written() -> set[int]:
        return {n for n in (oldest, lgtm_only, reviewed, newest)
                if any(c == "merge" for c, *_ in fake.statuses(REPO, fake.head_sha(REPO, n)))}

    await sync(bot)
    assert written() == {reviewed, newest}
    await sync(bot)
    assert written() == {oldest, lgtm_only, reviewed, newest}
    assert merges(bot) == []


LIMITED = {"write_limits": ["4/1m"]}


@pytest.mark.parametrize("config_data", [{"merge": {"sync_interval": 3600}, "github": LIMITED, "gitlab": LIMITED}])
async def test_a_pass_leaves_half_of_the_write_budget_to_commands(bot: Bot) -> None:
    """With 4 writes a minute, a pass over 5 new PRs writes 2 merge statuses (the reviewed one and
    the newest) and leaves the rest of the minute to commands: a /hold right after goes out at
    once, not behind queued statuses."""
    fake: Any = bot.fake
    numbers = [fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(5)]
    fake.set_labels(REPO, numbers[1], READY, **pull_kind(bot))
    fake.add_status(REPO, fake.head_sha(REPO, numbers[1]), "jenkins", "failure" if fake.name == "github" else "failed")
    await sync(bot)
    written = {n for n in numbers if any(c == "merge" for c, *_ in fake.statuses(REPO, fake.head_sha(REPO, n)))}
    assert written == {numbers[1], numbers[-1]}
    budget = bot.client.app[MERGE_KEY]._forges[fake.name].pacing.gate
    delayed = budget.delayed
    await bot.deliver(fake.comment(REPO, numbers[0], "carl", "/hold"))
    assert "do-not-merge/hold" in fake.labels(REPO, numbers[0], **pull_kind(bot))
    assert budget.delayed == delayed  # the command's write did not wait
