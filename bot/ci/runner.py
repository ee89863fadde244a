"""The built-in CI runner: Prow's jobs as local subprocesses.

Each job gets a fresh workspace (``workdir/<id>``), optionally a shallow checkout of the PR/MR head,
then ``/bin/sh -c <run>`` in its own process group with a minimal environment.  Output goes to a
log file kept by the ``JobStore``; the outcome becomes a commit status whose target URL is the job's
page (``bot.ci.pages``).

Secrets: the git credential header reaches ``git fetch`` only through ``GIT_CONFIG_*`` environment
variables (never argv, which other local users can read in ``ps``), git's output is scrubbed of it
before it is logged, and jobs never inherit prowlet's own environment (tokens, webhook secrets).

Lifecycle of a record: pending (triggered, maybe queued behind ``max_concurrent``) → running →
success | failure | error.  Each record is finished exactly once (``JobStore.finish``), by its own
task, or by ``recover`` after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.ci.jobs import Change, JobSpec
from bot.ci.store import JobRecord, JobStore
from bot.forge.base import CommitStatus, StatusState
from bot.logs import log

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
FETCH_DEPTH = 50
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
SHA = re.compile(r"[0-9a-fA-F]{4,64}")

_STATUS = {
    "pending": StatusState.PENDING,
    "running": StatusState.PENDING,
    "success": StatusState.SUCCESS,
    "failure": StatusState.FAILURE,
    "error": StatusState.ERROR,
}


class StatusPoster(Protocol):
    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None: ...


MAX_LOG_BYTES = 50 * 1024 * 1024  # per job: past this the job is stopped
PIPE_DRAIN_SECONDS = 2.0  # after the job, how long its output may still take to arrive
EXIT_POLL_SECONDS = 0.02


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n / 1024:g} KiB"


def format_duration(seconds: float) -> str:
    """1800 → "30m", 7200 → "2h", 90 → "90s", 0.5 → "0.5s"."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


class _Outcome(Exception):
    """Ends a job early with a final state (clone failure, timeout)."""

    def __init__(self, state: str, description: str, exit_code: int | None = None) -> None:
        super().__init__(description)
        self.state, self.description, self.exit_code = state, description, exit_code


