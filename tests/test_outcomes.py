"""The outcome bus: typed subscriptions, publication order, isolated failures."""

from __future__ import annotations

import dataclasses

import pytest

from bot.outcomes import Bus, JobFinished, JobStarted

STARTED = JobStarted("id1", "unit", "github", "acme/widgets", 7, "a" * 40, "Job triggered.", "https://x/jobs/id1/t")
FINISHED = JobFinished("id1", "unit", "github", "acme/widgets", 7, "a" * 40, "success", "Job succeeded.",
                       "https://x/jobs/id1/t", 0)


async def test_handlers_get_only_their_type_in_publication_order() -> None:
    bus = Bus()
    seen: list[tuple[str, object]] = []

    async def on_started(o: JobStarted) -> None:
        seen.append(("started", o))

    async def on_finished(o: JobFinished) -> None:
        seen.append(("finished", o))

    async def also_finished(o: JobFinished) -> None:
        seen.append(("also", o))

    bus.subscribe(JobStarted, on_started)
    bus.subscribe(JobFinished, on_finished)
    bus.subscribe(JobFinished, also_finished)
    await bus.publish(STARTED)
    await bus.publish(FINISHED)
    await bus.publish(object())  # nobody listens: nothing happens
    assert seen == [("started", STARTED), ("finished", FINISHED), ("also", FINISHED)]


@pytest.mark.parametrize("failing_first", [True, False], ids=["failure-first", "failure-last"])
async def test_a_failing_handler_is_isolated(failing_first: bool) -> None:
    bus = Bus()
    seen: list[JobFinished] = []

    async def broken(o: JobFinished) -> None:
        raise RuntimeError("notifier down")

    async def working(o: JobFinished) -> None:
        seen.append(o)

    for handler in ([broken, working] if failing_first else [working, broken]):
        bus.subscribe(JobFinished, handler)
    await bus.publish(FINISHED)  # does not raise
    assert seen == [FINISHED]


def test_outcomes_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        STARTED.job = "other"  # type: ignore[misc]
