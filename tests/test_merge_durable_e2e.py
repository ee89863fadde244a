"""Merge automation across restarts and replicas, on both forges: nothing re-written, nothing
re-refused, the repositories in scope remembered, one pass per repository at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import MERGE_KEY, QUEUE_KEY, build_app
from bot.config import Config, parse_config
from bot.merge.controller import MergeController
from bot.store import open_stores
from plugins import REGISTRY
from tests.conftest import AUTHOR, REPO, enabled
from tests.fakes.base import FakeForge
from bot.events import ItemKind
from tests.test_merge_e2e import READY

CONFIG = {"merge": {"sync_interval": 3600}, "intake": {"repair_interval": "0"}}


def config() -> Config:
    return parse_config(CONFIG, REGISTRY)


@asynccontextmanager
async def running(fake: FakeForge, data_dir: Path) -> AsyncIterator[TestClient]:
    """One prowlet process's life on ``data_dir``: start, yield, stop (the store stays on disk)."""
    app = build_app(config(), {fake.name: enabled(fake)}, data_dir)
    async with TestClient(TestServer(app)) as client:
        yield client


def pull_kind(fake: FakeForge) -> dict[str, Any]:
    return {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}


def status_writes(fake: FakeForge) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and "/statuses/" in r.path)


async def test_a_restart_rewrites_no_status_and_remembers_the_repository(fake: FakeForge, tmp_path: Path) -> None:
    async with running(fake, tmp_path) as client:
        number, opened = fake.open_pull(REPO, author=AUTHOR)
        fake.set_labels(REPO, number, ["lgtm"], **pull_kind(fake))
        await client.post(opened.path, data=opened.body, headers=opened.headers)
        assert await client.app[QUEUE_KEY].join(30)
        merger: MergeController = client.app[MERGE_KEY]
        await merger.idle()
        await merger.sync(fake.name, REPO)
        written = status_writes(fake)
        assert written >= 1
    async with running(fake, tmp_path) as client:
        merger = client.app[MERGE_KEY]
        assert (fake.name, REPO) in await merger.state.repos()  # learned before the restart
        result = await merger.sync(fake.name, REPO)
        assert result.waiting == {number: "Not mergeable. Needs approved label."}
        assert status_writes(fake) == written  # the same verdict is not written again
        history = await merger.state.history(fake.name, REPO)
        assert [h["kind"] for h in history][:1] == ["pass"] and len(history) >= 2


async def test_a_refused_merge_is_not_retried_or_announced_again_after_a_restart(fake: FakeForge, tmp_path: Path) -> None:
    fake.fail_next("PUT", r".*/merge$", 405, times=1, message="Base branch was modified")
    async with running(fake, tmp_path) as client:
        number, opened = fake.open_pull(REPO, author=AUTHOR)
        fake.set_labels(REPO, number, READY, **pull_kind(fake))
        await client.post(opened.path, data=opened.body, headers=opened.headers)
        assert await client.app[QUEUE_KEY].join(30)
        merger = client.app[MERGE_KEY]
        await merger.idle()
        await merger.sync(fake.name, REPO)
    refusals = [b for a, b in fake.comments(REPO, number) if a == fake.bot_login]
    assert len(refusals) == 1 and "refused" in refusals[0]
    async with running(fake, tmp_path) as client:
        result = await client.app[MERGE_KEY].sync(fake.name, REPO)
        assert result.merged == [] and "Merge refused" in result.waiting[number]
    assert [b for a, b in fake.comments(REPO, number) if a == fake.bot_login] == refusals


@pytest.fixture
async def shared_state(tmp_path: Path) -> AsyncIterator[Any]:
    stores = open_stores(tmp_path / "shared")
    yield stores.state
    await stores.close()


def replica(fake: FakeForge, state: Any, name: str, sync_interval: int = 3600) -> MergeController:
    from bot.ci.services import CIServices
    from bot.config import MergeSettings
    from bot.app import compose_forge

    forge = compose_forge(enabled(fake).client)
    return MergeController(MergeSettings(sync_interval=sync_interval), {fake.name: forge}, CIServices(),
                           state=state, holder=name)


async def test_one_pass_at_a_time_and_a_poke_during_it_runs_another(fake: FakeForge, shared_state: Any) -> None:
    a, b = replica(fake, shared_state, "replica-a"), replica(fake, shared_state, "replica-b")
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    assert await shared_state.acquire(f"merge|{fake.name}|{REPO}", "replica-a", 30) is not None  # a is passing
    result = await b.sync(fake.name, REPO)
    assert not result.ran  # b did not pass over the repository a holds...
    assert await a.state.is_dirty(fake.name, REPO)  # ...it asked a for one more pass
    await shared_state.release(f"merge|{fake.name}|{REPO}", "replica-a")
    fake.set_labels(REPO, number, READY, **pull_kind(fake))
    result = await a.sync(fake.name, REPO)
    assert result.ran and result.merged == [number]
    assert not await a.state.is_dirty(fake.name, REPO)


async def test_a_dead_holder_is_replaced_within_one_interval(fake: FakeForge, shared_state: Any) -> None:
    interval = 6  # the smallest allowed is 5 s
    survivor = replica(fake, shared_state, "survivor", sync_interval=interval)
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    fake.set_labels(REPO, number, READY, **pull_kind(fake))
    await survivor.state.add_repo(fake.name, REPO)
    # The dead replica took the lease for a pass and never renewed it, nor passed.
    assert await shared_state.acquire(f"merge|{fake.name}|{REPO}", "dead", interval / 2) is not None
    survivor.start()
    try:
        for _ in range(int(interval * 1.5 / 0.1)):
            if fake.state(REPO, number) == "merged":
                break
            await asyncio.sleep(0.1)
    finally:
        await survivor.stop()
    assert fake.state(REPO, number) == "merged"
