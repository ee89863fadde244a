"""Quiet hours and batching: one digest instead of many messages, durable through the outbox.

The time logic as tables of named cases; delivery end to end against the local receivers (each
checks its service's documented payload), with the notifier's clock set by the test (no waiting)."""

from __future__ import annotations

import asyncio
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import NOTIFY_KEY
from bot.config import parse_config
from bot.notify.digest import Pending, digest
from bot.notify.message import Message
from bot.notify.quiet import QuietWindow, digest_due
from bot.options import ConfigError
from bot.outcomes import Merged
from plugins import REGISTRY
from tests.clock import Clock
from tests.notify_receivers import Receivers
from tests.test_notify import SERVICES, Running, notify_config, receivers  # noqa: F401

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietWindow(time(22, 0), time(7, 0), BERLIN)
LUNCH = QuietWindow(time(12, 0), time(13, 30), ZoneInfo("Asia/Shanghai"))


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


QUIET = [
    ("late evening is quiet", NIGHT, "2026-12-07 23:10", True),
    ("from is inside", NIGHT, "2026-12-07 22:00", True),
    ("to is outside", NIGHT, "2026-12-08 07:00", False),
    ("after midnight is quiet", NIGHT, "2026-12-08 03:00", True),
    ("the afternoon is not", NIGHT, "2026-12-07 15:00", False),
    ("a window within a day", LUNCH, "2026-12-07 12:45", True),
    ("its end is outside", LUNCH, "2026-12-07 13:30", False),
    ("its morning is not", LUNCH, "2026-12-07 09:00", False),
    ("summer time: local 23:00 is quiet", NIGHT, "2026-07-01 23:00", True),
]


@pytest.mark.parametrize("window,local,quiet", [c[1:] for c in QUIET], ids=[c[0] for c in QUIET])
def test_is_quiet(window: QuietWindow, local: str, quiet: bool) -> None:
    assert window.is_quiet(at(local, window.tz)) is quiet


UTC = ZoneInfo("UTC")
SMALL_HOURS = QuietWindow(time(2, 0), time(3, 0), BERLIN)
DST = [
    # 2026-03-29: Berlin's clocks go from 02:00 to 03:00 (01:00 UTC); 2026-10-25: from 03:00 back to 02:00.
    ("spring: the last minute before the gap", "2026-03-29 00:59", False),
    ("spring: the hour 02:00-03:00 does not exist", "2026-03-29 01:00", False),
    ("autumn: 02:30 the first time (summer time)", "2026-10-25 00:30", True),
    ("autumn: 02:30 the second time (winter time)", "2026-10-25 01:30", True),
    ("autumn: 03:00 winter time", "2026-10-25 02:00", False),
]


@pytest.mark.parametrize("utc,quiet", [c[1:] for c in DST], ids=[c[0] for c in DST])
def test_quiet_hours_follow_the_local_clock_across_daylight_saving(utc: str, quiet: bool) -> None:
    assert SMALL_HOURS.is_quiet(at(utc, UTC)) is quiet


DUE = [
    ("batch window not over", at("2026-12-07 15:00"), at("2026-12-07 15:04"), 300, None, False),
    ("batch window over", at("2026-12-07 15:00"), at("2026-12-07 15:05"), 300, None, True),
    ("quiet only: not while quiet", at("2026-12-07 23:00"), at("2026-12-08 06:59"), 0, NIGHT, False),
    ("quiet only: at its end", at("2026-12-07 23:00"), at("2026-12-08 07:00"), 0, NIGHT, True),
    ("a window ending in quiet hours waits for the morning", at("2026-12-07 21:58"), at("2026-12-07 22:03"), 300,
     NIGHT, False),
    ("the morning after: due", at("2026-12-07 21:58"), at("2026-12-08 07:00"), 300, NIGHT, True),
]


