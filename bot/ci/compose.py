"""Built-in jobs, composed once for ``prowlet serve`` and ``prowlet worker``.

Embedded (SQLite stores): records and log files under ``PROWLET_DATA_DIR``, jobs run where they are
started, the reporter listens on the bus.  Shared (Redis stores): records, logs and the job queue in
Redis; ``queue_worker`` runs queued jobs here (serve with ``runner.run_jobs``, every worker);
``relay`` (serve only) turns the outbox into commit statuses, and then into outcomes on the bus.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.ci.links import JobLinks, load_key
from bot.ci.reporter import StatusPoster, StatusReporter
from bot.ci.runner import Runner, default_executors
from bot.ci.signing import JobSigner
from bot.ci.store import FileJobLogs, JobLogs, JobRecords, JobStore, SharedJobs, SqliteJobRecords
from bot.ci.workers import CancelFlags, JobQueues, OutboxRelay, decode_job, shared_link_key
from bot.config import Config
from bot.inrepo import recheck
from bot.logs import log
from bot.outcomes import Bus
from bot.store.base import StateStore, Stores
from bot.worker import EventWorker

JOB_MAX_ATTEMPTS = 10  # a queued job whose handling keeps failing (the store down at its end) is parked after this


@dataclass
class JobSystem:
    records: JobRecords
    logs: JobLogs
    links: JobLinks
    bus: Bus
    runner: Runner
    sqlite: JobStore | None = None  # the embedded store, closed at shutdown
    shared: SharedJobs | None = None
    queue_worker: EventWorker | None = None  # claims queued jobs and runs them here
    relay: OutboxRelay | None = None  # posts the statuses of every process's jobs
    _data_dir: Path = field(default=Path("."))

    async def start(self, state_store: StateStore | None = None) -> None:
        """At start-up: the shared link key, then claiming and relaying."""
        if self.shared is not None and state_store is not None:
            self.links.use_key(await shared_link_key(state_store, load_key(self._data_dir)))
        if self.relay is not None:
            self.relay.start()
        if self.queue_worker is not None:
            self.queue_worker.start()

    async def stop(self, grace: float) -> None:
        """Stop claiming; jobs running here are aborted and reported; then the relay drains."""
        if self.queue_worker is not None:
            await self.queue_worker.stop(0)
        await self.runner.close()
        if self.relay is not None:
            await self.relay.stop(grace)
        if self.sqlite is not None:
            await asyncio.to_thread(self.sqlite.close)


def job_secrets(config: Config, env: Mapping[str, str]) -> dict[str, str]:
    """The values of the variables jobs name in ``secrets:``, read once; each missing one is said
    once here (its jobs are refused with the same words)."""
    found = {}
    in_repo = config.raw.in_repo_config
    granted = [n for names in in_repo.allow.secrets.values() for n in names] if in_repo.enabled and in_repo.allow.jobs else []
    for name in dict.fromkeys([*(n for job in config.raw.jobs for n in job.secrets), *granted]):
        if env.get(name):
            found[name] = env[name]
        else:
            log.warning("a job secret is not set in the environment; jobs needing it will be refused", secret=name)
    return found


def _in_repo_jobs(config: Config) -> bool:
    """Whether repositories' files may define jobs at all."""
    return config.raw.in_repo_config.enabled and config.raw.in_repo_config.allow.jobs


def build_job_system(config: Config, stores: Stores, data_dir: Path, public_url: str, *,
                     posters: Mapping[str, StatusPoster] | None, consumer: str, run_jobs: bool,
                     masked: Iterable[str] = (), env: Mapping[str, str] | None = None,
                     signing_key: str | None = None) -> JobSystem:
    """``posters``: the forges statuses are posted through (serve); None: this process reports
    nothing itself (a worker: its outcomes go through the outbox).  ``signing_key``
    (``PROWLET_JOB_SIGNING_KEY``): jobs from repositories' files may be queued and run, signed."""
    settings = config.raw.runner
    data_dir.mkdir(parents=True, exist_ok=True)
    shared: SharedJobs | None = stores.jobs if stores.shared else None
    sqlite = None
    if shared is not None:
        if _in_repo_jobs(config) and not signing_key:
            log.warning("jobs from repositories' files will be refused on the shared job queue: "
                        "set PROWLET_JOB_SIGNING_KEY (the same on prowlet serve and every worker)")
        records: JobRecords = shared.records
        logs: JobLogs = shared.logs(settings.shared_log_bytes, settings.log_retention_seconds)
        queues: JobQueues | None = JobQueues(shared.queue, shared.outbox, CancelFlags(stores.state))
    else:
        sqlite = JobStore(data_dir / "jobs.sqlite3")
        records, logs, queues = SqliteJobRecords(sqlite), FileJobLogs(sqlite), None
    links = JobLinks(public_url, load_key(data_dir))
    bus = Bus()
    # Shared jobs in serve: job outcomes reach ``bus`` from the outbox relay, once per job step
    # whichever process ran the job; the runner's own announcements stay on a bus of its own, or a
    # job run here would be heard twice.
    runner_bus = Bus() if queues is not None and posters is not None else bus
    specs = [job.to_spec() for job in config.raw.jobs]
    runner = Runner(
        records, logs, runner_bus, links, data_dir / "workspaces", settings.max_concurrent, queues=queues, jobs=specs,
        executors=default_executors(data_dir, settings.sandbox_paths, settings.container_cli),
        default_executor=settings.executor, limits=settings.limits,
        secrets=job_secrets(config, os.environ if env is None else env), masked=masked,
        signer=JobSigner(signing_key) if signing_key else None,
        recheck=lambda spec, repo: recheck.refusal(spec, repo, config),
    )
    system = JobSystem(records, logs, links, bus, runner, sqlite=sqlite, shared=shared, _data_dir=data_dir)
    reporter = StatusReporter(posters, specs) if posters is not None else None
    if queues is None:
        if reporter is not None:
            reporter.attach(bus)
        return system
    assert shared is not None
    if reporter is not None:
        system.relay = OutboxRelay(shared.outbox, reporter, links, consumer=consumer, lease=settings.lease,
                                   publish=bus.publish)
    if run_jobs:
        # The claim's lease is the job's heartbeat: renewed every third of it while the job runs.
        system.queue_worker = EventWorker(shared.queue, runner.run_claimed, consumer=consumer,
                                          max_concurrent=settings.max_concurrent, lease=settings.lease,
                                          max_attempts=JOB_MAX_ATTEMPTS, decode=decode_job)
    return system


async def run_worker(config: Config, stores: Stores, data_dir: Path, public_url: str, *, consumer: str,
                     masked: Iterable[str] = (), signing_key: str | None = None) -> int:
    """``prowlet worker``: run queued jobs until SIGTERM/SIGINT; no HTTP, no forge credentials."""
    import signal

    system = build_job_system(config, stores, data_dir, public_url, posters=None, consumer=consumer, run_jobs=True,
                              masked=masked, signing_key=signing_key)
    settings = config.raw.runner
    used = {job.executor or settings.executor for job in config.raw.jobs}
    if used:
        await system.runner.prepare(sorted(used))
    elif not (signing_key and _in_repo_jobs(config)):
        log.warning("no jobs in the config: this worker will refuse every job it takes")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await system.start(stores.state)
    log.info("prowlet worker ready", consumer=consumer, max_concurrent=settings.max_concurrent,
             jobs=[job.name for job in config.raw.jobs])
    await stop.wait()
    log.info("prowlet worker stopping: jobs running here are aborted and reported")
    await system.stop(0)
    return 0


__all__ = ["JobSystem", "build_job_system", "job_secrets", "run_worker"]
