"""Label writes held back during a worker's run of one PR's events (``bot.forge.deferral``), through
the layered client and the real SDKs against the fake forges: held only when the budget is spent,
sent as one call, laid over what the run reads, sent first before anything that depends on them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.app import compose_forge
from bot.events import ItemKind, ItemRef
from bot.forge.base import NotFoundError
from bot.forge.deferral import LabelDeferral
from bot.forge.layered import AsyncForge
from tests.conftest import REPO, make_client
from tests.fakes.base import FakeForge
from tests.held_budget import HeldClock, clock, forge, label_requests, pull, write_kinds  # noqa: F401 (fixtures)

HOLD, BUG, LGTM, DOCS = "do-not-merge/hold", "kind/bug", "lgtm", "needs-docs"


async def test_a_runs_label_writes_wait_for_nothing_and_leave_as_one_call(
        fake: FakeForge, forge: AsyncForge, clock: HeldClock, pull: ItemRef) -> None:
    await forge.add_labels(pull, [DOCS])  # spends the minute's budget
    seen = len(fake.requests)
    run = LabelDeferral()
    with run.active():
        # Each returns at once although the budget is spent: they are held, not queued.
        await forge.add_labels(pull, [HOLD])
        await forge.add_labels(pull, [BUG])
        await forge.remove_label(pull, DOCS)
        await forge.add_labels(pull, [LGTM])
        assert run.holding
        assert fake.labels(REPO, pull.number) == {DOCS}  # nothing sent yet
        assert (await forge.get_item(pull)).labels == {HOLD, BUG, LGTM}  # but the run sees its changes
    clock.release()
    await run.flush()
    assert fake.labels(REPO, pull.number) == {HOLD, BUG, LGTM}
    assert len(label_requests(fake, seen)) == 1
    assert forge.deferring.coalesced == 3
    assert not run.holding


async def test_a_single_held_write_goes_out_as_it_was_made(fake: FakeForge, forge: AsyncForge, clock: HeldClock,
                                                           pull: ItemRef) -> None:
    await forge.add_labels(pull, [DOCS])
    run = LabelDeferral()
    with run.active():
        await forge.add_labels(pull, [HOLD])
    clock.release()
    await run.flush()
    assert fake.labels(REPO, pull.number) == {DOCS, HOLD}
    assert forge.metering.calls["change_labels"] == 0 and forge.deferring.coalesced == 0


async def test_under_budget_nothing_is_held(fake: FakeForge, pull: ItemRef) -> None:
    forge = compose_forge(make_client(fake))  # no write limit
    try:
        seen = len(fake.requests)
        run = LabelDeferral()
        with run.active():
            await forge.add_labels(pull, [HOLD])
            assert fake.labels(REPO, pull.number) == {HOLD}  # sent at once
            await forge.remove_label(pull, HOLD)
            assert not run.holding
        await run.flush()
        assert len(label_requests(fake, seen)) == 2
    finally:
        forge.close()


async def test_a_comment_sends_the_held_labels_first(fake: FakeForge, forge: AsyncForge, clock: HeldClock,
                                                     pull: ItemRef) -> None:
    await forge.add_labels(pull, [DOCS])
    seen = len(fake.requests)
    run = LabelDeferral()
    clock.release()  # from here every write waits its turn in fake time: the order is what counts
    with run.active():
        await forge.add_labels(pull, [HOLD])
        await forge.add_labels(pull, [BUG])
        await forge.comment(pull, "after the hold")
        await forge.remove_label(pull, HOLD)
        await forge.add_labels(pull, [LGTM])
    await run.flush()
    assert write_kinds(fake, seen) == ["label", "comment", "label"]
    assert fake.labels(REPO, pull.number) == {DOCS, BUG, LGTM}


Read = Callable[[AsyncForge, ItemRef], Awaitable[Any]]


@pytest.mark.parametrize("read, shows_hold", [
    (lambda forge, pull: forge.label_added_by(pull, HOLD), lambda answer: answer is not None),
    (lambda forge, pull: forge.mergeability(pull), lambda answer: HOLD in answer.item.labels),
    (lambda forge, pull: forge.list_open_pulls(REPO),
     lambda answer: any(HOLD in p.item.labels for p in answer)),
], ids=["who-added-a-label", "mergeability", "open-pulls"])
async def test_a_read_that_depends_on_labels_sends_the_held_change_first(
        fake: FakeForge, forge: AsyncForge, clock: HeldClock, pull: ItemRef, read: Read,
        shows_hold: Callable[[Any], bool]) -> None:
    await forge.add_labels(pull, [DOCS])
    run = LabelDeferral()
    with run.active():
        await forge.add_labels(pull, [HOLD])
        assert fake.labels(REPO, pull.number) == {DOCS}
        clock.release()
        assert shows_hold(await read(forge, pull))
        assert not run.holding
    await run.flush()


async def test_every_held_item_is_tried_and_the_first_failure_raised(
        fake: FakeForge, forge: AsyncForge, clock: HeldClock, pull: ItemRef) -> None:
    gone = ItemRef(REPO, 999, ItemKind.PULL)
    await forge.add_labels(pull, [DOCS])
    run = LabelDeferral()
    with run.active():
        await forge.add_labels(gone, [HOLD])
        await forge.add_labels(pull, [HOLD])
    clock.release()
    with pytest.raises(NotFoundError):
        await run.flush()
    assert fake.labels(REPO, pull.number) == {DOCS, HOLD}


async def test_a_write_after_the_run_ended_is_not_held(fake: FakeForge, forge: AsyncForge, clock: HeldClock,
                                                       pull: ItemRef) -> None:
    """A task started inside the run keeps the run in its context; once the run has flushed, its
    writes go out as usual instead of into a run nobody will flush again."""
    await forge.add_labels(pull, [DOCS])
    run = LabelDeferral()
    go_on = asyncio.Event()

    async def later() -> None:
        await go_on.wait()
        await forge.add_labels(pull, [LGTM])

    with run.active():
        task = asyncio.ensure_future(later())
    clock.release()
    await run.flush()
    go_on.set()
    await task
    assert fake.labels(REPO, pull.number) == {DOCS, LGTM}
    assert not run.holding


async def test_held_changes_wait_for_the_end_of_the_run(fake: FakeForge, forge: AsyncForge, clock: HeldClock,
                                                         pull: ItemRef) -> None:
    """Room in the budget does not send them early: the run's later label changes join them."""
    await forge.add_labels(pull, [DOCS])
    seen = len(fake.requests)
    run = LabelDeferral()
    with run.active():
        await forge.add_labels(pull, [HOLD])
        clock.now += 61  # the minute is over: room again
        assert await run.ready()
        await forge.list_comments(pull)
        await forge.add_labels(pull, [BUG])
        assert run.holding
    await run.flush()
    assert fake.labels(REPO, pull.number) == {DOCS, HOLD, BUG}
    assert len(label_requests(fake, seen)) == 1


async def test_a_held_change_that_fails_on_the_way_fails_the_run_not_the_caller(
        fake: FakeForge, forge: AsyncForge, clock: HeldClock, pull: ItemRef) -> None:
    """A reply sends the held /hold first; that send fails: the reply still goes (its own call
    worked), and the run ends failed, so that its events are handled again and no command is lost."""
    await forge.add_labels(pull, [DOCS])
    run = LabelDeferral()
    with run.active():
        await forge.add_labels(pull, [HOLD])
        if fake.name == "github":
            fake.fail_next("POST", rf"/issues/{pull.number}/labels$", 404)
        else:
            fake.fail_next("PUT", rf"/merge_requests/{pull.number}$", 404)
        clock.release()
        await forge.comment(pull, "a reply")
        assert run.holding  # not held any more, but not made either
    with pytest.raises(NotFoundError):
        await run.flush()
    assert fake.labels(REPO, pull.number) == {DOCS}
    assert [body for _, body in fake.comments(REPO, pull.number)] == ["a reply"]
