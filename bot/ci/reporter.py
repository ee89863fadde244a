"""The status reporter (Prow's crier): job outcomes become commit statuses on the forge.

It listens on the outcome bus, so the runner neither knows the forges nor waits on their outages:
a failed post is logged, never raised.  Posts for one context on one commit go out in the order
they were published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.ci.jobs import JobSpec
from bot.forge.base import CommitStatus, StatusState
from bot.logs import log
from bot.outcomes import Bus, JobFinished, JobStarted

_FINAL = {"success": StatusState.SUCCESS, "failure": StatusState.FAILURE, "error": StatusState.ERROR}


class StatusPoster(Protocol):
    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None: ...


class StatusReporter:
    def __init__(self, posters: Mapping[str, StatusPoster], jobs: Sequence[JobSpec] = ()) -> None:
        self._posters = posters
        # A job's status context may differ from its name, and skip_report jobs post none.
        # Job names are unique in the config.
        self._jobs = {job.name: job for job in jobs}
        self._locks: dict[tuple[str, str, str, str], tuple[asyncio.Lock, int]] = {}

    def attach(self, bus: Bus) -> StatusReporter:
        bus.subscribe(JobStarted, self.on_started)
        bus.subscribe(JobFinished, self.on_finished)
        return self

    async def on_started(self, outcome: JobStarted) -> None:
        await self._post(outcome, StatusState.PENDING)

    async def on_finished(self, outcome: JobFinished) -> None:
        if not outcome.replaced:
            await self._post(outcome, _FINAL[outcome.state])

    async def deliver(self, outcome: JobStarted | JobFinished) -> None:
        """Post the status for one outcome and raise when the forge refuses: the job outbox
        (bot.ci.workers) retries it, where the in-process bus would only log it."""
        if isinstance(outcome, JobStarted):
            await self._post(outcome, StatusState.PENDING, strict=True)
        elif not outcome.replaced:
            await self._post(outcome, _FINAL[outcome.state], strict=True)

    async def _post(self, o: JobStarted | JobFinished, state: StatusState, strict: bool = False) -> None:
        spec = self._jobs.get(o.job)
        if spec is not None and spec.skip_report:
            return
        poster = self._posters.get(o.forge)
        if poster is None:
            log.warning("no status poster for forge", forge=o.forge, job=o.job, job_id=o.job_id)
            return  # not an error to retry: no process of this deployment has that forge
        status = CommitStatus(spec.status_context if spec else o.job, state, o.description, o.url)
        key = (o.forge, o.repo.lower(), o.sha, o.job)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await poster.set_status(o.repo, o.sha, status)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - a forge outage must not stop the runner
            if strict:
                raise
            log.warning("could not post job status", forge=o.forge, repo=o.repo, sha=o.sha, job=o.job,
                        job_id=o.job_id, state=state.value, error=str(err))
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


__all__ = ["StatusPoster", "StatusReporter"]
