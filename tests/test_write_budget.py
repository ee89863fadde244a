"""The write budget: at most N writes in any window, waiting (never a thread) for room; shared by
replicas through the state store; and a burst of commands against a fake forge that enforces its
secondary limit ends with every effect applied and no limit error."""

from __future__ import annotations

from typing import Any

import pytest

from bot.events import ItemKind, ItemRef
from bot.forge.base import RateLimitedError
from bot.forge.budget import LocalWriteBudget, SharedWriteBudget, Window, parse_limit
from bot.store.memory import MemoryStateStore
from tests.clock import Clock
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, make_client
from tests.fakes.base import FakeForge


@pytest.mark.parametrize(
    "windows,writes,admitted_at",
    [
        ([Window(3, 10)], 3, [0, 0, 0]),
        ([Window(3, 10)], 4, [0, 0, 0, 10]),  # the fourth waits for the first to age out
        ([Window(5, 60), Window(6, 3600)], 7, [0, 0, 0, 0, 0, 60, 3600]),  # then the hour binds
        ([], 2, [0, 0]),
    ],
    ids=["under-the-limit", "one-over", "hour-window", "no-limits"],
)
async def test_local_budget_admits_within_every_window(windows: list[Window], writes: int,
                                                       admitted_at: list[float]) -> None:
    clock = Clock()
    budget = LocalWriteBudget("github", windows, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(writes):
        answered = await budget.admit()
        times.append(clock.now)
        await answered()  # answered at once
    assert times == admitted_at
    assert budget.delayed == sum(t > 0 for t in admitted_at)


SPARE = [
    ("empty", [Window(80, 60), Window(500, 3600)], 0, 0.0, 40),
    ("the minute half used", [Window(80, 60), Window(500, 3600)], 30, 0.0, 10),
    ("the minute past half", [Window(80, 60), Window(500, 3600)], 50, 0.0, 0),
    ("the minute over, the hour binds", [Window(80, 60), Window(500, 3600)], 240, 61.0, 10),
    ("keep nothing", [Window(4, 60)], 1, 0.0, 3),
    ("no limits", [], 5, 0.0, None),
]


@pytest.mark.parametrize("windows,written,later,expected", [c[1:] for c in SPARE], ids=[c[0] for c in SPARE])
async def test_local_budget_spares_what_leaves_half_of_every_window(
        windows: list[Window], written: int, later: float, expected: int | None) -> None:
    clock = Clock()
    budget = LocalWriteBudget("github", windows, clock=clock, sleep=clock.sleep)
    for _ in range(written):
        await (await budget.admit())()
        clock.now += 0.2 if written > 80 else 0  # a burst over the minute is spread over it
    clock.now += later
    keep = 0.0 if windows == [Window(4, 60)] else 0.5
    assert await budget.spare(keep) == expected


async def test_replicas_see_one_spare_through_the_store() -> None:
    state = MemoryStateStore()
    one, two = (SharedWriteBudget("github", [Window(8, 60)], state) for _ in range(2))
    assert await one.spare(0.5) == 4
    for budget in (one, two, one):
        await (await budget.admit())()
    assert await two.spare(0.5) == await one.spare(0.5) == 1
    assert await SharedWriteBudget("gitlab", [Window(8, 60)], state).spare(0.5) == 4  # another identity


@pytest.mark.parametrize(
    "text,window",
    [("80/1m", Window(80, 60)), ("500/1h", Window(500, 3600)), (" 4 / 2s ", Window(4, 2)),
     ("80", None), ("0/1m", None), ("80/soon", None)],
    ids=["minute", "hour", "spaces", "no-period", "zero", "bad-period"],
)
def test_parse_limit(text: str, window: Window | None) -> None:
    assert parse_limit(text) == window


class Stop(Exception):
    pass


async def test_replicas_share_one_budget_through_the_store() -> None:
    state = MemoryStateStore()  # stands for the Redis both replicas use
    waits: list[float] = []

    async def no_waiting(seconds: float) -> None:
        waits.append(seconds)
        raise Stop

    one, two = (SharedWriteBudget("github", [Window(3, 60)], state, sleep=no_waiting) for _ in range(2))
    for budget in (one, two, one):
        await (await budget.admit())()
    with pytest.raises(Stop):
        await two.admit()  # the window is full across both replicas: it would wait
    assert waits == [20.0]


def test_the_fake_enforces_its_write_limit(fake: FakeForge) -> None:
    """Without pacing, writes beyond the fake's limit are refused (so the burst test can fail)."""
    limit = fake.limit_writes(2, 60)
    client = make_client(fake)
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    ref = ItemRef(REPO, number, ItemKind.PULL)
    with pytest.raises(RateLimitedError):
        for label in ("kind/bug", "area/api", "needs-docs", "sig/node"):
            client.add_labels(ref, [label])
    assert limit.refused >= 1


@pytest.fixture
def config_data() -> dict[str, Any]:
    # Four writes a second: stricter than the fake's five, as the defaults are stricter than
    # GitHub's own accounting of when a request arrived.
    limits = {"write_limits": ["4/1s"]}
    return {"github": limits, "gitlab": limits}


async def test_a_burst_of_commands_is_paced_under_the_limit_and_all_take_effect(bot: Bot) -> None:
    fake = bot.fake
    numbers = [fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(12)]
    limit = fake.limit_writes(5, 1.0)
    for number in numbers:  # all at once: the queue handles them concurrently
        await bot.post(fake.comment(REPO, number, COLLAB, "/hold"))
    assert await bot.queue.join(60)
    assert limit.refused == 0
    assert all("do-not-merge/hold" in fake.labels(REPO, n) for n in numbers)
    assert all(bot.bot_comments(n) == [] for n in numbers)  # nobody was told to try again later


async def test_a_burst_of_retest_paces_the_forges_own_ci_under_the_limit(bot: Bot) -> None:
    """Re-running workflows (GitHub Actions) and retrying pipelines (GitLab) create content: they
    wait for the write budget like every other write."""
    fake: Any = bot.fake
    numbers = [fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(6)]
    for number in numbers:
        sha = fake.head_sha(REPO, number)
        if fake.name == "github":  # two failed workflows: two re-runs for one /retest
            fake.add_workflow_run(REPO, sha, "CI", "failure")
            fake.add_workflow_run(REPO, sha, "E2E", "failure")
        else:
            fake.add_pipeline(REPO, number, sha, "failed")
    limit = fake.limit_writes(5, 1.0)
    for number in numbers:  # all at once: the queue handles them concurrently
        await bot.post(fake.comment(REPO, number, COLLAB, "/retest"))
    assert await bot.queue.join(60)
    assert limit.refused == 0
    if fake.name == "github":
        assert len(fake.reruns(REPO)) == 2 * len(numbers)
    else:
        assert len(fake.pipeline_actions(REPO)) == len(numbers)
    assert not any("try again" in body for n in numbers for body in bot.bot_comments(n))