@pytest.mark.parametrize("since,now,window,quiet,due", [c[1:] for c in DUE], ids=[c[0] for c in DUE])
def test_digest_due(since: float, now: float, window: float, quiet: QuietWindow | None, due: bool) -> None:
    assert digest_due(since, now, window, quiet) is due


def _msg(n: int) -> Message:
    return Message(f"c:Merged:{n}", f"prowlet: Merged #{n}", f"Merged acme/widgets#{n}", f"https://x/{n}", "Merged",
                   {"number": str(n)})


def test_a_gathered_message_is_kept_once_and_the_rest_counted() -> None:
    pending = Pending(since=1.0)
    assert pending.add(_msg(1), keep=2) and pending.add(_msg(2), keep=2)
    assert not pending.add(_msg(2), keep=2)  # its entry ran again
    assert pending.add(_msg(3), keep=2) and not pending.add(_msg(3), keep=2)
    assert (len(pending.messages), pending.more, pending.count) == (2, 1, 3)
    assert Pending.from_store(pending.to_store()) == pending
    text = digest("c", pending).text
    assert text.splitlines() == ["• Merged acme/widgets#1 (https://x/1)", "• Merged acme/widgets#2 (https://x/2)",
                                 "… and 1 more"]
    assert digest("c", pending).key == digest("c", Pending.from_store(pending.to_store())).key  # stable


BAD = [
    ("from is no time", {"quiet_hours": {"from": "10pm", "to": "07:00"}}, "quiet_hours.from: expected a time of day"),
    ("unknown zone", {"quiet_hours": {"from": "22:00", "to": "07:00", "tz": "Europe/Nowhere"}},
     "quiet_hours.tz: unknown time zone"),
    ("empty window", {"quiet_hours": {"from": "22:00", "to": "22:00"}}, "quiet_hours.to: must differ"),
    ("unknown key", {"quiet_hours": {"start": "22:00"}}, "quiet_hours.start: unknown key (known keys: from, to, tz)"),
    ("tiny batch", {"batch": {"max": 1}}, "batch.max: must be at least 2"),
]


@pytest.mark.parametrize("extra,problem", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_quiet_hours_and_batch_settings(extra: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"notify": {"channels": {"c": {"kind": "slack", "url_env": "U", **extra}}}}, REGISTRY)
    assert f"notify.channels.c.{problem}" in str(err.value)


# -- end to end ------------------------------------------------------------------------------------------

def merged(n: int) -> Merged:
    return Merged("github", "acme/widgets", n, f"{n:040d}", "merge", title=f"Change {n}")


def _config(base: str, notify: dict[str, Any] | None = None, **channel: Any) -> tuple[Any, dict[str, str]]:
    """The six services' channels of tests/test_notify.py, each with ``channel``'s settings added."""
    config, env = notify_config(base)
    data = {"intake": {"repair_interval": "0"},
            "notify": {"channels": {name: {**vars_of(c), **channel} for name, c in config.raw.notify.channels.items()},
                       "routes": [{"repos": ["acme/*"], "channels": list(SERVICES)}], "retry_after": 0.05,
                       **(notify or {})}}
    return parse_config(data, REGISTRY), env


def vars_of(channel: Any) -> dict[str, Any]:
    return {k: v for k, v in {"kind": channel.kind, "url_env": channel.url_env, "secret_env": channel.secret_env,
                              "keyword": channel.keyword, "template": channel.template}.items() if v}


async def _settled(bot: Running) -> None:
    """Every stored entry handled (gathered or sent): what a test may check has happened."""
    notifications = bot.client.app[NOTIFY_KEY]
    while (await notifications.outbox.stats(0)).pending or notifications.worker.in_flight:
        await asyncio.sleep(0.01)


async def _start(bot: Running, clock: Clock) -> Any:
    notifications = bot.client.app[NOTIFY_KEY]
    notifications.clock = clock
    return notifications


def _digests(found: Receivers, service: str) -> list[Any]:
    return [r for r in found.accepted if r.service == service and ":digest:" in r.key]


