"""Job records and job logs, behind two small interfaces with two implementations each.

``JobRecords`` (async): what the runner, /retest, merge automation and the job pages read and write.
``JobLogs``: a job's (already masked, already capped) log, written as it streams, read by the pages.

- Embedded (default): ``JobStore`` keeps records in SQLite (``PROWLET_DATA_DIR/jobs.sqlite3``) and
  logs as files next to it; ``SqliteJobRecords`` runs its blocking statements off the event loop and
  ``FileJobLogs`` writes the files.
- Shared (``PROWLET_REDIS_URL``): ``bot.store.redis_jobs`` keeps both in Redis, so every replica and
  every ``prowlet worker`` sees every job.

tests/test_job_store_contract.py runs one contract on both.  Records survive restarts, so a job that
was running when prowlet stopped is reported as interrupted (``Runner.recover``) or, with workers,
as lost (``bot.ci.workers``) instead of leaving its commit status pending for ever.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.store.base import EventQueue

STATES = ("pending", "running", "success", "failure", "error")
FINAL_STATES = frozenset({"success", "failure", "error"})
JOB_ID = re.compile(r"[0-9a-f]{32}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job TEXT NOT NULL,
    forge TEXT NOT NULL,
    repo TEXT NOT NULL COLLATE NOCASE,
    number INTEGER NOT NULL,
    sha TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    exit_code INTEGER,
    description TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_sha ON jobs (forge, repo, sha);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (finished_at) WHERE finished_at IS NULL;
"""
_COLUMNS = "id, job, forge, repo, number, sha, state, started_at, finished_at, exit_code, description"


@dataclass(frozen=True)
class JobRecord:
    id: str  # uuid4 hex: 32 lowercase hex digits
    job: str
    forge: str
    repo: str
    number: int
    sha: str
    state: str  # "pending" | "running" | "success" | "failure" | "error"
    started_at: float  # when triggered; reset when the job leaves the queue and starts running
    finished_at: float | None
    exit_code: int | None
    description: str

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class _Unset:
    pass


_UNSET: Any = _Unset()


def valid_id(job_id: str) -> bool:
    return JOB_ID.fullmatch(job_id) is not None


def new_id() -> str:
    return uuid.uuid4().hex


# ---- the interfaces ------------------------------------------------------------------------------

class JobRecords(Protocol):
    async def create(self, *, job: str, forge: str, repo: str, number: int, sha: str,
                     description: str = "Job triggered.", job_id: str | None = None) -> JobRecord:
        """A pending record.  With ``job_id`` (a retry named after its original) creating it again
        returns the record that exists: a rerun of the step cannot make a second one."""

    async def running(self, job_id: str) -> JobRecord | None:
        """It left the queue and runs now (``started_at`` reset); None when finished or unknown."""

    async def finish(self, job_id: str, state: str, description: str,
                     exit_code: int | None = None) -> JobRecord | None:
        """Record the outcome, once: None when unknown or already finished, so whoever finishes a
        job first reports it and nobody reports it twice."""

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def latest(self, forge: str, repo: str, sha: str) -> dict[str, JobRecord]:
        """The newest record per job name for this commit (``repo`` case-insensitive)."""

    async def unfinished(self) -> list[JobRecord]:
        """Every record not finished, oldest first."""

    async def recent(self, limit: int = 100) -> list[JobRecord]:
        """The newest ``limit`` records, newest first."""


@dataclass(frozen=True)
class LogTail:
    data: bytes  # the end of the log, at most the ``limit`` asked for
    size: int  # bytes written to the log in all
    dropped: int  # bytes from its start that the store no longer keeps (Redis keeps only the end)
    exists: bool  # False: never written, or deleted after the retention


class LogWriter(Protocol):
    def write(self, data: bytes) -> None:
        """Synchronous and cheap: called as the job's output streams."""


