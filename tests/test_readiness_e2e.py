"""/readyz on both forges: ready once the credentials are accepted and the store answers; 503 with
what is wrong otherwise.  /healthz stays 200 throughout (alive is not ready)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.app import build_app
from bot.config import Config
from tests.conftest import Bot, GuardedTestServer


async def readyz(client: TestClient) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/readyz")
    return resp.status, await resp.json()


async def ready_eventually(client: TestClient) -> tuple[int, dict[str, Any]]:
    """The start-up credential check runs in the background: poll until it has answered."""
    for _ in range(400):
        status, body = await readyz(client)
        if not any("not checked yet" in p for p in body["problems"]):
            return status, body
        await asyncio.sleep(0.025)
    raise AssertionError("the credentials were never checked")


async def test_ready_when_credentials_are_accepted_and_the_store_answers(bot: Bot) -> None:
    status, body = await ready_eventually(bot.client)
    assert (status, body) == (200, {"ready": True, "problems": [], "forges": {bot.fake.name: "ok"}})
    assert any(r.path in ("/user",) for r in bot.fake.requests)  # whoami asked the forge


async def test_not_ready_when_the_forge_refuses_the_credentials(fake: Any, config: Config, tmp_path: Path) -> None:
    from tests.conftest import enabled

    fake.fail_next("GET", r"^/user$", 401, times=10)
    app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data")
    async with TestClient(GuardedTestServer(app)) as client:
        status, body = await ready_eventually(client)
        assert status == 503 and body["ready"] is False
        assert body["forges"][fake.name].startswith("credentials check failed")
        assert [p.split(":")[0] for p in body["problems"]] == [fake.name]
        assert (await client.get("/healthz")).status == 200


async def test_not_ready_without_any_forge(config: Config, tmp_path: Path) -> None:
    app = build_app(config, {}, tmp_path / "data")
    async with TestClient(GuardedTestServer(app)) as client:
        status, body = await readyz(client)
        assert status == 503
        assert body["problems"] == ["no forge is enabled (see the start-up log for what is missing)"]


async def test_not_ready_when_the_store_is_gone(fake: Any, config: Config, tmp_path: Path) -> None:
    from bot.store import open_stores
    from tests.conftest import enabled
    from tests.redis_server import RedisServer

    redis = RedisServer()  # its own server: this test stops it
    try:
        stores = open_stores(tmp_path / "data", redis.url, redis_prefix="readyz")
        app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data", stores=stores)
        async with TestClient(GuardedTestServer(app)) as client:
            assert (await ready_eventually(client))[0] == 200
            redis.stop()
            status, body = await readyz(client)
            assert status == 503
            assert [p for p in body["problems"] if p.startswith("store unavailable")]
            assert body["forges"] == {fake.name: "ok"}
    finally:
        redis.stop()


async def test_a_token_revoked_after_start_up_is_noticed_by_the_next_check(bot: Bot) -> None:
    from bot.app import READINESS_KEY

    assert (await ready_eventually(bot.client))[0] == 200
    bot.fake.fail_next("GET", r"^/user$", 401, times=10)  # the token was revoked
    await bot.client.app[READINESS_KEY].check_credentials()  # what the periodic check runs
    status, body = await readyz(bot.client)
    assert status == 503 and body["forges"][bot.fake.name].startswith("credentials check failed")