async def test_a_full_batch_goes_out_at_once_as_one_digest_per_service(receivers: tuple[Receivers, str],  # noqa: F811
                                                                       tmp_path: Path) -> None:
    found, base = receivers
    config, env = _config(base, batch={"window": 300, "max": 3})
    async with Running(config, env, tmp_path / "data") as bot:
        await _start(bot, Clock(at("2026-12-07 15:00")))
        for n in (1, 2):
            await bot.publish(merged(n))
        await _settled(bot)
        assert found.accepted == [] and found.attempts == {}  # gathered, not sent
        await bot.publish(merged(3))
        await found.wait(lambda: all(_digests(found, s) for s in SERVICES))
        await _settled(bot)
    assert found.refused == []  # each service's documented shape, signature and keyword rule
    assert len(found.accepted) == len(SERVICES)
    hook = _digests(found, "webhook")[0].body
    assert hook["type"] == "Digest" and hook["outcome"]["count"] == 3
    assert [m["number"] for m in hook["outcome"]["messages"]] == ["1", "2", "3"]
    slack = _digests(found, "slack")[0].body
    assert slack["text"] == "prowlet: 3 notifications"
    assert all(f"acme/widgets#{n}" in slack["blocks"][0]["text"]["text"] for n in (1, 2, 3))


async def test_a_batch_window_closes_with_the_tick(receivers: tuple[Receivers, str], tmp_path: Path) -> None:  # noqa: F811
    found, base = receivers
    config, env = _config(base, batch={"window": 300, "max": 20})
    async with Running(config, env, tmp_path / "data") as bot:
        clock = Clock(at("2026-12-07 15:00"))
        notifications = await _start(bot, clock)
        await bot.publish(merged(1))
        await _settled(bot)  # gathered at 15:00: the window starts
        clock.now += 60
        await bot.publish(merged(2))
        await _settled(bot)
        assert await notifications.flush_due() == 0 and found.accepted == []  # the window is not over
        clock.now += 240
        assert await notifications.flush_due() == len(SERVICES)
        assert await notifications.flush_due() == 0  # queued once
        await found.wait(lambda: all(_digests(found, s) for s in SERVICES))
        await _settled(bot)
        assert await notifications.flush_due() == 0  # sent: nothing left to flush
    assert found.refused == [] and len(found.accepted) == len(SERVICES)
    assert _digests(found, "webhook")[0].body["outcome"]["count"] == 2


async def test_quiet_hours_hold_messages_across_a_restart_for_one_morning_digest(
        receivers: tuple[Receivers, str], tmp_path: Path) -> None:  # noqa: F811
    found, base = receivers
    config, env = _config(base, quiet_hours={"from": "22:00", "to": "07:00", "tz": "Europe/Berlin"})
    data_dir = tmp_path / "data"
    async with Running(config, env, data_dir) as bot:
        notifications = await _start(bot, Clock(at("2026-12-07 23:00")))
        for n in range(1, 6):
            await bot.publish(merged(n))
        await bot.publish(merged(5))  # published again: a duplicate, not a sixth line
        await _settled(bot)
        assert await notifications.flush_due() == 0
    assert found.accepted == []
    async with Running(config, env, data_dir) as bot:  # a restart in the night: the digests are stored
        clock = Clock(at("2026-12-08 06:59"))
        notifications = await _start(bot, clock)
        assert await notifications.flush_due() == 0
        clock.now = at("2026-12-08 07:00")
        assert await notifications.flush_due() == len(SERVICES)
        await found.wait(lambda: all(_digests(found, s) for s in SERVICES))
        await _settled(bot)
        await bot.publish(merged(6))  # daytime, no batching: sent as it is
        await found.wait(lambda: len(found.accepted) >= 2 * len(SERVICES))
        await _settled(bot)
    assert found.refused == []
    assert len(found.accepted) == 2 * len(SERVICES)  # one digest and one message per channel: nothing twice
    hook = [r.body for r in found.accepted if r.service == "webhook"]
    assert hook[0]["type"] == "Digest" and [m["number"] for m in hook[0]["outcome"]["messages"]] == ["1", "2", "3", "4", "5"]
    assert hook[1]["type"] == "Merged" and hook[1]["outcome"]["number"] == "6"


