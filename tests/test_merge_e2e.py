"""Merge automation on both forges: ready PRs merge with the evaluated sha; others say why."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import MERGE_KEY
from bot.events import ItemKind
from tests.conftest import AUTHOR, REPO, Bot
from tests.fakes.base import Delivery, failing_check

FIXTURES = Path(__file__).parent / "fixtures"

READY = ["lgtm", "approved"]


@pytest.fixture
def config_data(request: pytest.FixtureRequest) -> dict[str, Any]:
    data: dict[str, Any] = {"merge": {"sync_interval": 3600}}  # passes come from events and the tests
    if request.node.get_closest_marker("with_jobs"):
        data["jobs"] = [{"name": "unit", "run": "true", "clone": False}]
    return data


async def sync(bot: Bot) -> Any:
    merger = bot.client.app[MERGE_KEY]
    await merger.idle()
    return await merger.sync(bot.fake.name, REPO)


def pull_kind(bot: Bot) -> dict[str, Any]:
    """GitLab numbers MRs and issues separately; its fake wants to be told which one."""
    return {"kind": ItemKind.PULL} if bot.fake.name == "gitlab" else {}


async def opened(bot: Bot, labels: list[str] | None = None) -> int:
    number, delivery = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(delivery)
    if labels:
        bot.fake.set_labels(REPO, number, labels, **pull_kind(bot))
    return number


def merges(bot: Bot) -> list[tuple[int, str, str]]:
    """(number, sha, method) per forge: GitLab records squash as a flag."""
    fake: Any = bot.fake
    if fake.name == "github":
        return [(n, sha, method) for n, sha, method in fake.merges(REPO)]
    return [(n, sha, "squash" if squash else "merge") for n, sha, squash in fake.merges(REPO)]


def merge_status(bot: Bot, number: int) -> tuple[str, str]:
    sha = bot.fake.head_sha(REPO, number)
    states = [(state, desc) for context, state, desc, _ in bot.fake.statuses(REPO, sha) if context == "merge"]
    assert states, "no merge status"
    return states[-1]


def add_failing_check(bot: Bot, number: int) -> None:
    failing_check(bot.fake, REPO, number)


def set_conflict(bot: Bot, number: int, conflict: bool) -> None:
    """As on a real forge, a conflict comes or goes because a branch moved: here the base does."""
    fake: Any = bot.fake
    fake.set_file(REPO, "moved-base.txt", f"conflict={conflict}", branch="main")
    if fake.name == "github":
        fake.set_mergeable(REPO, number, "dirty" if conflict else "clean")
    else:
        fake.set_mergeable(REPO, number, "conflict" if conflict else "mergeable")


async def test_ready_pr_merges_with_the_evaluated_sha(bot: Bot) -> None:
    number = await opened(bot, READY)
    sha = bot.fake.head_sha(REPO, number)
    await sync(bot)  # (the pass the open event started may already have merged it)
    assert merges(bot) == [(number, sha, "merge")]
    assert bot.fake.state(REPO, number) == "merged"


async def test_method_label_overrides(bot: Bot) -> None:
    number = await opened(bot, READY + ["merge-method-squash"])
    await sync(bot)
    assert [m for _, _, m in merges(bot)] == ["squash"]
    assert number


WAITING = [
    ("unapproved", ["lgtm"], "Not mergeable. Needs approved label."),
    ("held", READY + ["do-not-merge/hold"], "Not mergeable. Should not have do-not-merge/hold label."),
]


@pytest.mark.parametrize("labels,description", [c[1:] for c in WAITING], ids=[c[0] for c in WAITING])
async def test_waiting_prs_say_why(bot: Bot, labels: list[str], description: str) -> None:
    number = await opened(bot, labels)
    await sync(bot)
    assert merges(bot) == []
    assert merge_status(bot, number) == ("pending", description)


async def test_removing_a_hold_lets_it_merge(bot: Bot) -> None:
    number = await opened(bot, READY + ["do-not-merge/hold"])
    await sync(bot)
    assert merges(bot) == []
    await bot.deliver(bot.fake.comment(REPO, number, "carl", "/hold cancel"))
    await sync(bot)
    assert [n for n, _, _ in merges(bot)] == [number]


async def test_failing_check_blocks(bot: Bot) -> None:
    number = await opened(bot, READY)
    add_failing_check(bot, number)
    await sync(bot)
    assert merges(bot) == []
    assert merge_status(bot, number) == ("pending", "Not mergeable. Job unit has not succeeded.")


async def test_conflicts_block_and_carry_needs_rebase(bot: Bot) -> None:
    number = await opened(bot, READY)
    set_conflict(bot, number, True)
    await sync(bot)
    assert merges(bot) == []
    assert "needs-rebase" in bot.fake.labels(REPO, number)
    assert merge_status(bot, number)[1] in ("Not mergeable. Merge conflict.",
                                            "Not mergeable. Should not have needs-rebase label.")
    # Resolved the way it really is: new commits (which also take lgtm away), then a clean verdict.
    await bot.deliver(bot.fake.push(REPO, number, pusher=AUTHOR))
    set_conflict(bot, number, False)
    bot.fake.set_labels(REPO, number, READY + ["needs-rebase"], **pull_kind(bot))
    await sync(bot)
    assert "needs-rebase" not in bot.fake.labels(REPO, number)
    assert [n for n, _, _ in merges(bot)] == [number]


async def test_several_ready_prs_to_one_branch_all_merge(bot: Bot) -> None:
    numbers = [await opened(bot, READY) for _ in range(3)]
    await sync(bot)
    assert [n for n, _, _ in merges(bot)] == numbers


async def test_a_blocker_issue_stops_merges(bot: Bot) -> None:
    fake: Any = bot.fake
    blocker, _ = fake.open_issue(REPO, author="carl", title="Release freeze")
    # GitLab numbers issues and MRs separately: say which #1 is meant.
    fake.set_labels(REPO, blocker, ["merge-blocker"], **({"kind": ItemKind.ISSUE} if fake.name == "gitlab" else {}))
    number = await opened(bot, READY)
    await sync(bot)
    assert merges(bot) == []
    assert merge_status(bot, number) == ("pending", f"Not mergeable. Blocked by issue #{blocker}.")


async def test_status_is_written_only_when_it_changes(bot: Bot) -> None:
    number = await opened(bot, ["lgtm"])
    sha = bot.fake.head_sha(REPO, number)
    await sync(bot)
    written = [c for c, *_ in bot.fake.statuses(REPO, sha)].count("merge")
    await sync(bot)
    await sync(bot)
    assert [c for c, *_ in bot.fake.statuses(REPO, sha)].count("merge") == written


async def test_a_refused_merge_is_reported_and_not_retried(bot: Bot) -> None:
    fake: Any = bot.fake
    number = await opened(bot, READY)
    fake.fail_next("PUT", r".*/merge$", 405, times=1)
    await sync(bot)
    assert merges(bot) == []
    assert any("the forge refused" in c for c in bot.bot_comments(number))
    puts = sum(1 for r in fake.requests if r.method == "PUT" and r.path.endswith("/merge"))
    await sync(bot)
    assert sum(1 for r in fake.requests if r.method == "PUT" and r.path.endswith("/merge")) == puts
    assert merge_status(bot, number)[1].startswith("Not mergeable. Merge refused")


async def test_gitlab_pipeline_waiting_on_our_status_does_not_deadlock(bot: Bot) -> None:
    """'Pipelines must succeed': GitLab says ci_still_running while prowlet's own merge status is
    pending; the status still turns green, and the MR merges once GitLab agrees."""
    fake: Any = bot.fake
    if fake.name != "gitlab":
        pytest.skip("GitLab merge checks")
    number = await opened(bot, READY)
    fake.set_mergeable(REPO, number, "ci_still_running")
    await sync(bot)
    assert merges(bot) == []
    assert merge_status(bot, number) == ("success", "In merge pool.")
    fake.set_mergeable(REPO, number, "mergeable")  # GitLab re-checks once our status is green
    await sync(bot)
    assert [n for n, _, _ in merges(bot)] == [number]


async def unit_successes(bot: Bot, number: int, count: int) -> None:
    sha = bot.fake.head_sha(REPO, number)
    for _ in range(400):
        states = [state for context, state, *_ in bot.fake.statuses(REPO, sha) if context == "unit"]
        if states.count("success") >= count and states[-1] == "success":
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"unit did not succeed {count} times on !{number}")


@pytest.mark.with_jobs
async def test_jobs_rerun_on_the_new_base_before_the_next_merge(bot: Bot) -> None:
    first, second = await opened_by_collaborator(bot), await opened_by_collaborator(bot)
    await unit_successes(bot, first, 1)
    await unit_successes(bot, second, 1)
    for number in (first, second):
        bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))
    await sync(bot)
    assert [n for n, _, _ in merges(bot)][:1] == [first]  # the second re-runs its job on the new base
    await unit_successes(bot, second, 2)
    await sync(bot)  # (its job finishing may already have started the pass that merged it)
    assert [n for n, _, _ in merges(bot)] == [first, second]
    merger = bot.client.app[MERGE_KEY]
    merged_at = {e["number"]: e["at"] for e in await merger.state.history(bot.fake.name, REPO) if e["kind"] == "merge"}
    rerun = (await merger._ci.runner.latest(bot.fake.name, REPO, bot.fake.head_sha(REPO, second)))["unit"]
    assert merged_at[first] <= rerun.started_at and rerun.finished_at <= merged_at[second]


async def opened_by_collaborator(bot: Bot) -> int:
    number, delivery = bot.fake.open_pull(REPO, author="carl")  # trusted: its jobs run on open
    await bot.deliver(delivery)
    return number


def ci_finished(bot: Bot, number: int) -> Delivery:
    """The webhook a forge sends when CI finishes on the PR's head, from the recorded payloads."""
    fake: Any = bot.fake
    sha = fake.head_sha(REPO, number)
    if fake.name == "github":
        payload = json.loads((FIXTURES / "github" / "check_suite__completed__1.json").read_text())
        payload["repository"]["full_name"] = REPO
        payload["check_suite"].update(head_sha=sha, conclusion="success")
        payload["check_suite"]["pull_requests"][0]["number"] = number
        return fake.delivery("check_suite", payload)
    payload = json.loads((FIXTURES / "gitlab" / "pipeline__success__1.json").read_text())
    payload["project"]["path_with_namespace"] = REPO
    payload["object_attributes"]["sha"] = sha
    payload["merge_request"]["iid"] = number
    return fake.delivery("Pipeline Hook", payload)


