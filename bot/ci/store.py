"""Job records in SQLite (``PROWLET_DATA_DIR/jobs.sqlite3``), logs as files next to the database.

Records survive restarts, so a job that was running when prowlet stopped can be reported as
interrupted (``Runner.recover``) instead of leaving its commit status pending for ever.  One
connection guarded by a lock: every statement is tiny, so callers may use the store from the event
loop or from threads.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        self, *, job: str, forge: str, repo: str, number: int, sha: str, description: str = "Job triggered."
    ) -> JobRecord:
        record = JobRecord(uuid.uuid4().hex, job, forge, repo, number, sha, "pending", time.time(), None, None, description)
        with self._lock:
            self._db.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, job, forge, repo, number, sha, record.state, record.started_at, None, None, description),
            )
        return record

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
