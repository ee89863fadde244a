"""/metrics for merge automation on both forges: merges, refusals and pass durations."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import MERGE_KEY
from bot.events import ItemKind
from tests.conftest import AUTHOR, REPO, Bot
from tests.test_metrics_e2e import scrape


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"merge": {"sync_interval": 3600}}


async def test_merges_refusals_and_pass_durations(bot: Bot, forge_name: str) -> None:
    fake: Any = bot.fake
    kind: dict[str, Any] = {"kind": ItemKind.PULL} if forge_name == "gitlab" else {}
    merger = bot.client.app[MERGE_KEY]
    refused, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    fake.fail_next("PUT", r".*/merge$", 405, times=1)
    fake.set_labels(REPO, refused, ["lgtm", "approved"], **kind)
    await merger.idle()
    await merger.sync(forge_name, REPO)
    s = await scrape(bot)
    assert s.value("prowlet_merge_refusals_total", forge=forge_name) == 1
    assert s.value("prowlet_merges_total", forge=forge_name) == 0
    passes = s.value("prowlet_merge_pass_seconds_count", forge=forge_name)
    assert passes >= 1
    merged, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    fake.set_labels(REPO, merged, ["lgtm", "approved"], **kind)
    await merger.idle()
    await merger.sync(forge_name, REPO)
    s = await scrape(bot)
    assert s.value("prowlet_merges_total", forge=forge_name) == 1
    assert s.value("prowlet_merge_pass_seconds_count", forge=forge_name) > passes
