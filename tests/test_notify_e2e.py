"""Outcomes published where they happen reach a chat channel, on both forges end to end: a merge,
a refused merge, a hold, an approval and a failed command, each one message (a signed webhook
receiver on 127.0.0.1 checks the signature and records them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.forge.base import ChangedFile, Permission
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed
from tests.notify_receivers import HOOK_SECRET, Receivers
from tests.test_merge_e2e import READY, opened, sync

APPROVER = "ray"


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receivers, str]]:
    found = Receivers()
    async with TestServer(found.app(), host="127.0.0.1") as server:
        yield found, str(server.make_url("")).rstrip("/")


@pytest.fixture
def config_data(receivers: tuple[Receivers, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    _, base = receivers
    monkeypatch.setenv("PROWLET_TEST_AUDIT_URL", f"{base}/webhook/audit")
    monkeypatch.setenv("PROWLET_TEST_AUDIT_SECRET", HOOK_SECRET)
    channel = {"kind": "webhook", "url_env": "PROWLET_TEST_AUDIT_URL", "secret_env": "PROWLET_TEST_AUDIT_SECRET"}
    return {"merge": {"sync_interval": 3600},
            "notify": {"channels": {"audit": channel}, "routes": [{"repos": [REPO], "channels": ["audit"]}],
                       "retry_after": 0.05}}


async def received(found: Receivers, kind: str, count: int = 1) -> list[dict[str, Any]]:
    def of_kind() -> list[dict[str, Any]]:
        return [r.body for r in found.accepted if r.body["type"] == kind]

    await found.wait(lambda: len(of_kind()) >= count)
    assert found.refused == []
    return of_kind()


async def test_a_merge_is_announced_once(bot: Bot, receivers: tuple[Receivers, str]) -> None:
    found, _ = receivers
    number = await opened(bot, READY)
    await sync(bot)
    await sync(bot)
    [merged] = await received(found, "Merged")
    assert merged["outcome"]["forge"] == bot.fake.name
    assert (merged["outcome"]["number"], merged["outcome"]["author"]) == (str(number), AUTHOR)
    assert merged["outcome"]["sha"] == bot.fake.head_sha(REPO, number)


async def test_a_refused_merge_is_announced(bot: Bot, receivers: tuple[Receivers, str]) -> None:
    found, _ = receivers
    fake: Any = bot.fake
    number = await opened(bot, READY)
    fake.fail_next("PUT", r".*/merge$", 405, times=1)
    await sync(bot)
    [refused] = await received(found, "MergeRefused")
    assert refused["outcome"]["number"] == str(number)
    assert refused["outcome"]["reason"]


async def test_a_hold_is_announced_with_who_and_why(bot: Bot, receivers: tuple[Receivers, str]) -> None:
    found, _ = receivers
    number, delivery = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(delivery)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/hold needs more tests"))
    [held] = await received(found, "HoldPlaced")
    assert (held["outcome"]["by"], held["outcome"]["reason"]) == (COLLAB, "needs more tests")
    assert held["text"] == f"{COLLAB} put a hold on {REPO}{'#' if bot.fake.name == 'github' else '!'}{number}: needs more tests"


async def test_an_approval_is_announced_when_it_completes(bot: Bot, receivers: tuple[Receivers, str]) -> None:
    found, _ = receivers
    fake = bot.fake
    fake.set_permission(REPO, APPROVER, Permission.WRITE)
    fake.set_file(REPO, "OWNERS", f"approvers: [{APPROVER}]\n")
    number, delivery = fake.open_pull(REPO, author=AUTHOR, files=[ChangedFile("src/a.go")])
    await bot.deliver(delivery)
    await bot.deliver(fake.comment(REPO, number, APPROVER, typed(fake.name, "/approve")))
    assert "approved" in fake.labels(REPO, number)
    [approval] = await received(found, "ApprovalComplete")
    assert approval["outcome"]["approvers"] == APPROVER


async def test_a_failed_command_is_announced(bot: Bot, receivers: tuple[Receivers, str]) -> None:
    found, _ = receivers
    fake: Any = bot.fake
    number, delivery = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(delivery)
    method, path = ("POST", rf"/issues/{number}/labels$") if fake.name == "github" else ("PUT", rf"/merge_requests/{number}$")
    fake.fail_next(method, path, 403, times=1)
    await bot.deliver(fake.comment(REPO, number, COLLAB, "/hold"))
    [failed] = await received(found, "CommandFailed")
    assert (failed["outcome"]["command"], failed["outcome"]["user"]) == ("hold", COLLAB)
    assert any("I couldn't complete that" in c for c in bot.bot_comments(number))