class JobLogs(Protocol):
    keep: int | None  # bytes of each log the store keeps (its end); None: all of it

    def open(self, job_id: str) -> Any:
        """``async with logs.open(id) as writer``: everything written is stored by the exit."""

    async def tail(self, job_id: str, limit: int | None = None) -> LogTail: ...

    def local_path(self, job_id: str) -> Path | None:
        """A file to serve as it is (embedded store), or None (read it with ``tail``)."""

    async def expire(self, records: JobRecords, cutoff: float) -> int:
        """Delete the logs of jobs finished before ``cutoff``; returns how many."""


class SharedJobs(Protocol):
    """Jobs in a store every process shares (Redis): records, logs, the job queue and the outbox of
    outcomes for the one status reporter (``bot.ci.workers``)."""

    records: JobRecords
    queue: EventQueue  # a job per record id, claimed by whoever runs jobs
    outbox: EventQueue  # JobStarted / JobFinished for the reporter, in order per status context

    def logs(self, keep: int, ttl: float) -> JobLogs: ...


class JobStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.path.parent / "job-logs"
        self.log_dir.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [JobRecord(*row) for row in rows]

    def create(
        self, *, job: str, forge: str, repo: str, number: int, sha: str, description: str = "Job triggered.",
        job_id: str | None = None,
    ) -> JobRecord:
        record = JobRecord(job_id or new_id(), job, forge, repo, number, sha, "pending", time.time(), None, None,
                           description)
        if not valid_id(record.id):
            raise ValueError("not a job id")
        with self._lock:
            cur = self._db.execute(
                f"INSERT OR IGNORE INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, job, forge, repo, number, sha, record.state, record.started_at, None, None, description),
            )
            created = cur.rowcount == 1
        return record if created else self.get(record.id)  # type: ignore[return-value]

    def update(
        self,
        job_id: str,
        *,
        state: str = _UNSET,
        started_at: float = _UNSET,
        finished_at: float | None = _UNSET,
        exit_code: int | None = _UNSET,
        description: str = _UNSET,
    ) -> JobRecord | None:
        """Set the given fields; returns the updated record (None for an unknown id)."""
        changes = {
            k: v
            for k, v in (
                ("state", state),
                ("started_at", started_at),
                ("finished_at", finished_at),
                ("exit_code", exit_code),
                ("description", description),
            )
            if v is not _UNSET
        }
        if "state" in changes and changes["state"] not in STATES:
            raise ValueError(f"unknown job state {changes['state']!r}")
        if changes:
            assignments = ", ".join(f"{k} = ?" for k in changes)
            with self._lock:
                self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*changes.values(), job_id))
        return self.get(job_id)

    def finish(self, job_id: str, state: str, description: str, exit_code: int | None = None) -> JobRecord | None:
        """Record the outcome, once: returns None when the record is unknown or already finished,
        so whoever finishes a job first reports it and nobody reports it twice."""
        if state not in FINAL_STATES:
            raise ValueError(f"{state!r} is not a final state")
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET state = ?, description = ?, exit_code = ?, finished_at = ? "
                "WHERE id = ? AND finished_at IS NULL",
                (state, description, exit_code, time.time(), job_id),
            )
            if cur.rowcount == 0:
                return None
        return self.get(job_id)

    def running(self, job_id: str) -> JobRecord | None:
        with self._lock:
            cur = self._db.execute("UPDATE jobs SET state = 'running', started_at = ? WHERE id = ? AND finished_at IS NULL",
                                   (time.time(), job_id))
            if cur.rowcount == 0:
                return None
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        found = self._query(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return found[0] if found else None

    def latest(self, forge: str, repo: str, sha: str) -> dict[str, JobRecord]:
        """The newest record per job name for this commit."""
        records = self._query(
            f"SELECT {_COLUMNS} FROM jobs WHERE forge = ? AND repo = ? AND sha = ? ORDER BY seq", (forge, repo, sha)
        )
        return {r.job: r for r in records}  # later rows overwrite earlier ones

    def unfinished(self) -> list[JobRecord]:
        return self._query(f"SELECT {_COLUMNS} FROM jobs WHERE finished_at IS NULL ORDER BY seq")

    def recent(self, limit: int = 100) -> list[JobRecord]:
        """The newest ``limit`` records, newest first."""
        return self._query(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq DESC LIMIT ?", (limit,))

    def finished_before(self, cutoff: float) -> list[str]:
        """Ids of the jobs that finished before ``cutoff`` (a time.time())."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE finished_at < ? ORDER BY seq", (cutoff,)).fetchall()
        return [row[0] for row in rows]

    def delete_logs(self, cutoff: float) -> int:
        """Delete the logs of jobs finished before ``cutoff``; the records stay (merge automation
        and /retest read them).  Returns how many logs were deleted."""
        count = 0
        for job_id in self.finished_before(cutoff):
            try:
                self.log_path(job_id).unlink()
            except FileNotFoundError:
                continue
            count += 1
        return count

    def log_path(self, job_id: str) -> Path:
        if not valid_id(job_id):  # never build a path from anything but our own ids
            raise ValueError("not a job id")
        return self.log_dir / f"{job_id}.log"


# ---- the embedded implementations ----------------------------------------------------------------

class SqliteJobRecords:
    """``JobRecords`` over ``JobStore``: each statement on a worker thread, off the event loop."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    async def create(self, *, job: str, forge: str, repo: str, number: int, sha: str,
                     description: str = "Job triggered.", job_id: str | None = None) -> JobRecord:
        return await asyncio.to_thread(lambda: self.store.create(job=job, forge=forge, repo=repo, number=number,
                                                                 sha=sha, description=description, job_id=job_id))

    async def running(self, job_id: str) -> JobRecord | None:
        return await asyncio.to_thread(self.store.running, job_id)

    async def finish(self, job_id: str, state: str, description: str,
                     exit_code: int | None = None) -> JobRecord | None:
        return await asyncio.to_thread(self.store.finish, job_id, state, description, exit_code)

    async def get(self, job_id: str) -> JobRecord | None:
        return await asyncio.to_thread(self.store.get, job_id)

    async def latest(self, forge: str, repo: str, sha: str) -> dict[str, JobRecord]:
        return await asyncio.to_thread(self.store.latest, forge, repo, sha)

    async def unfinished(self) -> list[JobRecord]:
        return await asyncio.to_thread(self.store.unfinished)

    async def recent(self, limit: int = 100) -> list[JobRecord]:
        return await asyncio.to_thread(self.store.recent, limit)


class _FileWriter:
    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: bytes) -> None:
        self._file.write(data)


class FileJobLogs:
    """Logs as files ``<data dir>/job-logs/<id>.log``, kept whole (the runner caps them)."""

    keep: int | None = None

    def __init__(self, store: JobStore) -> None:
        self._store = store

    @asynccontextmanager
    async def open(self, job_id: str) -> AsyncIterator[LogWriter]:
        with open(self._store.log_path(job_id), "ab", buffering=0) as f:
            yield _FileWriter(f)

    async def tail(self, job_id: str, limit: int | None = None) -> LogTail:
        return await asyncio.to_thread(self._tail, job_id, limit)

    def _tail(self, job_id: str, limit: int | None) -> LogTail:
        try:
            with open(self._store.log_path(job_id), "rb") as f:
                size = f.seek(0, 2)
                f.seek(max(size - limit, 0) if limit is not None else 0)
                return LogTail(f.read(), size, 0, True)
        except FileNotFoundError:
            return LogTail(b"", 0, 0, False)

    def local_path(self, job_id: str) -> Path | None:
        return self._store.log_path(job_id)

    async def expire(self, records: JobRecords, cutoff: float) -> int:
        return await asyncio.to_thread(self._store.delete_logs, cutoff)
