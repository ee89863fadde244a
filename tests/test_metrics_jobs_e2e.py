"""/metrics for built-in jobs on both forges: started, finished by result, duration (from the bus)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import COLLAB, REPO, Bot
from tests.test_metrics_e2e import scrape


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"jobs": [{"name": "unit", "run": "true", "clone": False},
                     {"name": "lint", "run": "exit 3", "clone": False}]}


async def scrape_when_finished(bot: Bot, count: int) -> Any:
    """Jobs run in the background: scrape until ``count`` have finished (the metrics hear of it on
    the outcome bus, after the status reporter)."""
    for _ in range(400):
        s = await scrape(bot)
        if s.value("prowlet_jobs_finished_total") >= count:
            return s
        await asyncio.sleep(0.025)
    raise AssertionError(f"{count} jobs did not finish")


async def test_jobs_are_counted_by_result_with_their_duration(bot: Bot) -> None:
    forge = bot.fake.name
    _, opened = bot.fake.open_pull(REPO, author=COLLAB)  # trusted: its jobs run on open
    await bot.deliver(opened)
    s = await scrape_when_finished(bot, 2)
    assert s.value("prowlet_jobs_started_total", forge=forge) == 2
    assert s.value("prowlet_jobs_finished_total", forge=forge) == 2
    assert s.value("prowlet_jobs_finished_total", forge=forge, job="unit", result="success") == 1
    assert s.value("prowlet_jobs_finished_total", forge=forge, job="lint", result="failure") == 1
    assert s.value("prowlet_job_duration_seconds_count", forge=forge) == 2
