"""A failing notification channel is visible (health per channel, metrics) and slows no other."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.app import NOTIFY_KEY
from bot.notify.health import ChannelHealth, HealthBook
from tests.notify_receivers import Receivers
from tests.test_notify import MERGED, SERVICES, Running, delivered_everywhere, notify_config, receivers  # noqa: F401

OTHERS = tuple(s for s in SERVICES if s != "webhook")
TOKEN = "dashboard-token-for-the-operator"

HEALTH = [
    ("never posted", [], ChannelHealth()),
    ("a success", [("ok", 10)], ChannelHealth(last_success=10)),
    ("a failure", [("boom", 10)], ChannelHealth(last_failure=10, last_error="boom", failures_in_a_row=1)),
    ("failures count up", [("a", 10), ("b", 11)], ChannelHealth(last_failure=11, last_error="b", failures_in_a_row=2)),
    ("a success ends a failing run, keeping the last error", [("boom", 10), ("ok", 12)],
     ChannelHealth(last_success=12, last_failure=10, last_error="boom")),
]


@pytest.mark.parametrize("posts,expected", [c[1:] for c in HEALTH], ids=[c[0] for c in HEALTH])
def test_channel_health(posts: list[tuple[str, float]], expected: ChannelHealth) -> None:
    book = HealthBook(["c"])
    for result, now in posts:
        if result == "ok":
            book.succeeded("c", now)
        else:
            book.failed("c", result, now)
    assert book.snapshot()["c"] == expected
    assert book.snapshot()["c"].failing is (expected.failures_in_a_row > 0)


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_a_failing_channel_shows_in_health_and_metrics(receivers: tuple[Receivers, str], tmp_path: Path) -> None:
    found, base = receivers
    config, env = notify_config(base)
    found.fail_next["webhook"] = 10**6
    async with Running(config, env, tmp_path / "data", dashboard_token=TOKEN) as bot:
        notifications = bot.client.app[NOTIFY_KEY]
        await bot.publish(MERGED)
        await found.wait(lambda: delivered_everywhere(found, "Merged:", OTHERS) and found.attempts["webhook"] >= 2)
        health = notifications.health()
        assert health["webhook"].failing and "HTTP 503" in health["webhook"].last_error
        assert health["webhook"].last_success is None
        assert all(health[s].last_success and not health[s].failing for s in OTHERS)
        text = await (await bot.client.get("/metrics")).text()
        assert _metric(text, "prowlet_notify_channels_failing") == 1
        assert _metric(text, "prowlet_notify_deliveries_total", channel="webhook", result="failed") >= 2
        assert _metric(text, "prowlet_notify_deliveries_total", channel="slack", result="sent") == 1
        assert "hook-secret" not in text and base not in str(health)
        # The dashboard shows it (from the state store, as any replica would), to a logged-in operator only.
        page = await (await bot.client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).text()
        row = re.search(r"<tr><td>webhook</td>.*?</tr>", page, re.S)
        assert row and "failing" in row.group(0) and "HTTP 503" in row.group(0) and base not in page
        assert re.search(r"<tr><td>slack</td><td>slack</td>\s*<td class=\"success\">ok<", page)
        assert "Notification channels" not in await (await bot.client.get("/")).text()

        found.fail_next["webhook"] = 0
        await found.wait(lambda: delivered_everywhere(found, "Merged:"))
        while notifications.health()["webhook"].failing:  # recorded just after the receiver answered
            await asyncio.sleep(0.01)
        text = await (await bot.client.get("/metrics")).text()
        assert _metric(text, "prowlet_notify_channels_failing") == 0
        assert _metric(text, "prowlet_notify_deliveries_total", channel="webhook", result="sent") == 1
        page = await (await bot.client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).text()
        row = re.search(r"<tr><td>webhook</td>.*?</tr>", page, re.S)
        assert row and "failing" not in row.group(0) and ">ok<" in row.group(0)


async def test_a_channel_that_does_not_answer_holds_up_no_other(receivers: tuple[Receivers, str],
                                                                tmp_path: Path) -> None:
    found, base = receivers
    config, env = notify_config(base)
    found.hold["webhook"] = release = asyncio.Event()
    later = type(MERGED)("github", "acme/widgets", 8, "c" * 40, "merge")
    async with Running(config, env, tmp_path / "data") as bot:
        await bot.publish(MERGED)
        await bot.publish(later)
        # Both messages reach every other channel while the webhook's first post hangs unanswered.
        await found.wait(lambda: delivered_everywhere(found, ":7:", OTHERS) and delivered_everywhere(found, ":8:", OTHERS))
        assert found.attempts["webhook"] == 1 and found.keys("webhook") == []
        release.set()
        await found.wait(lambda: delivered_everywhere(found, ":8:"))
    assert [k.split(":")[4] for k in found.keys("webhook")] == ["7", "8"]  # the channel kept its order
