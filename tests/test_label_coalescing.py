"""Label writes that wait for the write budget are coalesced per item: the net effect of the queued
changes (table), and the layered client through the real SDKs against the fake forges — queued
label writes to one PR leave as one request, a comment queued between them keeps its place, every
caller hears the answer, and a write that does not wait goes out alone as before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.app import compose_forge
from bot.events import ItemKind, ItemRef
from bot.forge.base import NotFoundError
from bot.forge.label_batch import LabelChange, label_writes, net_change
from bot.forge.layered import AsyncForge
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, make_client
from tests.fakes.base import FakeForge
from tests.held_budget import HeldClock, clock, forge, label_requests, pull, write_kinds  # noqa: F401 (fixtures)

HOLD, BUG, LGTM, DOCS = "do-not-merge/hold", "kind/bug", "lgtm", "needs-docs"


@pytest.mark.parametrize(
    "steps,change",
    [
        ([], LabelChange()),
        ([(HOLD, True), (BUG, True)], LabelChange((HOLD, BUG), ())),
        ([(BUG, True), (BUG, False)], LabelChange((), (BUG,))),
        ([(BUG, False), (BUG, True)], LabelChange((BUG,), ())),
        ([(HOLD, True), (BUG, True), (BUG, False), (LGTM, True)], LabelChange((HOLD, LGTM), (BUG,))),
        ([(LGTM, True), (LGTM, True)], LabelChange((LGTM,), ())),
        ([(LGTM, False), (DOCS, False), (LGTM, False)], LabelChange((), (DOCS, LGTM))),
    ],
    ids=["nothing", "adds", "add-then-remove-is-absent", "remove-then-add-is-present", "hold-kind-unkind-lgtm",
         "added-twice", "removed-twice"],
)
def test_net_change_the_last_word_on_each_label_wins(steps: list[tuple[str, bool]], change: LabelChange) -> None:
    assert net_change(steps) == change


@pytest.mark.parametrize(
    "method,arguments,steps",
    [
        ("add_labels", {"labels": [LGTM, BUG]}, [(LGTM, True), (BUG, True)]),
        ("remove_label", {"label": LGTM}, [(LGTM, False)]),
        ("remove_labels", {"labels": [LGTM, BUG]}, [(LGTM, False), (BUG, False)]),
        ("comment", {"body": "/lgtm"}, None),
    ],
    ids=["add", "remove-one", "remove-several", "not-a-label-write"],
)
def test_label_writes(method: str, arguments: dict[str, Any], steps: list[tuple[str, bool]] | None) -> None:
    assert label_writes(method, arguments) == steps


async def queue_behind_a_full_budget(forge: AsyncForge, clock: HeldClock, pull: ItemRef,
                                     *writes: Any) -> list[asyncio.Task[Any]]:
    """Spend the budget on a first write, then start ``writes`` (coroutine functions of the
    forge) in this order; returns once they are all queued."""
    await forge.add_labels(pull, [DOCS])  # admitted at once: the minute's budget is spent
    tasks = [asyncio.ensure_future(write()) for write in writes]
    await clock.waiting.wait()
    for _ in range(len(tasks) + 1):
        await asyncio.sleep(0)  # each task reaches the pacing layer
    return tasks


async def test_label_writes_queued_for_one_pull_leave_as_one(fake: FakeForge, forge: AsyncForge, clock: HeldClock,
                                                            pull: ItemRef) -> None:
    seen = len(fake.requests)
    tasks = await queue_behind_a_full_budget(
        forge, clock, pull,
        lambda: forge.add_labels(pull, [HOLD]),
        lambda: forge.add_labels(pull, [BUG]),
        lambda: forge.remove_label(pull, DOCS),
        lambda: forge.add_labels(pull, [LGTM]),
        lambda: forge.add_labels(pull, [HOLD]),
    )
    clock.release()
    assert await asyncio.gather(*tasks) == [None] * 5
    assert fake.labels(REPO, pull.number) == {HOLD, BUG, LGTM}
    assert len(label_requests(fake, seen)) == 2  # the first write, then one for the five queued
    assert forge.pacing.coalesced == 4
    assert forge.metering.calls["change_labels"] == 0  # callers still asked for what they asked for


async def test_a_label_write_contradicting_the_queued_batch_starts_the_next_one(
        fake: FakeForge, forge: AsyncForge, clock: HeldClock, pull: ItemRef) -> None:
    """Adding and removing one label never share a batch: a failed batch's callers retry their own
    calls in any order, which is harmless only for writes that commute."""
    seen = len(fake.requests)
    tasks = await queue_behind_a_full_budget(
        forge, clock, pull,
        lambda: forge.add_labels(pull, [BUG]),
        lambda: forge.add_labels(pull, [HOLD]),
        lambda: forge.remove_label(pull, BUG),
        lambda: forge.add_labels(pull, [LGTM]),
    )
    clock.release()
    assert await asyncio.gather(*tasks) == [None] * 4
    assert fake.labels(REPO, pull.number) == {DOCS, HOLD, LGTM}
    assert len(label_requests(fake, seen)) == 3  # the first write, {+bug +hold}, then {-bug +lgtm}
    assert forge.pacing.coalesced == 2


async def test_a_comment_queued_between_label_changes_keeps_its_place(fake: FakeForge, forge: AsyncForge,
                                                                      clock: HeldClock, pull: ItemRef) -> None:
    seen = len(fake.requests)
    tasks = await queue_behind_a_full_budget(
        forge, clock, pull,
        lambda: forge.add_labels(pull, [HOLD]),
        lambda: forge.add_labels(pull, [BUG]),  # joins the hold
        lambda: forge.comment(pull, "between"),
        lambda: forge.remove_label(pull, HOLD),  # after the comment: does not join the first batch
        lambda: forge.add_labels(pull, [LGTM]),  # joins the removal
    )
    clock.release()
    await asyncio.gather(*tasks)
    assert fake.labels(REPO, pull.number) == {DOCS, BUG, LGTM}
    assert write_kinds(fake, seen) == ["label", "label", "comment", "label"]
    assert forge.pacing.coalesced == 2


async def test_every_caller_in_a_batch_hears_its_failure(fake: FakeForge, forge: AsyncForge, clock: HeldClock,
                                                         pull: ItemRef) -> None:
    gone = ItemRef(REPO, 999, ItemKind.PULL)
    tasks = await queue_behind_a_full_budget(
        forge, clock, pull,
        lambda: forge.add_labels(gone, [HOLD]),
        lambda: forge.remove_label(gone, LGTM),
    )
    clock.release()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results] == [NotFoundError, NotFoundError]


async def test_writes_that_do_not_wait_go_out_alone(fake: FakeForge, pull: ItemRef) -> None:
    """Under budget nothing is coalesced: the same requests as without coalescing."""
    forge = compose_forge(make_client(fake))  # no write limit
    try:
        seen = len(fake.requests)
        await asyncio.gather(forge.add_labels(pull, [HOLD]), forge.add_labels(pull, [BUG]),
                             forge.remove_label(pull, HOLD))
        assert len(label_requests(fake, seen)) == 3
        assert forge.pacing.coalesced == 0
    finally:
        forge.close()


@pytest.fixture
def config_data() -> dict[str, Any]:
    limits = {"write_limits": ["4/1s"]}  # stricter than the fake's five a second
    return {"github": limits, "gitlab": limits}


async def test_a_burst_of_label_commands_on_two_pulls_ends_with_the_right_labels(bot: Bot) -> None:
    """Through the app, against a fake that enforces its limit: every command takes effect in
    order, with no limit error."""
    fake = bot.fake
    one, two = (fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(2))
    limit = fake.limit_writes(5, 1.0)
    burst = [(one, "/hold"), (two, "/kind bug"), (one, "/kind bug"), (two, "/hold"), (one, "/remove-kind bug"),
             (two, "/hold cancel"), (one, "/lgtm"), (two, "/area api")]
    for number, body in burst:  # all at once
        await bot.post(fake.comment(REPO, number, COLLAB, body))
    assert await bot.queue.join(60)
    assert limit.refused == 0
    assert fake.labels(REPO, one) == {HOLD, LGTM, "needs-kind"}  # no kind left: the label plugin says so
    assert fake.labels(REPO, two) == {BUG, "area/api"}
    assert not any(bot.bot_comments(n) for n in (one, two))


SLOW_BUDGET = {"write_limits": ["2/3s"]}  # the burst has long arrived when the third write may go


@pytest.mark.parametrize("config_data", [{"github": SLOW_BUDGET, "gitlab": SLOW_BUDGET}], ids=["two-writes-in-3s"])
async def test_a_burst_of_label_commands_on_one_pull_costs_a_few_writes(bot: Bot) -> None:
    """Twelve label commands on one PR: the commands that queue while a write waits for the budget
    are handled as one run, whose label changes leave as one call.  (Without runs each command
    costs its own write: fourteen here, with the label plugin's needs-kind.)"""
    fake = bot.fake
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    limit = fake.limit_writes(5, 1.0)
    seen = len(fake.requests)
    burst = ["/hold", "/kind bug", "/area api", "/hold cancel", "/priority critical-urgent", "/remove-kind bug",
             "/kind feature", "/remove-area api", "/hold", "/sig node", "/remove-priority critical-urgent",
             "/kind bug"]
    for body in burst:  # all at once
        await bot.post(fake.comment(REPO, number, COLLAB, body))
    assert await bot.queue.join(60)
    assert limit.refused == 0
    assert fake.labels(REPO, number) == {HOLD, "kind/feature", BUG, "sig/node"}
    assert not bot.bot_comments(number)
    assert len(label_requests(fake, seen)) <= len(burst) // 2
