"""Job outcomes with shared jobs (a real redis-server): serve's outcome bus — what notifiers and
metrics hear — gets each JobStarted / JobFinished once, whichever process ran the job and however
many serve replicas relay the outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.ci.compose import JobSystem, build_job_system
from bot.ci.jobs import Change
from bot.config import Config, parse_config
from bot.outcomes import JobFinished, JobStarted
from bot.store import Stores, open_stores
from plugins import REGISTRY
from tests.test_shared_runner import RecordingPoster

SHA = "b" * 40


def _config(serve_runs_jobs: bool) -> Config:
    return parse_config({"runner": {"executor": "process", "run_jobs": serve_runs_jobs, "lease": 3},
                         "jobs": [{"name": "unit", "run": "echo unit", "clone": False, "always_run": False}]},
                        REGISTRY)


class Cluster:
    def __init__(self, redis_url: str, prefix: str, tmp_path: Path) -> None:
        self.redis_url, self.prefix, self.tmp_path = redis_url, prefix, tmp_path
        self.systems: list[tuple[JobSystem, Stores]] = []
        self.heard: dict[str, list[object]] = {}

    async def add(self, name: str, *, serve: bool, runs_jobs: bool) -> JobSystem:
        data_dir = self.tmp_path / name
        stores = open_stores(data_dir, self.redis_url, redis_prefix=self.prefix)
        system = build_job_system(_config(runs_jobs), stores, data_dir, "https://prowlet.example.com",
                                  posters={"github": RecordingPoster()} if serve else None, consumer=name,
                                  run_jobs=runs_jobs)
        heard = self.heard.setdefault(name, [])

        async def hear(outcome: object) -> None:
            heard.append(outcome)

        system.bus.subscribe(JobStarted, hear)
        system.bus.subscribe(JobFinished, hear)
        if system.relay is not None:
            system.relay.worker._poll = 0.05  # noqa: SLF001 - relayed at once, not at the next second
        if system.queue_worker is not None:
            system.queue_worker._poll = 0.05  # noqa: SLF001
        await system.start(stores.state)
        self.systems.append((system, stores))
        return system

    def on_serve(self, kind: type, *serves: str) -> list[Any]:
        return [o for name in serves for o in self.heard[name] if isinstance(o, kind)]

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        for system, stores in reversed(self.systems):
            await system.stop(1)
            await stores.close()


@pytest.fixture
async def cluster(redis_server: Any, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    found = Cluster(redis_server.url, redis_prefix, tmp_path)
    yield found
    await found.close()


UNIT = _config(False).raw.jobs[0].to_spec()


def _change() -> Change:
    return Change("github", "acme/widgets", 7, SHA, "main", "ann", None)


async def _outbox_drained(cluster: Cluster) -> bool:
    return (await cluster.systems[0][1].jobs.outbox.stats(0)).pending == 0


async def test_a_job_a_worker_ran_is_heard_once_on_serves_bus_across_replicas(cluster: Cluster) -> None:
    serve_a = await cluster.add("serve-a", serve=True, runs_jobs=False)
    await cluster.add("serve-b", serve=True, runs_jobs=False)
    worker = await cluster.add("worker", serve=False, runs_jobs=True)
    record = await serve_a.runner.start(UNIT, _change())
    await cluster.until(lambda: cluster.on_serve(JobFinished, "serve-a", "serve-b"), "the outcome to be relayed")
    drained = False
    while not drained:
        drained = await _outbox_drained(cluster)
        await asyncio.sleep(0.02)
    finished = cluster.on_serve(JobFinished, "serve-a", "serve-b")
    assert [(o.job_id, o.state) for o in finished] == [(record.id, "success")]
    assert [o.job_id for o in cluster.on_serve(JobStarted, "serve-a", "serve-b")] == [record.id]
    assert finished[0].url.startswith("https://prowlet.example.com/")
    assert worker.relay is None  # a worker posts nothing and tells no notifier


async def test_a_job_serve_ran_itself_is_heard_once(cluster: Cluster) -> None:
    serve = await cluster.add("serve", serve=True, runs_jobs=True)
    record = await serve.runner.start(UNIT, _change())
    assert (await serve.runner.wait(record.id, timeout=20)).state == "success"
    await cluster.until(lambda: cluster.on_serve(JobFinished, "serve"), "the outcome to be relayed")
    drained = False
    while not drained:
        drained = await _outbox_drained(cluster)
        await asyncio.sleep(0.02)
    assert [o.job_id for o in cluster.on_serve(JobFinished, "serve")] == [record.id]
    assert [o.job_id for o in cluster.on_serve(JobStarted, "serve")] == [record.id]
