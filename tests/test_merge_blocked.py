""""Merge blocked for long": MergeBlocked once per head commit for a label-ready PR/MR that waits."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import BUS_KEY, MERGE_KEY
from bot.config import NotifySettings
from bot.events import Item, ItemKind, ItemRef
from bot.forge.base import Mergeability, PullState
from bot.merge.blocked import due, label_ready
from bot.merge.readiness import MergeRules
from bot.notify.message import summary
from bot.outcomes import MergeBlocked
from tests.clock import Clock
from tests.conftest import REPO, Bot
from tests.test_merge_e2e import READY, add_failing_check, opened, pull_kind, sync

RULES = MergeRules(require_labels=["lgtm", "approved"], forbid_labels=["do-not-merge/hold"], own_context="merge")


def _pull(labels: set[str], draft: bool = False) -> PullState:
    item = Item(ItemRef("a/b", 1, ItemKind.PULL), labels=frozenset(labels), draft=draft, head_sha="s")
    return PullState(item, Mergeability.CLEAN)


LABEL_READY = [
    ("required labels on", {"lgtm", "approved"}, False, True),
    ("labels compared without case", {"LGTM", "Approved"}, False, True),
    ("a required label missing", {"lgtm"}, False, False),
    ("a forbidden label on", {"lgtm", "approved", "do-not-merge/hold"}, False, False),
    ("a draft", {"lgtm", "approved"}, True, False),
]


@pytest.mark.parametrize("labels,draft,expected", [c[1:] for c in LABEL_READY], ids=[c[0] for c in LABEL_READY])
def test_label_ready(labels: set[str], draft: bool, expected: bool) -> None:
    assert label_ready(_pull(labels, draft), RULES) is expected


DUE = [
    ("not yet", 100.0, 100.0 + 3599, 3600.0, False),
    ("exactly then", 100.0, 100.0 + 3600, 3600.0, True),
    ("long after", 100.0, 100.0 + 86400, 3600.0, True),
    ("off", 100.0, 100.0 + 86400, 0.0, False),
]


@pytest.mark.parametrize("since,now,after,expected", [c[1:] for c in DUE], ids=[c[0] for c in DUE])
def test_due(since: float, now: float, after: float, expected: bool) -> None:
    assert due(since, now, after) is expected


DURATIONS = [("off by default", "0", 0.0), ("hours", "6h", 21600.0), ("minutes", "90m", 5400.0)]


@pytest.mark.parametrize("text,seconds", [c[1:] for c in DURATIONS], ids=[c[0] for c in DURATIONS])
def test_blocked_after_setting(text: str, seconds: float) -> None:
    settings = NotifySettings(blocked_after=text)
    assert settings.blocked_seconds == seconds and settings.check() == []


def test_a_bad_blocked_after_is_named() -> None:
    assert NotifySettings(blocked_after="soon").check()[0][0] == "blocked_after"


def test_summary_says_how_long() -> None:
    outcome = MergeBlocked("gitlab", "g/p", 3, "s", "Not mergeable. Job unit has not succeeded.", 7 * 3600 + 300)
    assert summary(outcome) == "g/p!3 has waited 7h05m to merge: Not mergeable. Job unit has not succeeded."


# -- end to end: the merge controller on both forges ---------------------------------------------------

HOUR = 3600.0


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"merge": {"sync_interval": 3600}, "notify": {"blocked_after": "6h"}}


@pytest.fixture
def announced(bot: Bot) -> list[MergeBlocked]:
    found: list[MergeBlocked] = []

    async def record(outcome: MergeBlocked) -> None:
        found.append(outcome)

    bot.client.app[BUS_KEY].subscribe(MergeBlocked, record)
    return found


@pytest.fixture
def clock(bot: Bot) -> Clock:
    clock = Clock(1_000_000.0)
    bot.client.app[MERGE_KEY].blocked.clock = clock
    return clock


async def test_a_label_ready_change_waiting_long_is_announced_once_per_head(
        bot: Bot, announced: list[MergeBlocked], clock: Clock) -> None:
    number = await opened(bot)
    add_failing_check(bot, number)
    bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))
    await sync(bot)  # first seen label-ready: the clock starts
    clock.now += 5 * HOUR
    await sync(bot)
    assert announced == []
    clock.now += 1 * HOUR
    await sync(bot)
    await sync(bot)  # said once
    assert len(announced) == 1
    blocked = announced[0]
    assert (blocked.forge, blocked.repo, blocked.number) == (bot.fake.name, REPO, number)
    assert blocked.sha == bot.fake.head_sha(REPO, number)
    assert blocked.waited == int(6 * HOUR) and "unit" in blocked.reason
    assert set(blocked.labels) >= set(READY)

    await bot.deliver(bot.fake.push(REPO, number, "ann", files={"more.txt": "x"}))  # a new head: a new clock
    add_failing_check(bot, number)
    bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))  # lgtm went with the push; given again
    await sync(bot)
    clock.now += 7 * HOUR
    await sync(bot)
    assert [b.sha for b in announced] == [blocked.sha, bot.fake.head_sha(REPO, number)]


async def test_a_change_without_the_labels_is_never_announced(bot: Bot, announced: list[MergeBlocked],
                                                               clock: Clock) -> None:
    number = await opened(bot, ["lgtm"])  # not approved: waiting for people, not for the machine
    await sync(bot)
    clock.now += 24 * HOUR
    await sync(bot)
    assert announced == []


async def test_losing_the_labels_restarts_the_clock(bot: Bot, announced: list[MergeBlocked], clock: Clock) -> None:
    number = await opened(bot)
    add_failing_check(bot, number)
    bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))
    await sync(bot)
    clock.now += 5 * HOUR
    bot.fake.set_labels(REPO, number, ["lgtm"], **pull_kind(bot))
    await sync(bot)
    bot.fake.set_labels(REPO, number, READY, **pull_kind(bot))
    await sync(bot)  # label-ready again: from now
    clock.now += 5 * HOUR
    await sync(bot)
    assert announced == []
