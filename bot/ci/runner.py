"""The job lifecycle (Prow's plank): record a job, run it through its executor, record the outcome.

A record goes pending (triggered, maybe queued behind ``max_concurrent``) → running → success |
failure | error, and is finished exactly once (``JobRecords.finish``), by its own task or by
``recover`` after a restart.  Each step is published on the outcome bus (``JobStarted``,
``JobFinished``); the status reporter and anything else that cares listen there.

Two ways to run (``queues``):
- embedded (SQLite, one process): ``start`` runs the job here, in a task of this process.
- shared (Redis): ``start`` records the job and queues it (``bot.ci.workers``); ``run_claimed``
  runs a queued job wherever it was claimed (``prowlet serve`` or ``prowlet worker``).  Outcomes
  that must become statuses go through the store's outbox to the one reporter, in order.

The pieces: ``workspace`` (the git checkout), ``executors`` (what a job can reach), ``limits``
(what it may use), ``process`` (stopping its whole tree), ``masking`` (no secret in a stored log).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
import uuid

from bot.ci import process
from bot.ci.executors import (
    ContainerExecutor, Executors, JobRun, Launch, ProcessExecutor, SandboxExecutor, decode_exit,
)
from bot.ci.jobs import Change, JobSpec
from bot.ci.limits import Limits, human_seconds, human_size, watch
from bot.ci.links import JobLinks
from bot.ci.masking import Masker, StreamMasker, header_secrets
from bot.ci.signing import JobSigner, SpecError, decode_spec, encode_spec
from bot.ci.store import JobLogs, JobRecord, JobRecords, LogWriter
from bot.ci.workers import WORKER_LOST, WORKER_LOST_RETRIED, Cancel, JobQueues, QueuedJob, change_data, encode_job
from bot.ci.workspace import CheckoutFailed, GitTimedOut, GitWorkspace
from bot.logs import log
from bot.outcomes import Bus, JobFinished, JobStarted
from bot.store.base import StoreUnavailable

MAX_LOG_BYTES = 50 * 1024 * 1024  # per job: past this the job is stopped
PIPE_DRAIN_SECONDS = 2.0  # after the job, how long its output may still take to arrive
CANCEL_POLL = 1.0  # how often a job run from the shared queue looks for its cancel flag
WAIT_POLL = 0.1  # ``wait`` on a job running elsewhere
format_duration = human_seconds
# Jobs from a repository's .prowlet.yaml on shared workers (bot.ci.signing).
NO_SIGNING_KEY = ("Refused: a job from .prowlet.yaml needs PROWLET_JOB_SIGNING_KEY set on prowlet serve "
                  "and every worker.")
BAD_SIGNATURE = "Refused: the queued job's signature does not verify."


class _Outcome(Exception):
    """Ends a job early with a final state (clone failure, timeout, a limit)."""

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
    replaced: bool = False  # superseded by a run on the same commit: its status speaks for both
    finished: bool = False  # its outcome is recorded (by its task, or by someone else first)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def key(self) -> tuple[str, str, int, str]:
        # Prow supersedes per PR and job, not per commit: a new push makes the old head's run moot.
        return (self.change.forge, self.change.repo.lower(), self.change.number, self.job.name)


class _JobLog:
    """The job's log: everything written passes the masker; at most ``cap`` bytes are kept."""

    def __init__(self, writer: LogWriter, masker: Masker, cap: int) -> None:
        self._writer = writer
        self._masker = masker
        self._stream: StreamMasker = masker.stream()
        self.cap = cap
        self.size = 0
        self.full = asyncio.Event()

    def _put(self, data: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            self._writer.write(data[:room])
            self.size += min(room, len(data))
        if len(data) > room:
            self.full.set()

    def write(self, data: bytes) -> None:
        """Output as it streams (a secret may straddle two writes)."""
        self._put(self._stream.feed(data))

    def end_stream(self) -> None:
        self._put(self._stream.flush())

    def note(self, text: str) -> None:
        """A line of prowlet's own; never counted against the cap, so a stop is always explained."""
        self.end_stream()
        line = self._masker.mask(f"# prowlet: {text}\n".encode())
        self._writer.write(line)
        self.size += len(line)


def merged_limits(defaults: Limits, job: Limits) -> Limits:
    """A job's limits: its own where set (0: none), else the runner's."""
    def pick(name: str) -> object:
        own = getattr(job, name)
        return getattr(defaults, name) if own is None else (own or None)

    return Limits(**{f.name: pick(f.name) for f in fields(Limits)})


def retry_id(job_id: str) -> str:
    """The id of a lost job's one retry: the same whoever queues it, so it is queued once."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"prowlet-retry:{job_id}").hex


class Runner:
    def __init__(
        self,
        records: JobRecords,
        logs: JobLogs,
        bus: Bus,
        links: JobLinks,
        workdir: Path,
        max_concurrent: int = 2,
        *,
        queues: JobQueues | None = None,
        jobs: Iterable[JobSpec] = (),
        executors: Executors | None = None,
        default_executor: str = "sandbox",
        limits: Limits = Limits(),
        secrets: Mapping[str, str] | None = None,
        masked: Iterable[str] = (),
        kill_grace: float = process.KILL_GRACE,
        max_log_bytes: int = MAX_LOG_BYTES,
        signer: JobSigner | None = None,
        recheck: Callable[[JobSpec, str], str | None] | None = None,
    ) -> None:
        """``queues``: start jobs through the shared store (see the module); ``jobs``: the
        configured jobs, by which a queued job's name is looked up.  Any other job (from a
        repository's file) is queued with its spec signed by ``signer``, and run from the queue
        only if it verifies and ``recheck(spec, repo)`` finds no reason to refuse it."""
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._records = records
        self._logs = logs
        self._bus = bus
        self._links = links
        self._workdir = Path(workdir)
        self.max_concurrent = max_concurrent
        self._sem = asyncio.Semaphore(max_concurrent)
        self._queues = queues
        self._specs = {job.name: job for job in jobs}
        self._executors = executors or default_executors(self._workdir.parent)
        self._default_executor = default_executor
        self._limits = limits
        self._secrets = dict(secrets or {})  # job secret values by variable name, read at start-up
        self._masked = [*masked, *self._secrets.values()]
        self._kill_grace = kill_grace
        self._max_log_bytes = max_log_bytes
        self._signer = signer
        self._recheck = recheck
        self._active: dict[tuple[str, str, int, str], _Run] = {}  # newest run per PR and job
        self._runs: dict[str, _Run] = {}  # every run whose task has not ended, by id
        self._cleanups: set[asyncio.Task[object]] = set()  # safety-net finishes still running
        self._closed = False

    @property
    def shared(self) -> bool:
        return self._queues is not None

    # -- public ------------------------------------------------------------------------------

    def job_url(self, job_id: str) -> str:
        return self._links.url(job_id)

    async def prepare(self, executors: Iterable[str]) -> dict[str, str | None]:
        """At start-up: probe each executor that jobs use; log once whether it can run here."""
        found = {}
        for name in dict.fromkeys(executors):
            why = await self._executors.unavailable(name)
            found[name] = why
            if why is not None:
                log.error("job executor unavailable: its jobs will be refused", executor=name, reason=why)
            elif name == "process":
                log.warning("jobs configured with the process executor run unsandboxed, as prowlet's own user",
                            executor=name)
            else:
                log.info("job executor ready", executor=name)
        return found

    async def start(self, job: JobSpec, change: Change, job_id: str | None = None) -> JobRecord:
        """Record the job and run it in the background (embedded) or queue it for whichever
        process runs jobs (shared); JobStarted is published first.  ``job_id``: chosen by the
        caller, who needs it before the job can finish (an alias waiting for its result)."""
        if self._closed:
            raise RuntimeError("the runner is closed")
        if self._queues is not None:
            return await self._enqueue(self._queues, job, change, retry_on_loss=job.retry_on_worker_loss,
                                       job_id=job_id)
        record = await self._records.create(
            job=job.name, forge=change.forge, repo=change.repo, number=change.number, sha=change.head_sha,
            job_id=job_id,
        )
        run = _Run(record, job, change)
        old = self._active.get(run.key)
        self._active[run.key] = run
        self._runs[run.id] = run
        if old is not None and old.task is not None and not old.task.done():
            old.abort_reason = "Superseded."
            # Same commit: the new run's status replaces the old one's.  Older commit: say why its
            # status will never turn green or red.
            old.replaced = old.change.head_sha == change.head_sha
            old.task.cancel()
            run.previous = old.task
        run.task = asyncio.create_task(self._main(run), name=f"job {job.name} {run.id}")
        run.task.add_done_callback(lambda _t, run=run: self._forget(run))
        # Let the task reach its first await, so that a cancellation from here on always runs its
        # handlers (a task cancelled before its first step never executes any of its code).
        await asyncio.sleep(0)
        return record

    async def wait(self, job_id: str, timeout: float | None = None) -> JobRecord | None:
        """Wait until the job's task has ended (its outcome published); returns its record.  A job
        running in another process: until its record is finished."""
        run = self._runs.get(job_id)
        if run is not None and run.task is not None:
            await asyncio.wait({run.task}, timeout=timeout)
        elif self._queues is not None:
            end = None if timeout is None else asyncio.get_running_loop().time() + timeout
            while (record := await self._records.get(job_id)) is not None and not record.finished:
                if end is not None and asyncio.get_running_loop().time() >= end:
                    break
                await asyncio.sleep(WAIT_POLL)
            return record
        return await self._records.get(job_id)

    async def latest(self, forge: str, repo: str, sha: str) -> dict[str, JobRecord]:
        """The newest record per job on this commit, whichever process ran it."""
        return await self._records.latest(forge, repo, sha)

    async def recover(self) -> int:
        """At start-up: report every job a previous prowlet left unfinished as interrupted.  Shared
        jobs are not this process's to judge: a job whose worker died is found by its lease."""
        if self._queues is not None:
            return 0
        count = 0
        for record in await self._records.unfinished():
            if record.id in self._runs:  # started by this process: not an orphan
                continue
            finished = await self._records.finish(record.id, "error", "Interrupted by a prowlet restart.")
            if finished is None:
                continue
            count += 1
            await asyncio.to_thread(shutil.rmtree, self._workdir / record.id, ignore_errors=True)
            await self._bus.publish(self._finished(finished))
        if count:
            log.warning("jobs interrupted by a restart", count=count)
        return count

    async def close(self) -> None:
        """Kill every job (each recorded and reported as an error) and wait for their tasks."""
        self._closed = True
        tasks: list[asyncio.Task[object]] = list(self._cleanups)
        for run in list(self._runs.values()):
            if run.task is not None and not run.task.done():
                if run.abort_reason == "Aborted.":
                    run.abort_reason = "Aborted: prowlet shut down."
                run.task.cancel()
                tasks.append(run.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- outcomes ----------------------------------------------------------------------------

    def _started(self, r: JobRecord) -> JobStarted:
        return JobStarted(r.id, r.job, r.forge, r.repo, r.number, r.sha, r.description, self.job_url(r.id))

    def _finished(self, r: JobRecord, replaced: bool = False) -> JobFinished:
        return JobFinished(r.id, r.job, r.forge, r.repo, r.number, r.sha, r.state, r.description,
                           self.job_url(r.id), r.exit_code, replaced)

    # -- one job -----------------------------------------------------------------------------

    def _forget(self, run: _Run) -> None:
        self._runs.pop(run.id, None)
        if self._active.get(run.key) is run:
            del self._active[run.key]
        if not run.finished:
            # Safety net: a task cancelled before its first step never ran its handlers.
            task = asyncio.get_running_loop().create_task(self._records.finish(run.id, "error", run.abort_reason))
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)

    # -- shared: queue, claim, cancel ----------------------------------------------------------------

    async def _enqueue(self, queues: JobQueues, job: JobSpec, change: Change, *, retry_on_loss: bool,
                       job_id: str | None = None) -> JobRecord:
        """Record, report pending and queue; with a fixed ``job_id``, a rerun of this step finds
        the record and only makes sure the rest happened (the outbox and the queue drop duplicates)."""
        existing = await self._records.get(job_id) if job_id is not None else None
        record = existing or await self._records.create(job=job.name, forge=change.forge, repo=change.repo,
                                                        number=change.number, sha=change.head_sha, job_id=job_id)
        key = (change.forge, change.repo.lower(), change.number, job.name)
        for other in [] if existing else await self._records.unfinished():
            if other.id != record.id and (other.forge, other.repo.lower(), other.number, other.job) == key:
                # Whichever process runs it stops it within CANCEL_POLL; a queued one never starts.
                await queues.cancels.request(other.id, Cancel("Superseded.", other.sha == record.sha))
        await queues.report(self._started(record))  # pending, in the outbox before the job can finish
        queued = QueuedJob(record.id, job.name, change, retry_on_loss)
        if job.name not in self._specs:  # from a repository's file: no process can look it up by name
            if self._signer is None:
                finished = await self._records.finish(record.id, "error", NO_SIGNING_KEY)
                if finished is not None:
                    log.error("a job from a repository's file cannot be queued without a signing key; refused",
                              job=job.name, job_id=record.id)
                    await self._report_finished(finished, replaced=False)
                return finished or record
            spec = encode_spec(job)
            queued = replace(queued, retry_on_loss=False, spec=spec,
                             signature=self._signer.sign(record.id, change_data(change), spec))
        await queues.queue.submit(record.id, record.id, encode_job(queued))
        return record

    def _claimed_spec(self, queued: QueuedJob, record: JobRecord) -> tuple[JobSpec | None, str]:
        """The spec to run a claimed job with, or None and why it is refused."""
        if queued.spec is None and queued.signature is None:  # an operator's job: by name, from our config
            spec = self._specs.get(queued.job)
            return spec, f"Refused: the process that took this job has no job named {queued.job}."
        if self._signer is None:
            return None, NO_SIGNING_KEY
        change = queued.change
        if not self._signer.verifies(queued.job_id, change_data(change), queued.spec, queued.signature):
            return None, BAD_SIGNATURE
        try:
            spec = decode_spec(queued.spec, change.repo)
        except SpecError:
            return None, BAD_SIGNATURE
        # The record says where its status goes: it must be the signed job's and change's.
        recorded = (record.job, record.forge, record.repo.lower(), record.number, record.sha, queued.job)
        if recorded != (spec.name, change.forge, change.repo.lower(), change.number, change.head_sha, spec.name):
            return None, BAD_SIGNATURE
        why = self._recheck(spec, change.repo) if self._recheck is not None else None
        if why is not None:
            return None, f"Refused: {why}."
        return spec, ""

    async def _report_finished(self, record: JobRecord, replaced: bool) -> None:
        outcome = self._finished(record, replaced)
        await self._bus.publish(outcome)
        if self._queues is not None:
            await self._queues.report(outcome)  # raises when the store is down: the claim is retried

    async def run_claimed(self, queued: QueuedJob, attempt: int) -> None:
        """Run a job claimed from the shared queue (the claim's lease is renewed meanwhile).
        Returns once its outcome is recorded and in the outbox; raises to have the claim retried."""
        queues = self._queues
        assert queues is not None, "run_claimed needs the shared queues"
        bound = log.bind(job=queued.job, job_id=queued.job_id, attempt=attempt)
        record = await self._records.get(queued.job_id)
        if record is None:
            bound.warning("a queued job has no record; dropped")
            return
        cancel = await queues.cancels.get(record.id)
        spec, refused = self._claimed_spec(queued, record)
        if record.finished:
            # Finished, but the claim was not acknowledged: a crash may have come before the
            # outcome reached the outbox, or before a lost job's retry was queued.  Again (the
            # outbox and the queue drop what they already have).
            await queues.report(self._finished(record, replaced=cancel is not None and cancel.replaced))
            if record.description == WORKER_LOST_RETRIED and spec is not None:
                await self._enqueue(queues, spec, queued.change, retry_on_loss=False, job_id=retry_id(record.id))
            return
        if record.state == "running":  # claimed before, and its runner stopped renewing: lost
            retry = queued.retry_on_loss and spec is not None and spec.retry_on_worker_loss
            finished = await self._records.finish(record.id, "error", WORKER_LOST_RETRIED if retry else WORKER_LOST)
            if finished is not None:
                bound.warning("job lost with its worker", retried=retry)
                await self._report_finished(finished, replaced=False)
            if retry and spec is not None:
                # After the error, so the commit's status ends with the retry's; its id is fixed,
                # so a rerun of this step (the claim retried) queues it once.
                await self._enqueue(queues, spec, queued.change, retry_on_loss=False, job_id=retry_id(record.id))
            return
        if cancel is not None:
            finished = await self._records.finish(record.id, "error", cancel.reason)
            if finished is not None:
                await self._report_finished(finished, replaced=cancel.replaced)
            return
        if spec is None:
            finished = await self._records.finish(record.id, "error", refused)
            if finished is not None:
                bound.error("a queued job is refused by the process that took it", reason=refused)
                await self._report_finished(finished, replaced=False)
            return
        run = _Run(record, spec, queued.change)
        self._runs[run.id] = run
        run.task = asyncio.get_running_loop().create_task(self._main(run), name=f"job {spec.name} {run.id}")
        run.task.add_done_callback(lambda _t, run=run: self._forget(run))
        watcher = asyncio.get_running_loop().create_task(self._watch_cancel(queues, run))
        try:
            await asyncio.wait({run.task})
        except asyncio.CancelledError:  # this process is stopping
            if run.abort_reason == "Aborted.":
                run.abort_reason = "Aborted: prowlet shut down."
            run.task.cancel()
            await asyncio.wait({run.task})
            raise
        finally:
            watcher.cancel()
        if not run.task.cancelled() and run.task.exception() is not None:
            raise run.task.exception()  # type: ignore[misc]

    async def _watch_cancel(self, queues: JobQueues, run: _Run) -> None:
        while run.task is not None and not run.task.done():
            await asyncio.sleep(CANCEL_POLL)
            try:
                cancel = await queues.cancels.get(run.id)
            except StoreUnavailable:
                continue
            if cancel is not None and run.task is not None:
                run.abort_reason, run.replaced = cancel.reason, cancel.replaced
                run.task.cancel()
                return

    async def _main(self, run: _Run) -> None:
        bound = log.bind(job=run.job.name, job_id=run.id, forge=run.change.forge, repo=run.change.repo,
                         number=run.change.number, sha=run.change.head_sha)
        outcome = _Outcome("error", "Internal error in the job runner.")
        cancelled = False
        try:
            await self._bus.publish(self._started(run.record))
            if run.previous is not None:
                await asyncio.wait({run.previous})  # its process is dead and its slot free
            async with self._sem:
                if await self._records.running(run.id) is None:  # finished meanwhile, by someone else
                    run.finished = True
                    return
                bound.info("job started")
                outcome = await self._execute(run, bound)
        except asyncio.CancelledError:
            cancelled = True
            outcome = _Outcome("error", run.abort_reason)
        except Exception:
            bound.exception("job runner failed")
        finally:
            # From here on a newer run for this PR is not superseding us; drop out of its way.
            if self._active.get(run.key) is run:
                del self._active[run.key]
        record = await self._records.finish(run.id, outcome.state, outcome.description, outcome.exit_code)
        run.finished = True
        if record is not None:
            bound.info("job finished", state=record.state, description=record.description)
            await self._report_finished(record, replaced=cancelled and run.replaced)
        if cancelled:
            raise asyncio.CancelledError

    async def _refusal(self, run: _Run, executor: str) -> str | None:
        why = await self._executors.unavailable(executor)
        if why is not None:
            return f"Refused: the {executor} executor cannot run jobs on this host ({why})."
        if executor == "container" and not run.job.image:
            return "Refused: the container executor needs the job's image."
        missing = [name for name in run.job.secrets if name not in self._secrets]
        if missing:
            return f"Refused: the secret {missing[0]} is not set in prowlet's environment."
        return None

    async def _execute(self, run: _Run, bound: object) -> _Outcome:
        executor_name = run.job.executor or self._default_executor
        workspace = self._workdir / run.id
        deadline = asyncio.get_running_loop().time() + run.job.timeout
        header = run.change.source.header if run.change.source else ""
        masker = Masker([*self._masked, *header_secrets(header)])
        try:
            async with self._logs.open(run.id) as writer:
                out = _JobLog(writer, masker, self._max_log_bytes)
                try:
                    refusal = await self._refusal(run, executor_name)
                    if refusal is not None:
                        log.error("job refused", job=run.job.name, job_id=run.id, executor=executor_name,
                                  reason=refusal)
                        raise _Outcome("error", refusal)
                    executor = self._executors.get(executor_name)
                    workspace.mkdir(parents=True, exist_ok=False)
                    if run.job.clone:
                        await self._checkout(run, workspace, out, deadline)
                    await asyncio.to_thread(executor.prepare, workspace)
                    outcome = await self._command(run, executor_name, workspace, out, deadline)
                except _Outcome as stopped:
                    outcome = stopped
                if outcome.state == "error":
                    out.note(outcome.description)
                return outcome
        finally:
            await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)

    async def _checkout(self, run: _Run, workspace: Path, out: _JobLog, deadline: float) -> None:
        source = run.change.source
        if source is None:
            raise _Outcome("error", f"Could not check out {run.change.head_sha[:7]}: no git source for this change.")
        git = GitWorkspace(workspace, source, out, deadline, self._kill_grace)
        try:
            await git.checkout(run.change.head_sha, run.change.base_ref, run.change.merge_base)
        except CheckoutFailed as failed:
            raise _Outcome("error", str(failed)) from None
        except GitTimedOut:
            raise _Outcome("error", f"Job timed out after {format_duration(run.job.timeout)}.") from None

    def _job_env(self, run: _Run) -> dict[str, str]:
        change = run.change
        env = {
            "PROWLET_JOB": run.job.name,
            "PROWLET_JOB_ID": run.id,
            "PROWLET_FORGE": change.forge,
            "PROWLET_REPO": change.repo,
            "PROWLET_NUMBER": str(change.number),
            "PROWLET_HEAD_SHA": change.head_sha,
            "PROWLET_BASE_REF": change.base_ref,
            "PROWLET_AUTHOR": change.author,
            "CI": "true",
        }
        env.update({f"PROWLET_PARAM_{name.upper()}": value for name, value in change.params})  # an alias's
        env.update({name: self._secrets[name] for name in run.job.secrets})
        return env

    async def _command(self, run: _Run, executor_name: str, workspace: Path, out: _JobLog,
                       deadline: float) -> _Outcome:
        executor = self._executors.get(executor_name)
        limits = merged_limits(self._limits, run.job.limits)
        launch = executor.launch(JobRun(run.id, run.job.run, self._job_env(run), workspace, limits,
                                        run.job.network, run.job.image))
        out.note(f"running ({executor_name}): {run.job.run}")
        began = time.monotonic()
        # Output goes through a pipe the runner copies into the log, up to the cap: a job printing
        # without end is held back by the pipe, then stopped, instead of filling the disk.
        proc = await process.spawn(
            *launch.argv, cwd=launch.cwd, env=launch.env, pass_fds=launch.pass_fds,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        copier = asyncio.ensure_future(_copy(proc.stdout, out))
        waiting = asyncio.ensure_future(process.exited(proc))
        overflow = asyncio.ensure_future(out.full.wait())
        watching = asyncio.ensure_future(watch(proc.pid, workspace, limits, launch.processes_visible))
        try:
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
            done, _ = await asyncio.wait({waiting, overflow, watching}, timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                await self._stop(proc, launch, executor)
                return _Outcome("error", f"Job timed out after {format_duration(run.job.timeout)}.")
            if watching in done:
                await self._stop(proc, launch, executor)
                return _Outcome("error", watching.result())
            if waiting not in done:
                await self._stop(proc, launch, executor)
                out.note(f"the log passed {self._max_log_bytes:,} bytes: job stopped")
                return _Outcome("error", f"Job stopped: its log passed {human_size(self._max_log_bytes)}.")
            code = waiting.result()
        finally:
            for task in (waiting, overflow, watching):
                task.cancel()
            await process.reap(proc, self._kill_grace)
            # The group is gone, so the pipe has closed; a process that left the group and kept it
            # open only costs this wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(copier), PIPE_DRAIN_SECONDS)
                await asyncio.wait_for(proc.wait(), PIPE_DRAIN_SECONDS)  # lets asyncio close the transport
            copier.cancel()
            out.end_stream()
        return await self._exit_outcome(code, launch, executor, limits, out, began)

    async def _stop(self, proc: asyncio.subprocess.Process, launch: Launch, executor: object) -> None:
        if launch.container is not None and isinstance(executor, ContainerExecutor):
            # The CLI is not the container: stop the container itself.
            with contextlib.suppress(Exception):
                await executor.cleanup(launch)
        await process.terminate(proc, self._kill_grace)

    async def _exit_outcome(self, code: int, launch: Launch, executor: object, limits: Limits, out: _JobLog,
                            began: float) -> _Outcome:
        try:
            status, sig = decode_exit(code, launch.exit_is_status)
            out.note(f"exit {code} after {time.monotonic() - began:.1f}s")
            reason = limits.reason_for_signal(sig) if sig is not None else None
            if reason is None and isinstance(executor, ContainerExecutor) and limits.memory is not None \
                    and await executor.oom_killed(launch):
                reason = limits.memory_reason()
            if reason is not None:
                return _Outcome("error", reason)
            if status == 0:
                return _Outcome("success", "Job succeeded.", 0)
            if sig is not None:
                return _Outcome("failure", f"Job failed (killed by signal {sig}).", -sig)
            return _Outcome("failure", f"Job failed (exit {status}).", status)
        finally:
            if launch.container is not None and isinstance(executor, ContainerExecutor):
                with contextlib.suppress(Exception):
                    await executor.cleanup(launch)


async def _copy(stream: asyncio.StreamReader, out: _JobLog) -> None:
    """Copy the job's output into its log (up to the cap; past it, ``out.full`` is set).  It reads
    on to EOF either way: a pipe left unread stays open, and so does its transport."""
    while chunk := await stream.read(64 * 1024):
        out.write(chunk)


def default_executors(data_dir: Path, sandbox_paths: Iterable[str] | None = None, container_cli: str = "docker") -> Executors:
    """Every executor; the sandbox hides the data dir and the GitHub App key file."""
    hidden = [Path(data_dir)]
    key_file = os.environ.get("GITHUB_APP_PRIVATE_KEY_FILE")
    if key_file:
        hidden.append(Path(key_file))
    sandbox = SandboxExecutor(hidden=hidden) if sandbox_paths is None else \
        SandboxExecutor(readonly=tuple(sandbox_paths), hidden=hidden)
    return Executors({"sandbox": sandbox, "container": ContainerExecutor(container_cli), "process": ProcessExecutor()})


__all__ = ["Runner", "default_executors", "format_duration", "merged_limits"]