async def test_ci_finishing_starts_a_pass(bot: Bot) -> None:
    """No periodic pass here (an hour apart): the CI-finished webhook alone gets the PR merged."""
    merger = bot.client.app[MERGE_KEY]
    number = await opened(bot, ["lgtm"])
    await merger.idle()  # the open event's pass: not ready yet
    bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))  # no webhook: nothing starts a pass
    await asyncio.sleep(0.1)
    assert merges(bot) == []
    assert await bot.deliver(ci_finished(bot, number)) == 202
    await merger.idle()
    assert [n for n, _, _ in merges(bot)] == [number]


async def test_a_poke_while_a_pass_lets_go_of_its_lease_gets_its_own_pass(bot: Bot) -> None:
    """An event that lands after a pass last looked for more work, while it releases its lease, finds
    the pass's task still running: it must still get a pass of its own."""
    merger = bot.client.app[MERGE_KEY]
    number = await opened(bot, ["lgtm"])
    await merger.idle()
    release, calls = merger.state.release, []

    async def release_as_an_event_lands(forge: str, repo: str, holder: str) -> None:
        calls.append(repo)
        if len(calls) == 1:  # the PR becomes ready, and its event pokes, just as the pass lets go
            bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))
            merger.poke(forge, repo)
        await release(forge, repo, holder)

    merger.state.release = release_as_an_event_lands  # type: ignore[method-assign]
    merger.poke(bot.fake.name, REPO)
    await merger.idle()
    assert len(calls) == 2
    assert [n for n, _, _ in merges(bot)] == [number]


async def test_pokes_while_another_replica_holds_the_lease_ask_it_for_a_pass_and_stop(bot: Bot) -> None:
    """The lease holder is asked (the dirty mark) for one more pass; this replica does not spin
    retrying the lease, which would keep the holder passing for ever."""
    merger = bot.client.app[MERGE_KEY]
    await opened(bot, ["lgtm"])
    await merger.idle()
    assert await merger.state.acquire(bot.fake.name, REPO, "another-replica", 60) is not None
    merger.poke(bot.fake.name, REPO)
    merger.poke(bot.fake.name, REPO)  # while the first is under way: "once more"
    await asyncio.wait_for(merger.idle(), 30)  # a guard against spinning, not a speed check
    assert await merger.state.is_dirty(bot.fake.name, REPO)
    await merger.state.release(bot.fake.name, REPO, "another-replica")