@dataclass(eq=False)
class _Run:
    record: JobRecord
    job: JobSpec
    change: Change
    task: asyncio.Task[None] | None = None
    previous: asyncio.Task[None] | None = None  # the run this one superseded: awaited before starting
    abort_reason: str = "Aborted."
    post_abort: bool = True  # whether an abort is reported as an ERROR status

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def key(self) -> tuple[str, str, int, str]:
        # Prow supersedes per PR and job, not per commit: a new push makes the old head's run moot.
        return (self.change.forge, self.change.repo.lower(), self.change.number, self.job.name)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running.  Zombies do not count: an orphan is
    reaped by PID 1, which may be slow to do so (or, with prowlet itself as PID 1 in a container
    without an init, never)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: zombies count, the grace period bounds the wait
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after "pid (comm)": state ppid pgrp ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _safe_url(url: str) -> str:
    """The URL without any user:password@ part, for the log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class Runner:
    def __init__(
        self,
        store: JobStore,
        posters: Mapping[str, StatusPoster],
        public_url: str,
        workdir: Path,
        max_concurrent: int = 2,
        *,
        kill_grace: float = KILL_GRACE,
        max_log_bytes: int = MAX_LOG_BYTES,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._store = store
        self._posters = posters
        self._public_url = public_url.rstrip("/")
        self._workdir = Path(workdir)
        self._sem = asyncio.Semaphore(max_concurrent)
        self._kill_grace = kill_grace
        self._max_log_bytes = max_log_bytes
        self._active: dict[tuple[str, str, int, str], _Run] = {}  # newest run per PR and job
        self._runs: dict[str, _Run] = {}  # every run whose task has not ended, by id
        self._post_locks: dict[tuple[str, str, str, str], tuple[asyncio.Lock, int]] = {}
        self._closed = False

    # -- public ------------------------------------------------------------------------------

    def job_url(self, job_id: str) -> str:
        return f"{self._public_url}/jobs/{job_id}"

    async def start(self, job: JobSpec, change: Change) -> JobRecord:
        """Record the job and run it in the background; its PENDING status is posted first."""
        if self._closed:
            raise RuntimeError("the runner is closed")
        record = self._store.create(
            job=job.name, forge=change.forge, repo=change.repo, number=change.number, sha=change.head_sha
        )
        run = _Run(record, job, change)
        old = self._active.get(run.key)
        self._active[run.key] = run
        self._runs[run.id] = run
        if old is not None and old.task is not None and not old.task.done():
            old.abort_reason = "Superseded."
            # Same commit: the new run's PENDING replaces the old status.  Older commit: say why its
            # status will never turn green or red.
            old.post_abort = old.change.head_sha != change.head_sha
            old.task.cancel()
            run.previous = old.task
        run.task = asyncio.create_task(self._main(run), name=f"job {job.name} {run.id}")
        run.task.add_done_callback(lambda _t, run=run: self._forget(run))
        # Let the task reach its first await, so that a cancellation from here on always runs its
        # handlers (a task cancelled before its first step never executes any of its code).
        await asyncio.sleep(0)
        return record

    async def wait(self, job_id: str, timeout: float | None = None) -> JobRecord | None:
        """Wait until the job's task has ended (its final status posted); returns its record."""
        run = self._runs.get(job_id)
        if run is not None and run.task is not None:
            await asyncio.wait({run.task}, timeout=timeout)
        return self._store.get(job_id)

    def latest(self, forge: str, repo: str, sha: str) -> dict[str, JobRecord]:
        return self._store.latest(forge, repo, sha)

    async def recover(self) -> int:
        """At start-up: report every job a previous prowlet left unfinished as interrupted."""
        count = 0
        for record in self._store.unfinished():
            if record.id in self._runs:  # started by this process: not an orphan
                continue
            finished = self._store.finish(record.id, "error", "Interrupted by a prowlet restart.")
            if finished is None:
                continue
            count += 1
            await asyncio.to_thread(shutil.rmtree, self._workdir / record.id, ignore_errors=True)
            await self._post(finished)
        if count:
            log.warning("jobs interrupted by a restart", count=count)
        return count

    async def close(self) -> None:
        """Kill every job (each recorded and reported as an error) and wait for their tasks."""
        self._closed = True
        tasks = []
        for run in list(self._runs.values()):
            if run.task is not None and not run.task.done():
                if run.abort_reason == "Aborted.":
                    run.abort_reason = "Aborted: prowlet shut down."
                run.task.cancel()
                tasks.append(run.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one job -----------------------------------------------------------------------------

    def _forget(self, run: _Run) -> None:
        self._runs.pop(run.id, None)
        if self._active.get(run.key) is run:
            del self._active[run.key]
        # Safety net: a task cancelled before its first step never ran its handlers.
        record = self._store.get(run.id)
        if record is not None and not record.finished:
            self._store.finish(run.id, "error", run.abort_reason)

    async def _main(self, run: _Run) -> None:
        bound = log.bind(job=run.job.name, job_id=run.id, forge=run.change.forge, repo=run.change.repo,
                         number=run.change.number, sha=run.change.head_sha)
        outcome = _Outcome("error", "Internal error in the job runner.")
        cancelled = False
        try:
            await self._post(run.record)
            if run.previous is not None:
                await asyncio.wait({run.previous})  # its process is dead and its slot free
            async with self._sem:
                self._store.update(run.id, state="running", started_at=time.time())
                bound.info("job started")
                outcome = await self._execute(run)
        except asyncio.CancelledError:
            cancelled = True
            outcome = _Outcome("error", run.abort_reason)
        except Exception:
            bound.exception("job runner failed")
        finally:
            # From here on a newer run for this PR is not superseding us; drop out of its way.
            if self._active.get(run.key) is run:
                del self._active[run.key]
        record = self._store.finish(run.id, outcome.state, outcome.description, outcome.exit_code)
        if record is not None:
            bound.info("job finished", state=record.state, description=record.description)
            if not cancelled or run.post_abort:
                await self._post(record)
        if cancelled:
            raise asyncio.CancelledError

    async def _execute(self, run: _Run) -> _Outcome:
        workspace = self._workdir / run.id
        deadline = asyncio.get_running_loop().time() + run.job.timeout
        log_path = self._store.log_path(run.id)
        try:
            with open(log_path, "ab", buffering=0) as logf:
                workspace.mkdir(parents=True, exist_ok=False)
                try:
                    if run.job.clone:
                        await self._checkout(run, workspace, logf, deadline)
                    return await self._command(run, workspace, logf, deadline)
                except _Outcome as outcome:
                    _note(logf, outcome.description)
                    return outcome
        finally:
            await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)

    async def _checkout(self, run: _Run, workspace: Path, logf: BinaryIO, deadline: float) -> None:
        change = run.change
        source = change.source
        short = change.head_sha[:7]
        if source is None:
            raise _Outcome("error", f"Could not check out {short}: no git source for this change.")
        secrets = _secret_forms(source.header)
        env = _git_env(workspace)
        fetch_env = dict(env)
        if source.header:
            # git >= 2.31; the same as `git -c http.extraHeader=...` without the header in argv.
            fetch_env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader", GIT_CONFIG_VALUE_0=source.header)

        async def git(*args: str, step_env: dict[str, str] = env, quiet: bool = False) -> int:
            shown = " ".join(_safe_url(a) if "://" in a else a for a in args)
            if not quiet:
                _note(logf, f"git {shown}")
            code, output = await self._git(args, workspace, step_env, deadline)
            if code is None:
                _note(logf, output)
                raise _Outcome("error", f"Job timed out after {format_duration(run.job.timeout)}.")
            if not quiet:
                logf.write(_scrub(output, secrets))
            return code

        if code := await git("init", "-q", "."):
            raise _Outcome("error", f"Could not check out {short}: git init failed (exit {code}).")
        if code := await git("fetch", f"--depth={FETCH_DEPTH}", "--", source.url, source.ref, step_env=fetch_env):
            raise _Outcome("error", f"Could not check out {short}: git fetch failed (exit {code}).")
        target = change.head_sha
        if not SHA.fullmatch(target) or await git("cat-file", "-e", f"{target}^{{commit}}", quiet=True):
            _note(logf, f"{change.head_sha} is not in the fetched history of {source.ref}; checking out FETCH_HEAD instead")
            target = "FETCH_HEAD"
        if code := await git("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", target):
            raise _Outcome("error", f"Could not check out {short}: git checkout failed (exit {code}).")
        if change.merge_base and change.base_ref:
            # Full history of the base: a shallow fetch may not reach the merge base.
            if code := await git("fetch", "--", source.url, f"refs/heads/{change.base_ref}", step_env=fetch_env):
                raise _Outcome("error", f"Could not fetch the base branch {change.base_ref} (exit {code}).")
            if await git("-c", "user.name=prowlet", "-c", "user.email=prowlet@localhost",
                         "merge", "-q", "--no-edit", "--no-ff", "FETCH_HEAD"):
                raise _Outcome("error", f"{short} does not merge cleanly into {change.base_ref}.")
        await git("log", "-1", "--format=HEAD is now %H %s")

    async def _git(
        self, args: tuple[str, ...], workspace: Path, env: dict[str, str], deadline: float
    ) -> tuple[int | None, bytes]:
        """Run git, capturing its output; (None, message) when the job's deadline passes."""
        proc = await self._spawn(
            "git", *args, cwd=workspace, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
            try:
                output, _ = await asyncio.wait_for(proc.communicate(), remaining)
            except TimeoutError:
                await self._terminate(proc)
                return None, b"git did not finish before the job's timeout"
            return proc.returncode, output
        finally:
            await self._reap(proc)

    async def _command(self, run: _Run, workspace: Path, logf: BinaryIO, deadline: float) -> _Outcome:
        _note(logf, f"running: {run.job.run}")
        began = time.monotonic()
        # Output goes through a pipe the runner copies into the log, up to the cap: a job printing
        # without end is held back by the pipe, then stopped, instead of filling the disk.
        proc = await self._spawn(
            "/bin/sh", "-c", run.job.run, cwd=workspace, env=_job_env(run, workspace),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        full = asyncio.Event()
        copier = asyncio.ensure_future(self._copy_capped(proc.stdout, logf, full))
        waiting = asyncio.ensure_future(_exited(proc))
        overflow = asyncio.ensure_future(full.wait())
        try:
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
            done, _ = await asyncio.wait({waiting, overflow}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                await self._terminate(proc)
                return _Outcome("error", f"Job timed out after {format_duration(run.job.timeout)}.")
            if waiting not in done:
                await self._terminate(proc)
                _note(logf, f"the log passed {self._max_log_bytes:,} bytes: job stopped")
                return _Outcome("error", f"Job stopped: its log passed {_size(self._max_log_bytes)}.")
            code = waiting.result()
        finally:
            waiting.cancel()
            overflow.cancel()
            await self._reap(proc)
            # The group is gone, so the pipe has closed; a process that left the group and kept it
            # open only costs this wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(copier), PIPE_DRAIN_SECONDS)
                await asyncio.wait_for(proc.wait(), PIPE_DRAIN_SECONDS)  # lets asyncio close the transport
            copier.cancel()
        _note(logf, f"exit {code} after {time.monotonic() - began:.1f}s")
        if code == 0:
            return _Outcome("success", "Job succeeded.", 0)
        if code < 0:
            return _Outcome("failure", f"Job failed (killed by signal {-code}).", code)
        return _Outcome("failure", f"Job failed (exit {code}).", code)

    async def _copy_capped(self, stream: asyncio.StreamReader, logf: BinaryIO, full: asyncio.Event) -> None:
        """Copy the job's output into its log, up to the cap; past it, set ``full`` and discard.  It
        reads on to EOF either way: a pipe left unread stays open, and so does its transport."""
        while chunk := await stream.read(64 * 1024):
            room = self._max_log_bytes - logf.tell()
            if room > 0:
                logf.write(chunk[:room])
                logf.flush()
            if len(chunk) > room:
                full.set()

    async def _spawn(self, *args: str | Path, **kwargs: Any) -> asyncio.subprocess.Process:
        """Start a process in its own group.  A cancellation while asyncio is still setting the
        process up would make asyncio SIGKILL only the leader and leak its children; instead let
        the start finish, then stop the whole group."""
        kwargs["start_new_session"] = True
        starting = asyncio.ensure_future(asyncio.create_subprocess_exec(*args, **kwargs))
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._reap(await starting)
            raise

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM to the whole process group; SIGKILL to whatever of it is left after the grace
        period.  The grace is the group's, not just the leader's: a shell that dies at once must not
        cut short its children's cleanup."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._kill_grace
        try:
            _killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), self._kill_grace)
            while _group_alive(proc.pid) and loop.time() < deadline:
                await asyncio.sleep(0.02)
        finally:
            _killpg(proc.pid, signal.SIGKILL)

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        """However the job ended (exit, timeout, cancellation): nothing of its process group survives;
        background children left behind (`cmd &`) die with the job, like a pod's containers."""
        try:
            if proc.returncode is None or _group_alive(proc.pid):
                await self._terminate(proc)
                await proc.wait()
        finally:
            _killpg(proc.pid, signal.SIGKILL)

    # -- statuses ----------------------------------------------------------------------------

    async def _post(self, record: JobRecord) -> None:
        """Post the record's state as a commit status; a failure is logged, never raised.  Posts for
        one context on one commit go out in the order they were asked for."""
        poster = self._posters.get(record.forge)
        if poster is None:
            log.warning("no status poster for forge", forge=record.forge, job=record.job, job_id=record.id)
            return
        status = CommitStatus(record.job, _STATUS[record.state], record.description, self.job_url(record.id))
        key = (record.forge, record.repo.lower(), record.sha, record.job)
        lock, users = self._post_locks.get(key, (asyncio.Lock(), 0))
        self._post_locks[key] = (lock, users + 1)
        try:
            async with lock:
                await poster.set_status(record.repo, record.sha, status)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a forge outage must not stop the runner
            log.warning("could not post job status", forge=record.forge, repo=record.repo, sha=record.sha,
                        job=record.job, job_id=record.id, state=record.state, error=str(err))
        finally:
            lock, users = self._post_locks[key]
            if users == 1:
                del self._post_locks[key]
            else:
                self._post_locks[key] = (lock, users - 1)


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code as soon as the process exits.  Not ``proc.wait()``: with a pipe, asyncio waits
    for the pipe to close too, and a background child the job left behind keeps it open."""
    while proc.returncode is None:
        await asyncio.sleep(EXIT_POLL_SECONDS)
    return proc.returncode


def _note(logf: BinaryIO, text: str | bytes) -> None:
    """A line of prowlet's own in the job log."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    logf.write(f"# prowlet: {text}\n".encode())


def _base_env(workspace: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "HOME": str(workspace), "LANG": "C.UTF-8"}


def _git_env(workspace: Path) -> dict[str, str]:
    env = _base_env(workspace)
    # No prompts (a failing fetch must fail, not hang) and no system or user git config.
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    return env


def _job_env(run: _Run, workspace: Path) -> dict[str, str]:
    change = run.change
    env = _base_env(workspace)
    env.update(
        PROWLET_JOB=run.job.name,
        PROWLET_JOB_ID=run.id,
        PROWLET_FORGE=change.forge,
        PROWLET_REPO=change.repo,
        PROWLET_NUMBER=str(change.number),
        PROWLET_HEAD_SHA=change.head_sha,
        PROWLET_BASE_REF=change.base_ref,
        PROWLET_AUTHOR=change.author,
        CI="true",
    )
    return env


def _secret_forms(header: str) -> list[bytes]:
    """The header and the parts of it that are secret on their own, longest first."""
    forms = {header}
    if ":" in header:
        value = header.split(":", 1)[1].strip()
        forms.add(value)
        forms.add(value.split()[-1] if value.split() else value)
    return sorted((f.encode() for f in forms if len(f) >= 8), key=len, reverse=True)


def _scrub(output: bytes, secrets: list[bytes]) -> bytes:
    for secret in secrets:
        output = output.replace(secret, b"[redacted]")
    return output


__all__ = ["Runner", "StatusPoster", "format_duration"]