async def test_a_failing_digest_is_retried_and_sent_once(receivers: tuple[Receivers, str], tmp_path: Path) -> None:  # noqa: F811
    found, base = receivers
    config, env = _config(base, batch={"window": 300, "max": 2})
    found.fail_next["webhook"] = 2
    async with Running(config, env, tmp_path / "data") as bot:
        await _start(bot, Clock(at("2026-12-07 15:00")))
        await bot.publish(merged(1))
        await bot.publish(merged(2))
        await found.wait(lambda: all(_digests(found, s) for s in SERVICES))
        await _settled(bot)
    assert found.attempts["webhook"] == 3 and len(_digests(found, "webhook")) == 1
    assert len(found.accepted) == len(SERVICES)


async def test_a_single_gathered_message_goes_out_as_itself(receivers: tuple[Receivers, str],  # noqa: F811
                                                            tmp_path: Path) -> None:
    found, base = receivers
    config, env = _config(base, quiet_hours={"from": "22:00", "to": "07:00", "tz": "Europe/Berlin"})
    async with Running(config, env, tmp_path / "data") as bot:
        clock = Clock(at("2026-12-07 23:00"))
        notifications = await _start(bot, clock)
        await bot.publish(merged(1))
        await _settled(bot)
        clock.now = at("2026-12-08 07:30")
        assert await notifications.flush_due() == len(SERVICES)
        await found.wait(lambda: len(found.accepted) >= len(SERVICES))
        await _settled(bot)
    assert found.refused == [] and len(found.accepted) == len(SERVICES)
    assert all(":digest:" not in r.key and r.key.endswith(f"{1:040d}") for r in found.accepted)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_gathered_messages_round_trip_through_each_state_store(kind: str, tmp_path: Path, request: Any) -> None:
    from bot.notify.digest import NS
    from bot.store import open_stores

    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        stores = open_stores(tmp_path, server.url, redis_prefix=request.getfixturevalue("redis_prefix"))
    else:
        stores = open_stores(tmp_path)
    try:
        pending = Pending(since=1796680800.5)
        for n in (1, 2, 3):
            pending.add(_msg(n), keep=2)
        await stores.state.put(NS, "c", pending.to_store(), ttl=60)
        assert Pending.from_store(await stores.state.get(NS, "c")) == pending
    finally:
        await stores.close()


async def test_a_digest_whose_flush_was_parked_is_queued_again_by_the_next_tick(
        receivers: tuple[Receivers, str], tmp_path: Path) -> None:  # noqa: F811
    found, base = receivers
    config, env = _config(base, {"max_attempts": 1}, batch={"window": 300, "max": 20})  # parked at once
    found.fail_next["webhook"] = 1
    async with Running(config, env, tmp_path / "data") as bot:
        clock = Clock(at("2026-12-07 15:00"))
        notifications = await _start(bot, clock)
        for n in (1, 2):
            await bot.publish(merged(n))
            await _settled(bot)
        clock.now += 300
        assert await notifications.flush_due() == len(SERVICES)
        await found.wait(lambda: found.attempts["webhook"] == 1 and len(found.accepted) == len(SERVICES) - 1)
        while (await notifications.outbox.stats(0)).failed != 1:  # the webhook's flush, parked
            await asyncio.sleep(0.01)
        assert _digests(found, "webhook") == []
        assert await notifications.flush_due() == 1  # only the webhook still has its digest
        await found.wait(lambda: len(_digests(found, "webhook")) == 1)
        await _settled(bot)
        assert await notifications.flush_due() == 0
    assert len(found.accepted) == len(SERVICES)
