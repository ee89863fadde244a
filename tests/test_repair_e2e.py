"""Missed deliveries and repositories in scope, end to end on both forges.

prowlet is down (nothing listens at its public URL) while people act; the fake forge's hook
records the failed deliveries.  Then prowlet starts at that URL: the start-up repair asks the forge
to redeliver them, and the commands take effect.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from bot.app import MERGE_KEY, QUEUE_KEY, REPAIR_KEY, SCOPE_KEY, build_app
from bot.config import Config
from bot.forge.base import Permission
from bot.app import compose_forge
from bot.repair import Repairer
from tests.conftest import AUTHOR, REPO, enabled, make_client
from tests.fakes.base import Delivery, FakeForge

HOLD = "do-not-merge/hold"


@pytest.fixture
def config_data() -> dict[str, Any]:
    # the start-up pass runs by itself; the tests run later passes themselves
    return {"intake": {"repair_interval": "1h"}}


@pytest.fixture
def port() -> int:
    """A port nothing listens on (yet): prowlet's public URL while it is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def public_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hook(fake: FakeForge, public_url: str) -> int:
    """prowlet's hook on the repository; the bot may read it (GitHub: admin, GitLab: Maintainer+)."""
    fake.set_permission(REPO, fake.bot_login, Permission.ADMIN)
    return fake.add_hook(REPO, f"{public_url}/hook/{fake.name}")


Start = Callable[[], Any]


@pytest.fixture
async def start(fake: FakeForge, config: Config, tmp_path: Path, port: int, public_url: str) -> AsyncIterator[Start]:
    """Start prowlet at its public URL (once the test has acted while it was down)."""
    clients: list[TestClient] = []

    async def started() -> TestClient:
        app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data", public_url=public_url)
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        clients.append(client)
        return client

    yield started
    for client in clients:
        await client.close()


def delivery_id(delivery: Delivery) -> str:
    """What intake dedups on, and what the forge's delivery records carry."""
    headers = delivery.headers
    return headers.get("X-GitHub-Delivery") or headers.get("Idempotency-Key") or headers["X-Gitlab-Event-UUID"]


def attempts(fake: Any, hook: int) -> list[tuple[str, bool]]:
    """(delivery id, answered 2xx) of every attempt on the hook, oldest first."""
    if fake.name == "github":
        return [(guid, 200 <= code < 300) for guid, _, code in fake.hook_deliveries(hook)]
    return [(key, status.startswith("2")) for key, status in fake.hook_events(hook)]


async def settled(client: TestClient, fake: FakeForge) -> None:
    """Redeliveries asked for have arrived and been handled."""
    await asyncio.to_thread(fake.hooks_idle)
    assert await client.app[QUEUE_KEY].join(30), "events still pending after 30 s"


async def test_commands_sent_while_down_are_redelivered_at_start_up(fake: FakeForge, hook: int, start: Start) -> None:
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    hold = fake.comment(REPO, number, AUTHOR, "/hold")
    assert fake.send(opened) == [None] and fake.send(hold) == [None]  # nobody listening

    client = await start()
    repairer = client.app[REPAIR_KEY]
    await repairer.idle()
    await settled(client, fake)

    assert HOLD in fake.labels(REPO, number)
    recorded = attempts(fake, hook)
    for delivery in (opened, hold):  # failed once, then redelivered with the same id and handled
        assert [ok for key, ok in recorded if key == delivery_id(delivery)] == [False, True]

    # a second pass: everything failed has since succeeded
    assert await repairer.run_once() == 0
    await settled(client, fake)
    assert attempts(fake, hook) == recorded

    # the forge saw no answer (prowlet answered too late), but prowlet handled it: not asked again
    cancel = fake.comment(REPO, number, AUTHOR, "/hold cancel")
    assert await asyncio.to_thread(fake.send, cancel, answer_lost=True) == [None]
    await settled(client, fake)
    assert HOLD not in fake.labels(REPO, number)
    assert await repairer.run_once() == 0
    await settled(client, fake)
    assert [ok for key, ok in attempts(fake, hook) if key == delivery_id(cancel)] == [False]


async def test_a_restart_repairs_what_was_missed_while_down_again(
    fake: FakeForge, hook: int, start: Start, public_url: str
) -> None:
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    hold = fake.comment(REPO, number, AUTHOR, "/hold")
    fake.send(opened)
    fake.send(hold)
    client = await start()
    repairer = client.app[REPAIR_KEY]
    await repairer.idle()
    await settled(client, fake)

    # down again: what is sent meanwhile is repaired by the next start-up
    await client.close()
    later = fake.comment(REPO, number, AUTHOR, "/hold cancel")
    await asyncio.to_thread(fake.send, later)
    client = await start()
    await client.app[REPAIR_KEY].idle()  # a new process: its own start-up pass
    await settled(client, fake)
    assert HOLD not in fake.labels(REPO, number)
    assert [ok for key, ok in attempts(fake, hook) if key == delivery_id(later)] == [False, True]


async def test_hooks_the_bot_may_not_read_give_one_log_line_each(fake: FakeForge, public_url: str) -> None:
    """No admin on the repository (GitHub 404, GitLab 403) and no access to the owner's hooks:
    one warning per scope, not one per pass, and nothing crashes."""

    async def never_handled(forge: str, delivery: str) -> bool:
        return False

    fake.set_permission(REPO, fake.bot_login, Permission.WRITE)  # listed, but no hook access
    forge = compose_forge(make_client(fake))
    repairer = Repairer({fake.name: forge}, public_url, never_handled, interval=0, hook_refresh=0)
    try:
        with capture_logs() as logs:
            assert await repairer.run_once() == 0
            assert await repairer.run_once() == 0  # hooks looked for again (refresh 0): no new lines
    finally:
        forge.close()
    unreadable = sorted(line["scope"] for line in logs if line["event"].startswith("cannot read hooks"))
    assert unreadable == ["acme", REPO]
    assert not [line for line in logs if line["log_level"] in ("error", "critical")]


class TestScope:
    @pytest.fixture
    def config_data(self) -> dict[str, Any]:
        return {"merge": {"sync_interval": 3600, "repos": ["acme/*"]}}

    async def test_ready_pull_in_scope_merges_at_start_up_without_a_webhook(
        self, fake: FakeForge, start: Start
    ) -> None:
        fake.set_permission(REPO, fake.bot_login, Permission.WRITE)
        number, _ = fake.open_pull(REPO, author=AUTHOR)  # its webhook never reaches prowlet
        fake.set_labels(REPO, number, ["lgtm", "approved"])

        client = await start()
        assert await asyncio.gather(*client.app[SCOPE_KEY]) == [1]
        await client.app[MERGE_KEY].idle()

        assert [merge[0] for merge in fake.merges(REPO)] == [number]
