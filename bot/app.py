"""Wiring: settings + config → forge clients → dispatcher → queue → aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog
from aiohttp import web

from bot.aliases.results import JobResults
from bot.ci.compose import JobSystem, build_job_system
from bot.ci.native import NativeCI
from bot.ci.pages import job_routes
from bot.ci.runner import Runner
from bot.ci.services import AsyncNativeCI, CIServices
from bot.ci.store import JobLogs, JobRecords
from bot.config import Config, ForgeTuning
from bot.dashboard import Access, Dashboard
from bot.dispatch import Dispatcher
from bot.events import CIEvent, CommitCIEvent, Event, ItemAction, ItemEvent, ItemKind, RunFinished
from bot.forge.base import ForgeClient
from bot.forge.budget import LocalWriteBudget, SharedWriteBudget
from bot.forge.deferral import Deferring, LabelDeferral
from bot.forge.driver import ForgeDriver
from bot.forge.drivers import DRIVERS, driver_named
from bot.forge.layered import AsyncForge
from bot.forge.layers import Caching, Handler, Metering, Pacing, Recording, RecordedWrite, Retrying, WriteGate
from bot.forge.offloop import OffLoop
from bot.http_guard import MAX_BODY, BodyReader, Limits
from bot.intake import ForgeIntake, Intake, Translator
from bot.merge.controller import MergeController
from bot.metrics import Metrics
from bot.notify.outbox import QUEUE_NAME as NOTIFY_QUEUE, Notifications, build_notifications
from bot.notify.paths import ChangedPaths
from bot.outcomes import Bus, JobFinished
from bot.readiness import Readiness
from bot.repair import Repairer
from bot.scope import announce_repos_in_scope
from bot.settings import Settings
from bot.store import EventQueue, Stores, StoreUnavailable, open_stores
from bot.tasks import cancel_and_wait
from bot.worker import EventWorker

log = structlog.get_logger("prowlet")

# On SIGTERM, events in hand get this long to finish (inside Docker's default 10 s stop); the rest
# stay stored for the next process.  Correctness never depends on it.
DRAIN_SECONDS = 8
PURGE_EVERY = 3600  # seconds between clean-ups of expired delivery ids and state
QUEUE_KEY: web.AppKey[EventWorker] = web.AppKey("queue", EventWorker)
STORES_KEY: web.AppKey[Stores] = web.AppKey("stores", Stores)
DISPATCH_KEY: web.AppKey[Dispatcher] = web.AppKey("dispatcher", Dispatcher)
RUNNER_KEY: web.AppKey[Runner] = web.AppKey("runner", Runner)
BUS_KEY: web.AppKey[Bus] = web.AppKey("outcomes", Bus)
JOBS_KEY: web.AppKey[JobSystem] = web.AppKey("jobs", JobSystem)
MERGE_KEY: web.AppKey[MergeController] = web.AppKey("merge", MergeController)
REPAIR_KEY: web.AppKey[Repairer] = web.AppKey("repair", Repairer)
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
NOTIFY_KEY: web.AppKey[Notifications] = web.AppKey("notify", Notifications)
READINESS_KEY: web.AppKey[Readiness] = web.AppKey("readiness", Readiness)
SCOPE_KEY: web.AppKey[list[asyncio.Task[int]]] = web.AppKey("scope", list)  # start-up discovery, if any


async def _observe_for_merge(merger: MergeController, event: Event) -> None:
    if isinstance(event, (CommitCIEvent, RunFinished)):  # names a sha, no PR: mapped to one by the last pass
        context = event.context if isinstance(event, CommitCIEvent) else ""
        await merger.commit_reported(event.forge, event.repo, event.item.head_sha or "", context)
        return
    if isinstance(event, CIEvent) and event.item.head_sha:
        await merger.statuses_changed(event.forge, event.repo, event.item.head_sha)
    if isinstance(event, ItemEvent) and event.action in (ItemAction.LABELED, ItemAction.UNLABELED):
        await merger.forget_refusals(event.forge, event.repo, event.ref.number)  # the label may be the fix
    if event.ref.kind is ItemKind.PULL or isinstance(event, ItemEvent):
        merger.poke(event.forge, event.repo)


@dataclass(frozen=True)
class EnabledForge:
    client: ForgeClient
    webhook_secret: str
    translate: Translator
    max_concurrent_requests: int = 8
    native_ci: NativeCI | None = None  # the forge's own CI, for /test and /retest


def compose_forge(client: ForgeClient, max_concurrent_requests: int = 8, gate: WriteGate | None = None,
                  record_writes: list[RecordedWrite] | None = None) -> AsyncForge:
    """The one forge client everything acts through, its layers composed here once: deferring ∘
    metering ∘ retrying ∘ pacing ∘ caching ∘ off-loop execution ∘ adapter (``bot.forge.layers``,
    ``bot.forge.deferral``).
    ``record_writes``: writes are recorded there instead of made (metering ∘ recording ∘ the rest,
    which then only ever sees reads) — ``prowlet simulate``."""
    offloop = OffLoop(client, max_concurrent_requests)
    caching = Caching(offloop)
    pacing = Pacing(caching, gate)
    retrying = Retrying(pacing)
    top: Handler = retrying if record_writes is None else Recording(retrying, record_writes)
    metering = Metering(top)
    deferring = Deferring(metering, pacing.gate)
    return AsyncForge(client, offloop, caching=caching, pacing=pacing, retrying=retrying, metering=metering,
                      deferring=deferring)


def write_budget(forge: str, tuning: ForgeTuning, stores: Stores) -> WriteGate:
    """One write budget per forge identity: in the shared store when replicas share it."""
    if stores.shared:
        return SharedWriteBudget(forge, tuning.windows(), stores.state)
    return LocalWriteBudget(forge, tuning.windows())


def enabled_forges(settings: Settings, config: Config,
                   drivers: Sequence[ForgeDriver] = DRIVERS) -> dict[str, EnabledForge]:
    """Forges with credentials; each one without gets one log line saying what is missing."""
    forges: dict[str, EnabledForge] = {}
    for driver in drivers:
        forge_settings = settings.forges[driver.name]
        missing = forge_settings.missing
        if missing:
            log.info("forge disabled", forge=driver.name, reason=missing)
        else:
            forges[driver.name] = driver.connect(forge_settings, config.raw.tuning(driver.name))
            log.info("forge enabled", forge=driver.name)
    return forges


def make_forge(name: str, settings: Settings, config: Config,
               drivers: Sequence[ForgeDriver] = DRIVERS) -> EnabledForge:
    """One forge's adapter and native CI from the settings (credentials checked by the caller)."""
    return driver_named(name, drivers).connect(settings.forges[name], config.raw.tuning(name))


