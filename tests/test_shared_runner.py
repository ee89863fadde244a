"""The runner with the shared store (a real redis-server), in one process: the paths the process
tests (tests/test_job_workers.py) cannot time — a crash between "finished" and "reported", a run
replaced on the same commit, a log longer than Redis keeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.ci.jobs import Change, JobSpec
from bot.ci.links import JobLinks
from bot.ci.pages import job_routes
from bot.ci.reporter import StatusReporter
from bot.ci.runner import Runner
from bot.ci.store import JobLogs, JobRecords
from bot.ci.workers import CancelFlags, JobQueues, OutboxRelay, decode_job
from bot.forge.base import CommitStatus, StatusState
from bot.outcomes import Bus
from bot.store import Stores, open_stores
from bot.worker import EventWorker

SHA = "a" * 40
LEASE = 3.0
KEEP = 64 * 1024
LINKS = JobLinks("https://prowlet.example.com", b"k" * 32)


class RecordingPoster:
    def __init__(self) -> None:
        self.posted: list[tuple[str, StatusState, str]] = []

    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        self.posted.append((status.context, status.state, status.description))


@dataclass
class Shared:
    stores: Stores
    records: JobRecords
    logs: JobLogs
    runner: Runner
    poster: RecordingPoster
    worker: EventWorker
    relay: OutboxRelay
    marks: Path

    def change(self) -> Change:
        return Change("github", "acme/widgets", 7, SHA, "main", "ann", None)

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 15) -> None:
        end = time.monotonic() + timeout
        while not await check():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)


@pytest.fixture
async def shared(redis_server: Any, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Shared]:
    stores = open_stores(tmp_path, redis_server.url, redis_prefix=redis_prefix)
    jobs = stores.jobs
    logs = jobs.logs(KEEP, 3600)
    marks = tmp_path / "marks"
    marks.mkdir()
    specs = [JobSpec("unit", "echo unit", clone=False),
             JobSpec("second-time-lucky", f"test -e {marks}/m && exit 0; touch {marks}/m; sleep 60", clone=False)]
    runner = Runner(jobs.records, logs, Bus(), LINKS, tmp_path / "work", 2, default_executor="process",
                    queues=JobQueues(jobs.queue, jobs.outbox, CancelFlags(stores.state)), jobs=specs, kill_grace=0.3)
    poster = RecordingPoster()
    relay = OutboxRelay(jobs.outbox, StatusReporter({"github": poster}), LINKS, consumer="serve", lease=LEASE)
    worker = EventWorker(jobs.queue, runner.run_claimed, consumer="worker", max_concurrent=2, lease=LEASE,
                         poll=0.05, decode=decode_job)
    relay.worker._poll = 0.05  # noqa: SLF001 - statuses at once, not at the next second
    relay.start()
    yield Shared(stores, jobs.records, logs, runner, poster, worker, relay, marks)
    await worker.stop(0)
    await runner.close()
    await relay.stop(1)
    await stores.close()


async def test_a_job_finished_but_not_reported_before_a_crash_is_reported_by_the_next_claimer(shared: Shared) -> None:
    record = await shared.runner.start(JobSpec("unit", "echo unit", clone=False), shared.change())
    (claimed,) = await shared.stores.jobs.queue.claim("crashed-worker", 10, 0.2)  # a short lease, never renewed
    # The crashed worker ran the job and recorded its end, then died before the outbox heard of it.
    assert await shared.records.running(record.id) is not None
    assert await shared.records.finish(record.id, "success", "Job succeeded.", 0) is not None
    await asyncio.sleep(0.3)
    shared.worker.start()  # the next claimer takes the expired claim

    async def reported() -> bool:
        return len(shared.poster.posted) == 2

    await shared.until(reported, "the outcome to be posted")
    assert await shared.worker.join(10)
    assert shared.poster.posted == [("unit", StatusState.PENDING, "Job triggered."),
                                    ("unit", StatusState.SUCCESS, "Job succeeded.")]
    assert not await shared.stores.jobs.queue.ack(claimed)  # the dead worker's claim is fenced off


async def test_a_run_on_the_same_commit_replaces_the_old_one_without_a_status_of_its_own(shared: Shared) -> None:
    shared.worker.start()
    job = JobSpec("second-time-lucky", "unused: the runner takes its own config's", clone=False)
    old = await shared.runner.start(job, shared.change())

    async def old_running() -> bool:
        return (shared.marks / "m").exists()

    await shared.until(old_running, "the first run to start")
    new = await shared.runner.start(job, shared.change())
    done = await shared.runner.wait(new.id, timeout=15)
    assert done is not None and done.state == "success"
    stopped = await shared.runner.wait(old.id, timeout=15)  # within a cancel poll
    assert stopped is not None and (stopped.state, stopped.description) == ("error", "Superseded.")

    async def settled() -> bool:
        return len(shared.poster.posted) >= 3 and (await shared.stores.jobs.outbox.stats(0)).pending == 0

    await shared.until(settled, "the statuses to be posted")
    assert [state for _, state, _ in shared.poster.posted] == [StatusState.PENDING, StatusState.PENDING,
                                                                StatusState.SUCCESS]


async def test_the_page_of_a_log_longer_than_redis_keeps_says_what_is_gone(shared: Shared) -> None:
    record = await shared.records.create(job="unit", forge="github", repo="acme/widgets", number=7, sha=SHA)
    async with shared.logs.open(record.id) as log:
        for i in range(4):
            log.write(f"part {i}\n".encode() * 4096)  # 28 KiB each: 112 KiB in all
    await shared.records.finish(record.id, "success", "Job succeeded.", 0)
    app = web.Application()
    app.add_routes(job_routes(shared.records, shared.logs, LINKS))
    async with TestClient(TestServer(app)) as client:
        page = await (await client.get(LINKS.path(record.id))).text()
        plain = await (await client.get(LINKS.path(record.id) + "/log")).text()
    assert "The shared store keeps the last 64 KiB of each log" in page
    assert "part 3" in page and "part 0" not in page
    assert plain.endswith("part 3\n") and len(plain) <= KEEP
