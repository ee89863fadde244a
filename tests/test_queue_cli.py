"""`prowlet queue`: what waits, how old, what failed and why — and putting failures back, on both stores."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.store import Stores, open_stores
from tests.served import PROWLET


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"PROWLET_DATA_DIR": str(tmp_path / "data")}
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        env.update(PROWLET_REDIS_URL=server.url, PROWLET_REDIS_PREFIX=request.getfixturevalue("redis_prefix"))
    return env


def _open(env: dict[str, str]) -> Stores:
    return open_stores(Path(env["PROWLET_DATA_DIR"]), env.get("PROWLET_REDIS_URL"),
                       redis_prefix=env.get("PROWLET_REDIS_PREFIX", "prowlet"), exclusive=False)


def _seed(env: dict[str, str]) -> None:
    async def seed() -> None:
        stores = _open(env)
        try:
            for delivery, key in (("github:ok-1", "k1"), ("github:bad-1", "k2"), ("github:waiting", "k3")):
                await stores.events.submit(delivery, key, b"{}")
            for claimed in await stores.events.claim("t", 10, 30):
                if claimed.delivery == "github:bad-1":
                    await stores.events.fail(claimed, "ForgeUnavailableError: GitHub answered 502", None)
                elif claimed.delivery == "github:ok-1":
                    await stores.events.ack(claimed)
                else:
                    await stores.events.release_all("t")
        finally:
            await stores.close()

    asyncio.run(seed())


def _queue(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PROWLET_")} | env
    return subprocess.run([str(PROWLET), "queue", *args], env=full, capture_output=True, text=True, timeout=60)


def test_queue_shows_pending_the_oldest_and_failures_with_their_error(store_env: dict[str, str]) -> None:
    _seed(store_env)
    shown = _queue(store_env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[1].startswith("pending: 1  running: 0  oldest pending: ")
    assert lines[1].endswith("failed: 1")
    assert "FAILED github:bad-1  k2  attempts=1" in shown.stdout
    assert "ForgeUnavailableError: GitHub answered 502" in shown.stdout
    assert "Traceback" not in shown.stderr


def test_queue_retry_puts_a_failure_back_in_line(store_env: dict[str, str]) -> None:
    _seed(store_env)
    assert _queue(store_env, "--retry", "github:nope").returncode == 1
    retried = _queue(store_env, "--retry", "github:bad-1")
    assert retried.returncode == 0 and retried.stdout.startswith("1 failed event(s) put back in line")
    after = _queue(store_env).stdout
    assert "pending: 2" in after and "failed: 0" in after


def test_queue_beside_a_running_server_and_with_a_bad_store_url(tmp_path: Path, redis_server: Any) -> None:
    env = {"PROWLET_DATA_DIR": str(tmp_path), "PROWLET_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}
    refused = _queue(env)
    assert refused.returncode == 2
    assert "hunter2" not in refused.stderr and "Traceback" not in refused.stderr
    assert "Redis at redis://:***@127.0.0.1:1/0" in refused.stderr
    # SQLite: a server holds the data directory; the tool still reads it.
    holder = open_stores(tmp_path / "held")
    try:
        shown = _queue({"PROWLET_DATA_DIR": str(tmp_path / "held")})
        assert shown.returncode == 0 and "pending: 0" in shown.stdout
    finally:
        asyncio.run(holder.close())
