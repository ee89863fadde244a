"""Prometheus metrics: ``GET /metrics`` in the text exposition format.

Each app has its own ``CollectorRegistry`` (never the library's global one), so tests and several
apps in one process do not collide.  Counters the code paths bump as things happen (webhooks,
commands, merges, jobs, event handling time); gauges and the forge's request counts are read on
scrape from what already keeps them (the store's stats, the transport's request meter, the write
budget), so a scrape costs one cheap store query and no forge call.

Labels are bounded: forge, event type, outcome, command name, HTTP method and status, job name and
result.  Never PR numbers, repositories or user names.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.outcomes import Bus, JobFinished, JobStarted
from bot.store import StoreUnavailable

if TYPE_CHECKING:
    from bot.forge.layered import AsyncForge
    from bot.store.base import EventQueue


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhooks = Counter("prowlet_webhooks", "Webhook deliveries received, by how intake answered them",
                                ["forge", "event", "outcome"], registry=r)
        self.event_seconds = Histogram("prowlet_event_handling_seconds", "Time to handle one stored event",
                                       ["forge"], registry=r,
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.commands = Counter("prowlet_commands", "Commands by name and outcome (done, refused, failed)",
                                ["command", "outcome"], registry=r)
        self.merges = Counter("prowlet_merges", "Pull/merge requests merged by the merge controller",
                              ["forge"], registry=r)
        self.merge_refusals = Counter("prowlet_merge_refusals", "Merges the forge refused", ["forge"], registry=r)
        self.merge_pass_seconds = Histogram("prowlet_merge_pass_seconds", "Duration of one merge pass over a repository",
                                            ["forge"], registry=r,
                                            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.jobs_started = Counter("prowlet_jobs_started", "Built-in jobs accepted", ["forge", "job"], registry=r)
        self.jobs = Counter("prowlet_jobs_finished", "Built-in jobs finished, by result", ["forge", "job", "result"],
                            registry=r)
        self.job_seconds = Histogram("prowlet_job_duration_seconds", "Built-in job duration, accepted to finished",
                                     ["forge", "job"], registry=r,
                                     buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600))
        self.queue_depth = Gauge("prowlet_queue_depth", "Stored events waiting or being handled", registry=r)
        self.queue_running = Gauge("prowlet_queue_running", "Stored events being handled now", registry=r)
        self.queue_failed = Gauge("prowlet_queue_failed", "Events parked after their last attempt failed", registry=r)
        self.queue_oldest = Gauge("prowlet_queue_oldest_event_age_seconds",
                                  "Age of the oldest pending event (0 when none)", registry=r)
        self.notify_deliveries = Counter("prowlet_notify_deliveries", "Notification posts by channel and result "
                                         "(sent, failed)", ["channel", "result"], registry=r)
        self.notify_failing = Gauge("prowlet_notify_channels_failing",
                                    "Notification channels whose last post failed", registry=r)
        self._channel_health: Callable[[], Mapping[str, Any]] | None = None
        self.scrape_store_errors = Counter("prowlet_metrics_store_errors", "Scrapes that could not read the store",
                                           registry=r)
        self._job_began: dict[str, float] = {}  # job id → monotonic start, until it finishes

    # ---- producers ------------------------------------------------------------------------

    def webhook(self, forge: str, event: str | None, outcome: str) -> None:
        self.webhooks.labels(forge, event or "", outcome).inc()

    def command(self, name: str, outcome: str) -> None:
        self.commands.labels(name, outcome).inc()

    def merge_pass(self, forge: str, seconds: float, merged: int) -> None:
        self.merge_pass_seconds.labels(forge).observe(seconds)
        if merged:
            self.merges.labels(forge).inc(merged)

    def merge_refused(self, forge: str) -> None:
        self.merge_refusals.labels(forge).inc()

    def timed(self, handle: Callable[..., Any]) -> Callable[..., Any]:
        """Wraps the worker's event handler to observe how long each event takes."""

        async def timed_handle(event: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return await handle(event, *args, **kwargs)
            finally:
                self.event_seconds.labels(event.forge).observe(time.monotonic() - started)

        return timed_handle

    def follow_jobs(self, bus: Bus) -> None:
        bus.subscribe(JobStarted, self._job_started)
        bus.subscribe(JobFinished, self._job_finished)

    async def _job_started(self, outcome: JobStarted) -> None:
        self.jobs_started.labels(outcome.forge, outcome.job).inc()
        self._job_began.setdefault(outcome.job_id, time.monotonic())

    async def _job_finished(self, outcome: JobFinished) -> None:
        self.jobs.labels(outcome.forge, outcome.job, outcome.state).inc()
        began = self._job_began.pop(outcome.job_id, None)
        if began is not None:  # started in another process (replica, restart): its duration is unknown here
            self.job_seconds.labels(outcome.forge, outcome.job).observe(time.monotonic() - began)

    def notification(self, channel: str, result: str) -> None:
        self.notify_deliveries.labels(channel, result).inc()

    def watch_notifications(self, health: Callable[[], Mapping[str, Any]]) -> None:
        """``health``: the notifier's per-channel health (``Notifications.health``), read on scrape."""
        self._channel_health = health

    # ---- on scrape ------------------------------------------------------------------------

    def watch_forges(self, forges: Mapping[str, AsyncForge], budgets: Mapping[str, Any]) -> None:
        self.registry.register(_ForgeCollector(forges, budgets))

    async def refresh(self, events: EventQueue) -> None:
        if self._channel_health is not None:
            self.notify_failing.set(sum(1 for h in self._channel_health().values() if h.failing))
        try:
            stats = await events.stats(0)
        except StoreUnavailable:
            self.scrape_store_errors.inc()
            return
        self.queue_depth.set(stats.pending)
        self.queue_running.set(stats.running)
        self.queue_failed.set(stats.failed)
        oldest = stats.oldest_received_at
        self.queue_oldest.set(max(0.0, time.time() - oldest) if oldest is not None else 0.0)

    def handler(self, events: EventQueue, token: str | None = None) -> Callable[[web.Request], Any]:
        """``token`` (``PROWLET_METRICS_TOKEN``): when set, a scrape must send ``Authorization: Bearer <token>``."""

        async def metrics(request: web.Request) -> web.Response:
            if token and not _bearer_matches(request, token):
                return web.Response(status=401, text="401: send Authorization: Bearer <PROWLET_METRICS_TOKEN>\n",
                                    headers={"WWW-Authenticate": 'Bearer realm="prowlet metrics"'})
            await self.refresh(events)
            response = web.Response(body=generate_latest(self.registry))
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        return metrics


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class _ForgeCollector(Collector):
    """Reads the forge layers' own meters at scrape time (they count anyway; no double bookkeeping)."""

    def __init__(self, forges: Mapping[str, AsyncForge], budgets: Mapping[str, Any]) -> None:
        self._forges = forges
        self._budgets = budgets

    def describe(self) -> list[Any]:
        return []  # dynamic: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily("prowlet_forge_requests", "HTTP requests sent to the forge (304s included)",
                                       labels=["forge", "method", "status"])
        calls = CounterMetricFamily("prowlet_forge_calls", "Forge client calls by API method", labels=["forge", "method"])
        failures = CounterMetricFamily("prowlet_forge_call_failures", "Forge client calls that failed",
                                       labels=["forge", "method"])
        remaining = GaugeMetricFamily("prowlet_forge_rate_limit_remaining",
                                      "Requests left in the forge's rate-limit window (as last reported)",
                                      labels=["forge"])
        limit = GaugeMetricFamily("prowlet_forge_rate_limit", "The forge's rate-limit window size", labels=["forge"])
        admitted = CounterMetricFamily("prowlet_write_budget_admitted", "Writes admitted by the write budget",
                                       labels=["forge"])
        delayed = CounterMetricFamily("prowlet_write_budget_delayed", "Writes that waited for room in the budget",
                                      labels=["forge"])
        coalesced = CounterMetricFamily(
            "prowlet_write_budget_coalesced",
            "Label writes that waited (or were held back in a run) and left inside another's label change",
            labels=["forge"])
        level = GaugeMetricFamily("prowlet_write_budget_in_window",
                                  "Writes counted in the budget's fullest window now (this process)", labels=["forge"])
        for name, forge in self._forges.items():
            for method, count in forge.metering.calls.items():
                calls.add_metric([name, method], count)
            for method, count in forge.metering.failures.items():
                failures.add_metric([name, method], count)
            coalesced.add_metric([name], forge.pacing.coalesced + forge.deferring.coalesced)
            transport = forge.transport
            meter = getattr(transport, "meter", None)
            if meter is not None:
                for (method, status), count in list(meter.by_method_status.items()):
                    requests.add_metric([name, method, str(status)], count)
                if meter.remaining is not None:
                    remaining.add_metric([name], meter.remaining)
                if meter.limit is not None:
                    limit.add_metric([name], meter.limit)
            budget = self._budgets.get(name)
            if budget is not None:
                admitted.add_metric([name], budget.admitted)
                delayed.add_metric([name], budget.delayed)
                in_window = getattr(budget, "in_window", None)
                if in_window is not None:
                    level.add_metric([name], in_window())
        yield from (requests, calls, failures, remaining, limit, admitted, delayed, coalesced, level)
