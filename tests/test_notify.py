"""Notifications: routing and templates as tables; delivery end to end, from the outcome bus of a
running app to local receivers that check each service's documented payload and signature."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import BUS_KEY, NOTIFY_KEY, build_app
from bot.config import NotifyRoute, parse_config
from bot.notify.message import render
from bot.notify.routing import channels_for
from bot.options import ConfigError
from bot.outcomes import CommandFailed, HoldPlaced, JobFinished, Merged
from plugins import REGISTRY
from tests.notify_receivers import DING_SECRET, DING_TOKEN, FEISHU_SECRET, HOOK_SECRET, WECOM_KEY, Receivers

SERVICES = ("slack", "dingtalk", "feishu", "wecom", "teams", "webhook")
MERGED = Merged("github", "acme/widgets", 7, "a" * 40, "squash", title="Fix the widget",
                url="https://github.example/acme/widgets/pull/7", author="alice", labels=("lgtm", "approved"))
HELD = HoldPlaced("gitlab", "group/sub/proj", 3, by="bob", reason="needs more tests", author="carol")
FAILED = CommandFailed("github", "acme/widgets", 7, command="assign", user="bob", error="forge unavailable")
JOB = JobFinished("j1", "unit", "github", "other/repo", 9, "b" * 40, "failure", "Tests failed.", "https://x/job/j1")


# -- routing and templates (pure) ---------------------------------------------------------------

ROUTES = [
    ("glob matches", [NotifyRoute(repos=["acme/*"], channels=["a"])], MERGED, ["a"]),
    ("glob misses", [NotifyRoute(repos=["other/*"], channels=["a"])], MERGED, []),
    ("nested GitLab group glob", [NotifyRoute(repos=["group/**"], channels=["a"])], HELD, ["a"]),
    ("outcome type listed", [NotifyRoute(outcomes=["Merged"], channels=["a"])], MERGED, ["a"]),
    ("outcome type not listed", [NotifyRoute(outcomes=["MergeRefused"], channels=["a"])], MERGED, []),
    ("any label of the list", [NotifyRoute(labels=["release", "LGTM"], channels=["a"])], MERGED, ["a"]),
    ("no listed label", [NotifyRoute(labels=["release"], channels=["a"])], MERGED, []),
    ("author listed", [NotifyRoute(authors=["Alice"], channels=["a"])], MERGED, ["a"]),
    ("author not listed", [NotifyRoute(authors=["dave"], channels=["a"])], MERGED, []),
    ("every condition must hold", [NotifyRoute(repos=["acme/*"], outcomes=["Merged"], authors=["dave"], channels=["a"])],
     MERGED, []),
    ("routes add up, each channel once", [NotifyRoute(channels=["a", "b"]), NotifyRoute(outcomes=["Merged"], channels=["b", "c"])],
     MERGED, ["a", "b", "c"]),
    ("job outcomes route by repository", [NotifyRoute(repos=["other/*"], outcomes=["JobFinished"], channels=["ci"])],
     JOB, ["ci"]),
]


@pytest.mark.parametrize("routes,outcome,expected", [c[1:] for c in ROUTES], ids=[c[0] for c in ROUTES])
def test_routing(routes: list[NotifyRoute], outcome: object, expected: list[str]) -> None:
    assert channels_for(routes, outcome) == expected


TEMPLATES = [
    ("default is the summary", "", MERGED, "Merged acme/widgets#7 (squash): Fix the widget"),
    ("fields by name", "{type} {item} by {author} {url}", MERGED,
     "Merged acme/widgets#7 by alice https://github.example/acme/widgets/pull/7"),
    ("GitLab items use !", "{item}", HELD, "group/sub/proj!3"),
    ("tuples joined", "{labels}", MERGED, "lgtm, approved"),
    ("unknown names stay", "{nope} {summary}", FAILED, "{nope} /assign by bob failed on acme/widgets#7: forge unavailable"),
    ("no attribute access", "{repo.__class__}", MERGED, "{repo.__class__}"),
]


@pytest.mark.parametrize("template,outcome,expected", [c[1:] for c in TEMPLATES], ids=[c[0] for c in TEMPLATES])
def test_templates(template: str, outcome: object, expected: str) -> None:
    assert render(template, outcome) == expected


BAD_CONFIG = [
    ("unknown kind", {"channels": {"c": {"kind": "irc", "url_env": "U"}}}, "notify.channels.c.kind: must be one of"),
    ("url_env missing", {"channels": {"c": {"kind": "slack"}}}, "notify.channels.c.url_env: name the environment variable"),
    ("webhook unsigned", {"channels": {"c": {"kind": "webhook", "url_env": "U"}}}, "notify.channels.c.secret_env: a generic webhook"),
    ("route to unknown channel", {"routes": [{"channels": ["nope"]}]}, "notify.routes[0].channels[0]: unknown channel 'nope'"),
    ("route without channels", {"routes": [{"repos": ["a/*"]}]}, "notify.routes[0].channels: name at least one"),
    ("unknown outcome", {"channels": {"c": {"kind": "slack", "url_env": "U"}}, "routes": [{"outcomes": ["Merge"], "channels": ["c"]}]},
     "notify.routes[0].outcomes[0]: unknown outcome 'Merge'"),
]


@pytest.mark.parametrize("notify,message", [c[1:] for c in BAD_CONFIG], ids=[c[0] for c in BAD_CONFIG])
def test_bad_notify_config(notify: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"notify": notify}, REGISTRY)
    assert message in str(err.value)


# -- delivery end to end ------------------------------------------------------------------------

@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receivers, str]]:
    found = Receivers()
    async with TestServer(found.app(), host="127.0.0.1") as server:
        yield found, str(server.make_url("")).rstrip("/")


def notify_config(base: str, **options: Any) -> tuple[Any, dict[str, str]]:
    env = {
        "SLACK_URL": f"{base}/slack/services/T000/B000/XXXX",
        "DING_URL": f"{base}/dingtalk/robot/send?access_token={DING_TOKEN}", "DING_SECRET": DING_SECRET,
        "FEISHU_URL": f"{base}/feishu/open-apis/bot/v2/hook/0d2f", "FEISHU_SECRET": FEISHU_SECRET,
        "WECOM_URL": f"{base}/wecom/cgi-bin/webhook/send?key={WECOM_KEY}",
        "TEAMS_URL": f"{base}/teams/workflows/abc/triggers/manual/paths/invoke",
        "HOOK_URL": f"{base}/webhook/prowlet", "HOOK_SECRET": HOOK_SECRET,
    }
    channels = {
        "slack": {"kind": "slack", "url_env": "SLACK_URL", "template": "{summary} <{url}|open>"},
        "dingtalk": {"kind": "dingtalk", "url_env": "DING_URL", "secret_env": "DING_SECRET", "keyword": "[CI]"},
        "feishu": {"kind": "feishu", "url_env": "FEISHU_URL", "secret_env": "FEISHU_SECRET"},
        "wecom": {"kind": "wecom", "url_env": "WECOM_URL"},
        "teams": {"kind": "teams", "url_env": "TEAMS_URL"},
        "webhook": {"kind": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
    }
    data = {"intake": {"repair_interval": "0"},
            "notify": {"channels": channels, "routes": [{"repos": ["acme/*"], "channels": list(channels)}],
                       "retry_after": 0.05, **options}}
    return parse_config(data, REGISTRY), env


class Running:
    def __init__(self, config: Any, env: dict[str, str], data_dir: Path, dashboard_token: str | None = None) -> None:
        self.client = TestClient(TestServer(build_app(config, {}, data_dir, env=env, dashboard_token=dashboard_token)))

    async def __aenter__(self) -> Running:
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def publish(self, outcome: object) -> None:
        await self.client.app[BUS_KEY].publish(outcome)


def delivered_everywhere(found: Receivers, key_part: str, services: tuple[str, ...] = SERVICES) -> bool:
    return all(any(key_part in k for k in found.keys(s)) for s in services)


async def test_each_service_gets_its_documented_payload_once(receivers: tuple[Receivers, str], tmp_path: Path) -> None:
    found, base = receivers
    config, env = notify_config(base)
    async with Running(config, env, tmp_path / "data") as bot:
        await bot.publish(MERGED)
        await bot.publish(JOB)  # other/repo: no route
        await found.wait(lambda: delivered_everywhere(found, "Merged:"))
        assert found.refused == []
        assert sorted(r.service for r in found.accepted) == sorted(SERVICES)
        by_service = {r.service: r for r in found.accepted}
        assert by_service["webhook"].key == "webhook:Merged:github:acme/widgets:7:" + "a" * 40
        assert by_service["webhook"].body["outcome"]["author"] == "alice"
        assert "[CI]" in by_service["dingtalk"].body["markdown"]["text"]  # the keyword rule
        assert "<https://github.example/acme/widgets/pull/7|open>" in by_service["slack"].body["blocks"][0]["text"]["text"]
        stats = await bot.client.app[NOTIFY_KEY].outbox.stats(0)
        assert (stats.pending, stats.failed) == (0, 0)


async def test_a_failing_channel_is_retried_and_holds_up_no_other(receivers: tuple[Receivers, str], tmp_path: Path) -> None:
    found, base = receivers
    config, env = notify_config(base)
    found.fail_next["webhook"] = 10**6
    others = tuple(s for s in SERVICES if s != "webhook")
    async with Running(config, env, tmp_path / "data") as bot:
        await bot.publish(MERGED)
        await found.wait(lambda: delivered_everywhere(found, "Merged:", others) and found.attempts["webhook"] >= 3)
        assert found.keys("webhook") == []  # still failing, while every other channel got its message
        found.fail_next["webhook"] = 0
        await found.wait(lambda: delivered_everywhere(found, "Merged:"))
    assert len(found.accepted) == len(SERVICES)  # retried until taken, each message taken once


async def test_a_message_is_neither_lost_nor_sent_twice_across_a_restart(receivers: tuple[Receivers, str],
                                                                          tmp_path: Path) -> None:
    found, base = receivers
    config, env = notify_config(base)
    found.fail_next["webhook"] = 10**6
    data_dir = tmp_path / "data"
    async with Running(config, env, data_dir) as bot:
        await bot.publish(MERGED)
        await found.wait(lambda: delivered_everywhere(found, "Merged:", tuple(s for s in SERVICES if s != "webhook"))
                         and found.attempts["webhook"] >= 2)
    assert found.keys("webhook") == []
    found.fail_next["webhook"] = 0
    async with Running(config, env, data_dir) as bot:  # the same data directory: the outbox is still there
        await bot.publish(MERGED)  # published again (say, a crash before it was recorded): a duplicate
        later = Merged("github", "acme/widgets", 8, "c" * 40, "merge")
        await bot.publish(later)
        # Each channel keeps its order: once the later message is in, the earlier one was sent or dropped.
        await found.wait(lambda: delivered_everywhere(found, ":8:"))
    keys = [r.key for r in found.accepted]
    assert sorted(keys) == sorted(set(keys))  # nothing twice
    assert all(any(k == f"{s}:Merged:github:acme/widgets:7:{'a' * 40}" for k in keys) for s in SERVICES)  # nothing lost
    assert found.refused == []


async def test_secrets_missing_from_the_environment_keep_messages_waiting(receivers: tuple[Receivers, str],
                                                                          tmp_path: Path) -> None:
    found, base = receivers
    config, env = notify_config(base)
    del env["HOOK_SECRET"]
    async with Running(config, env, tmp_path / "data") as bot:
        await bot.publish(MERGED)
        await found.wait(lambda: delivered_everywhere(found, "Merged:", tuple(s for s in SERVICES if s != "webhook")))
        outbox = bot.client.app[NOTIFY_KEY].outbox
        assert (await outbox.stats(0)).pending == 1  # the webhook's message: retried, never sent unsigned
    assert found.attempts["webhook"] == 0


async def test_malformed_urls_fail_their_channels_alone_and_stay_out_of_logs(
        receivers: tuple[Receivers, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found, base = receivers
    config, env = notify_config(base, max_attempts=1)
    env["DING_URL"] = "http://[not-a-host/robot/send?access_token=very-secret-token"
    env["SLACK_URL"] = "hooks.slack.example/no-scheme?token=very-secret-token"
    others = tuple(s for s in SERVICES if s not in ("dingtalk", "slack"))
    async with Running(config, env, tmp_path / "data") as bot:
        await bot.publish(MERGED)
        outbox = bot.client.app[NOTIFY_KEY].outbox
        while (await outbox.stats(0)).failed < 2:  # parked after their one attempt (no timed wait)
            await asyncio.sleep(0.01)
        await found.wait(lambda: delivered_everywhere(found, "Merged:", others))
        parked = (await outbox.stats(5)).recent_failures
    assert sorted(p.delivery.split(":")[0] for p in parked) == ["dingtalk", "slack"]
    assert not [p.error for p in parked if "very-secret-token" in p.error]
    logged = "".join(capsys.readouterr())
    assert "event handling failed" in logged and "very-secret-token" not in logged
