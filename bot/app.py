"""Wiring: settings + config → forge clients → dispatcher → queue → aiohttp application."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog
from aiohttp import web

from bot.ci.native import NativeCI
from bot.ci.pages import job_routes
from bot.ci.runner import Runner
from bot.ci.services import AsyncNativeCI, CIServices
from bot.ci.store import JobStore
from bot.config import Config, ForgeTuning, GitHubTuning
from bot.dedup import DeliveryLog
from bot.dispatch import Dispatcher
from bot.events import Event, ItemAction, ItemEvent, ItemKind
from bot.forge.base import ForgeClient
from bot.forge.offloop import AsyncForge
from bot.http_guard import MAX_BODY, BodyReader, Limits
from bot.intake import ForgeIntake, Intake, Translator
from bot.merge.controller import MergeController
from bot.settings import Settings
from bot.workqueue import KeyedWorkQueue

log = structlog.get_logger("prowlet")

DRAIN_SECONDS = 30  # on shutdown, queued events get this long to finish
QUEUE_KEY: web.AppKey[KeyedWorkQueue[Event]] = web.AppKey("queue", KeyedWorkQueue)
RUNNER_KEY: web.AppKey[Runner] = web.AppKey("runner", Runner)
MERGE_KEY: web.AppKey[MergeController] = web.AppKey("merge", MergeController)


def _observe_for_merge(merger: MergeController, event: Event) -> None:
    if isinstance(event, ItemEvent) and event.action in (ItemAction.LABELED, ItemAction.UNLABELED):
        merger.forget_refusals(event.forge, event.repo, event.ref.number)  # the label may be the fix
    if event.ref.kind is ItemKind.PULL or isinstance(event, ItemEvent):
        merger.poke(event.forge, event.repo)


@dataclass(frozen=True)
class EnabledForge:
    client: ForgeClient
    webhook_secret: str
    translate: Translator
    max_concurrent_requests: int = 8
    native_ci: NativeCI | None = None  # the forge's own CI, for /test and /retest


def _github(settings: Settings, tuning: GitHubTuning) -> EnabledForge:
    from bot.forge.github.client import GitHubClient
    from bot.forge.github.translate import translate

    gh = settings.github
    client = GitHubClient(
        gh.api_url,
        token=gh.token,
        app_id=gh.app_id,
        app_private_key=gh.app_private_key,
        seconds_between_requests=tuning.seconds_between_requests,
        seconds_between_writes=tuning.seconds_between_writes,
        timeout=tuning.timeout,
    )
    from bot.forge.github.actions import GitHubActions

    return EnabledForge(client, gh.webhook_secret or "", translate, tuning.max_concurrent_requests, GitHubActions(client))


def _gitlab(settings: Settings, tuning: ForgeTuning) -> EnabledForge:
    from bot.forge.gitlab.client import GitLabClient
    from bot.forge.gitlab.translate import translate

    gl = settings.gitlab
    client = GitLabClient(gl.url, token=gl.token or "", timeout=tuning.timeout)
    from bot.forge.gitlab.pipelines import GitLabPipelines

    return EnabledForge(client, gl.webhook_secret or "", translate, tuning.max_concurrent_requests, GitLabPipelines(client))


def enabled_forges(settings: Settings, config: Config) -> dict[str, EnabledForge]:
    """Forges with credentials; each one without gets one log line saying what is missing."""
    forges: dict[str, EnabledForge] = {}
    for name, missing, make, tuning in (
        ("github", settings.github.missing, _github, config.raw.github),
        ("gitlab", settings.gitlab.missing, _gitlab, config.raw.gitlab),
    ):
        if missing:
            log.info("forge disabled", forge=name, reason=missing)
        else:
            forges[name] = make(settings, tuning)
            log.info("forge enabled", forge=name)
    return forges


def build_app(config: Config, forges: dict[str, EnabledForge], data_dir: Path,
              public_url: str = "http://localhost:8080", limits: Limits = Limits()) -> web.Application:
    async_forges = {name: AsyncForge(f.client, f.max_concurrent_requests) for name, f in forges.items()}
    data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(data_dir / "jobs.sqlite3")
    runner = Runner(store, async_forges, public_url, data_dir / "workspaces", config.raw.runner.max_concurrent)
    ci = CIServices(
        runner=runner,
        jobs=[job.to_spec() for job in config.raw.jobs],
        native={name: AsyncNativeCI(f.native_ci, async_forges[name]) for name, f in forges.items() if f.native_ci},
    )
    dispatcher = Dispatcher(config, async_forges, ci)
    merger = MergeController(config.raw.merge, async_forges, ci, dispatcher.owners_reader) if config.raw.merge else None
    if merger is not None:
        dispatcher.observers.append(partial(_observe_for_merge, merger))
    queue: KeyedWorkQueue[Event] = KeyedWorkQueue(
        dispatcher.handle,
        max_pending=config.raw.queue.max_pending,
        max_concurrent=config.raw.queue.max_concurrent_items,
    )
    intake = Intake(
        [ForgeIntake(name, f.webhook_secret, f.translate) for name, f in forges.items()],
        queue,
        DeliveryLog(ttl=config.raw.queue.dedup_window),
        BodyReader(limits),
    )
    app = web.Application(client_max_size=MAX_BODY)
    app.add_routes(intake.routes())
    app.add_routes(job_routes(store))
    app[QUEUE_KEY] = queue
    app[RUNNER_KEY] = runner
    if merger is not None:
        app[MERGE_KEY] = merger

    async def recover(app: web.Application) -> None:
        interrupted = await runner.recover()
        if interrupted:
            log.warning("jobs interrupted by a restart reported as errors", jobs=interrupted)
        if merger is not None:
            merger.start()

    async def drain(app: web.Application) -> None:
        if not await queue.join(DRAIN_SECONDS):
            log.warning("shutdown with events still pending", pending=queue.pending)
        await queue.close()
        if merger is not None:
            await merger.stop()
        await runner.close()
        store.close()
        for forge in async_forges.values():
            forge.close()

    app.on_startup.append(recover)
    app.on_shutdown.append(drain)
    return app