def consumer_name() -> str:
    """Names this process in claims and leases (host, pid and a random part for restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def _purge_forever(stores: Stores, dedup_window: float, outboxes: Iterable[EventQueue] = ()) -> None:
    while True:
        try:
            forgotten = await stores.events.purge(time.time() - dedup_window)
            for outbox in outboxes:  # their delivered entries' keys, kept as long as webhooks' ids
                await outbox.purge(time.time() - dedup_window)
            expired = await stores.state.purge()
            if stores.jobs is not None:  # the job queue and outbox remember their handled entries too
                await stores.jobs.queue.purge(time.time() - dedup_window)
                await stores.jobs.outbox.purge(time.time() - dedup_window)
            if forgotten or expired:
                log.info("store cleaned", deliveries_forgotten=forgotten, state_expired=expired)
        except StoreUnavailable as err:
            log.warning("store clean-up failed", error=str(err))
        await asyncio.sleep(PURGE_EVERY)


async def _expire_job_logs_forever(records: JobRecords, logs: JobLogs, retention: float) -> None:
    while True:
        try:
            deleted = await logs.expire(records, time.time() - retention)
            if deleted:
                log.info("old job logs deleted", count=deleted)
        except OSError as err:
            log.warning("job log clean-up failed", error=str(err))
        await asyncio.sleep(PURGE_EVERY)


def build_app(config: Config, forges: dict[str, EnabledForge], data_dir: Path,
              public_url: str = "http://localhost:8080", stores: Stores | None = None, *,
              dashboard_token: str | None = None, metrics_token: str | None = None, masked: Iterable[str] = (),
              env: Mapping[str, str] | None = None, limits: Limits = Limits(),
              drivers: Sequence[ForgeDriver] = DRIVERS, job_signing_key: str | None = None) -> web.Application:
    """``stores``: opened by the caller (``prowlet serve`` reports a failure cleanly); None opens the
    embedded SQLite store under ``data_dir``.  ``masked``: prowlet's own secrets, masked in job logs
    too; ``env``: where job secrets are read from (default: the process environment); ``drivers``:
    the forges whose webhook routes exist (enabled or not); ``job_signing_key``: see bot.ci.signing."""
    stores = stores or open_stores(data_dir)
    budgets = {name: write_budget(name, config.raw.tuning(name), stores) for name in forges}
    async_forges = {name: compose_forge(f.client, f.max_concurrent_requests, budgets[name])
                    for name, f in forges.items()}
    metrics = Metrics()
    metrics.watch_forges(async_forges, budgets)
    runner_settings = config.raw.runner
    consumer = consumer_name()
    jobs = build_job_system(config, stores, data_dir, public_url, posters=async_forges, consumer=consumer,
                            run_jobs=runner_settings.run_jobs, masked=masked, env=env, signing_key=job_signing_key)
    runner, bus = jobs.runner, jobs.bus
    metrics.follow_jobs(bus)
    bus.subscribe(JobFinished, JobResults(stores.state, async_forges).on_job_finished)  # aliases' job results
    notifications = build_notifications(config.raw.notify, stores.queue(NOTIFY_QUEUE) if stores.queue else None,
                                        consumer=consumer, env=os.environ if env is None else env,
                                        state=stores.state)
    if notifications is not None:
        notifications.attach(bus)
        notifications.on_delivery = metrics.notification
        notifications.paths_of = ChangedPaths(async_forges)
        metrics.watch_notifications(notifications.health)
    ci = CIServices(
        runner=runner,
        jobs=[job.to_spec() for job in config.raw.jobs],
        native={name: AsyncNativeCI(f.native_ci, async_forges[name]) for name, f in forges.items() if f.native_ci},
    )
    dispatcher = Dispatcher(config, async_forges, ci, stores.state)
    dispatcher.on_command = metrics.command
    dispatcher.publish = bus.publish
    merger = MergeController(config.raw.merge, async_forges, ci, dispatcher.owners_reader, stores.state,
                             holder=consumer, publish=bus.publish,
                             blocked_after=config.raw.notify.blocked_seconds) if config.raw.merge else None
    if merger is not None:
        merger.on_pass, merger.on_refused = metrics.merge_pass, metrics.merge_refused
        dispatcher.observers.append(partial(_observe_for_merge, merger))
        bus.subscribe(JobFinished, merger.job_finished)  # after the status reporter: it has posted
        dispatcher.explain_merge = merger.explain
    queue_settings = config.raw.queue
    worker = EventWorker(stores.events, metrics.timed(dispatcher.handle), consumer=consumer,
                         max_concurrent=queue_settings.max_concurrent_items, max_attempts=queue_settings.max_attempts,
                         lease=queue_settings.lease, run_scope=LabelDeferral, run_limit=queue_settings.run_limit)
    intake = Intake(
        [ForgeIntake(name, f.webhook_secret, f.translate) for name, f in forges.items()],
        stores.events,
        worker.wake,
        BodyReader(limits),
        observe=metrics.webhook,
        drivers=drivers,
    )

    async def already_handled(forge: str, delivery_id: str) -> bool:
        return await stores.events.seen(f"{forge}:{delivery_id}")  # intake's key for the delivery

    repairer = Repairer(async_forges, public_url, already_handled, config.raw.intake.repair_seconds)
    app = web.Application(client_max_size=MAX_BODY)
    app.add_routes(intake.routes())
    app.router.add_get("/metrics", metrics.handler(stores.events, metrics_token))
    readiness = Readiness(async_forges, stores.events)
    app[READINESS_KEY] = readiness
    app.router.add_get("/readyz", readiness.readyz)
    app[METRICS_KEY] = metrics
    app.add_routes(job_routes(jobs.records, jobs.logs, jobs.links, runner_settings.log_retention))
    dashboard = Dashboard(config, stores.state, Access(dashboard_token, config.raw.dashboard), records=jobs.records,
                          links=jobs.links, secure_cookies=public_url.startswith("https://"),
                          channel_health=notifications.shared_health if notifications is not None else None)
    app.add_routes(dashboard.routes())  # /, /repos/..., /jobs, /commands, /audit, /login
    app[QUEUE_KEY] = worker
    app[STORES_KEY] = stores
    app[DISPATCH_KEY] = dispatcher
    app[RUNNER_KEY] = runner
    app[BUS_KEY] = bus
    app[JOBS_KEY] = jobs
    app[REPAIR_KEY] = repairer
    if merger is not None:
        app[MERGE_KEY] = merger
    if notifications is not None:
        app[NOTIFY_KEY] = notifications
    discovery: list[asyncio.Task[int]] = []
    app[SCOPE_KEY] = discovery
    background: list[asyncio.Task[None]] = []

    async def recover(app: web.Application) -> None:
        if stores.shared:  # replicas revalidate what another one read
            for forge in async_forges.values():
                if forge.transport is not None:
                    forge.transport.share(stores.state, asyncio.get_running_loop())
        if not stores.shared:  # the embedded store belongs to this process alone: old claims are moot
            released = await stores.events.release_all()
            if released:
                log.warning("events cut off by the last stop will run again", count=released)
        stats = await stores.events.stats(0)
        log.info("event store open", store=stores.kind, pending=stats.pending, failed=stats.failed)
        worker.start()
        background.append(asyncio.get_running_loop().create_task(readiness.check_forever()))
        if notifications is not None:
            if not stores.shared:
                await notifications.outbox.release_all()
            notifications.start()
        background.append(asyncio.get_running_loop().create_task(
            _purge_forever(stores, queue_settings.dedup_window,
                           [notifications.outbox] if notifications is not None else [])))
        used = {job.executor or runner_settings.executor for job in config.raw.jobs}
        if used and (jobs.shared is None or runner_settings.run_jobs):
            await runner.prepare(sorted(used))
        if jobs.shared is None:  # the shared store expires logs by itself
            background.append(asyncio.get_running_loop().create_task(
                _expire_job_logs_forever(jobs.records, jobs.logs, runner_settings.log_retention_seconds)))
        await jobs.start(stores.state)
        interrupted = await runner.recover()
        if interrupted:
            log.warning("jobs interrupted by a restart reported as errors", jobs=interrupted)
        if merger is not None:
            merger.start()
            discovery.append(asyncio.get_running_loop().create_task(announce_repos_in_scope(async_forges, merger)))
        repairer.start()

    async def drain(app: web.Application) -> None:
        # aiohttp stops listening before this runs: nothing new arrives.
        await repairer.stop()
        await worker.stop(DRAIN_SECONDS)
        await cancel_and_wait([*background, *discovery])
        if merger is not None:
            await merger.stop()
        await jobs.stop(DRAIN_SECONDS)
        if notifications is not None:  # last: the outcomes of jobs stopped above are sent too
            await notifications.stop(DRAIN_SECONDS)
        for forge in async_forges.values():
            forge.close()

    async def close_stores(app: web.Application) -> None:
        with contextlib.suppress(StoreUnavailable):
            await stores.close()

    app.on_startup.append(recover)
    app.on_shutdown.append(drain)
    app.on_cleanup.append(close_stores)
    return app
