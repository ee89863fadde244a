"""One contract for job records and job logs: the embedded SQLite records with log files, and the
shared Redis ones (a real redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.ci.store import FileJobLogs, JobLogs, JobRecords, JobStore, SqliteJobRecords, new_id
from bot.store import open_stores

SHA, OTHER_SHA = "a" * 40, "b" * 40
KEEP = 64 * 1024  # what the Redis logs keep in these tests


@dataclass
class Jobs:
    records: JobRecords
    logs: JobLogs
    kind: str


@pytest.fixture(params=["sqlite", "redis"])
async def jobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Jobs]:
    if request.param == "sqlite":
        store = JobStore(tmp_path / "jobs.sqlite3")
        yield Jobs(SqliteJobRecords(store), FileJobLogs(store), "sqlite")
        store.close()
        return
    server = request.getfixturevalue("redis_server")
    stores = open_stores(tmp_path, server.url, redis_prefix=request.getfixturevalue("redis_prefix"))
    yield Jobs(stores.jobs.records, stores.jobs.logs(KEEP, 3600), "redis")
    await stores.close()


async def _create(jobs: Jobs, job: str = "unit", sha: str = SHA, **kw: Any) -> Any:
    return await jobs.records.create(job=job, forge=kw.pop("forge", "github"), repo=kw.pop("repo", "acme/widgets"),
                                     number=kw.pop("number", 1), sha=sha, **kw)


# ---- records -------------------------------------------------------------------------------------

async def test_a_created_record_is_pending_and_readable(jobs: Jobs) -> None:
    record = await _create(jobs)
    assert (record.state, record.finished, record.description, len(record.id)) == ("pending", False, "Job triggered.", 32)
    assert await jobs.records.get(record.id) == record
    assert await jobs.records.get(new_id()) is None


async def test_creating_with_a_taken_id_returns_the_existing_record(jobs: Jobs) -> None:
    job_id = new_id()
    first = await _create(jobs, job_id=job_id)
    again = await _create(jobs, job="lint", job_id=job_id)
    assert again == first
    assert [r.id for r in await jobs.records.unfinished()] == [job_id]


async def test_latest_is_the_newest_record_per_job_for_that_commit(jobs: Jobs) -> None:
    old = await _create(jobs)
    new = await _create(jobs)
    lint = await _create(jobs, job="lint")
    await _create(jobs, sha=OTHER_SHA)
    await _create(jobs, forge="gitlab")
    await jobs.records.finish(old.id, "success", "Job succeeded.", 0)
    latest = await jobs.records.latest("github", "Acme/Widgets", SHA)  # repositories: any case
    assert {name: r.id for name, r in latest.items()} == {"unit": new.id, "lint": lint.id}
    assert await jobs.records.latest("github", "acme/widgets", "c" * 40) == {}


@pytest.mark.parametrize("state", ["success", "failure", "error"])
async def test_a_record_is_finished_exactly_once(jobs: Jobs, state: str) -> None:
    record = await _create(jobs)
    done = await jobs.records.finish(record.id, state, "Done.", 3)
    assert done is not None and (done.state, done.description, done.exit_code, done.finished) == (state, "Done.", 3, True)
    assert await jobs.records.finish(record.id, "error", "Worker lost.") is None
    assert await jobs.records.get(record.id) == done
    assert await jobs.records.finish(new_id(), "error", "no such job") is None


async def test_a_final_state_is_required_to_finish(jobs: Jobs) -> None:
    record = await _create(jobs)
    with pytest.raises(ValueError):
        await jobs.records.finish(record.id, "running", "no")


async def test_running_marks_an_unfinished_record_only(jobs: Jobs) -> None:
    record = await _create(jobs)
    running = await jobs.records.running(record.id)
    assert running is not None and running.state == "running" and running.started_at >= record.started_at
    await jobs.records.finish(record.id, "error", "Superseded.")
    assert await jobs.records.running(record.id) is None
    assert (await jobs.records.get(record.id)).state == "error"
    assert await jobs.records.running(new_id()) is None


async def test_unfinished_lists_the_open_records_oldest_first(jobs: Jobs) -> None:
    a, b, c = [await _create(jobs, number=n) for n in (1, 2, 3)]
    await jobs.records.running(b.id)
    await jobs.records.finish(a.id, "success", "Job succeeded.", 0)
    assert [r.id for r in await jobs.records.unfinished()] == [b.id, c.id]


async def test_recent_is_newest_first_and_limited(jobs: Jobs) -> None:
    made = [await _create(jobs, number=n) for n in range(5)]
    await jobs.records.finish(made[4].id, "failure", "Job failed (exit 1).", 1)
    assert [r.id for r in await jobs.records.recent(3)] == [made[4].id, made[3].id, made[2].id]
    assert (await jobs.records.recent(1))[0].state == "failure"
    assert await jobs.records.recent(0) == []


# ---- logs ----------------------------------------------------------------------------------------

async def test_a_log_is_readable_as_it_is_written(jobs: Jobs) -> None:
    record = await _create(jobs)
    async with jobs.logs.open(record.id) as log:
        log.write(b"hello ")
        log.write(b"world\n")
    tail = await jobs.logs.tail(record.id)
    assert (tail.data, tail.size, tail.dropped, tail.exists) == (b"hello world\n", 12, 0, True)
    assert (await jobs.logs.tail(record.id, 6)).data == b"world\n"
    async with jobs.logs.open(record.id) as log:  # a second writer appends (a note after the run)
        log.write(b"more\n")
    assert (await jobs.logs.tail(record.id)).data == b"hello world\nmore\n"


async def test_a_log_never_written_does_not_exist(jobs: Jobs) -> None:
    tail = await jobs.logs.tail(new_id())
    assert (tail.data, tail.size, tail.exists) == (b"", 0, False)


async def test_a_log_id_must_be_a_job_id(jobs: Jobs) -> None:
    with pytest.raises(ValueError):
        async with jobs.logs.open("../../etc/passwd"):
            pass


async def test_what_the_store_keeps_of_a_long_log_is_its_end(jobs: Jobs) -> None:
    record = await _create(jobs)
    lines = [f"line {i:06d}\n".encode() for i in range(20000)]  # 240 KB, written in 1 KB pieces
    async with jobs.logs.open(record.id) as log:
        for i in range(0, len(lines), 85):
            log.write(b"".join(lines[i:i + 85]))
    whole = b"".join(lines)
    tail = await jobs.logs.tail(record.id)
    assert tail.size == len(whole)
    assert whole.endswith(tail.data) and tail.dropped == len(whole) - len(tail.data)
    if jobs.logs.keep is None:
        assert tail.data == whole
    else:
        assert jobs.logs.keep // 2 <= len(tail.data) <= jobs.logs.keep
