"""Jobs shared by every process (``PROWLET_REDIS_URL``): what travels through the store between the
process that starts a job, the process that runs it and the process that reports it.

- **The job queue** (``SharedJobs.queue``, an ``EventQueue``): one entry per job record, claimed by
  whoever runs jobs — ``prowlet serve`` (``runner.run_jobs``) and ``prowlet worker`` processes.  The
  claim is a lease the runner renews while the job runs (its heartbeat); a worker that dies stops
  renewing, and the next claimer finds the record ``running``: it reports it ``error`` ("worker
  lost") and, for a job marked ``retry_on_worker_loss``, queues it once more.
- **Cancel flags** (``CancelFlags``, in the state store): superseding works across processes; the
  runner running a job polls its flag.
- **The outbox** (``SharedJobs.outbox``, an ``EventQueue`` ordered per commit-status context): every
  JobStarted / JobFinished that must become a commit status.  Only ``prowlet serve`` consumes it
  (``OutboxRelay``), through its forge clients: workers need no forge credentials, and each status
  is posted once, in order, and again after a crash (statuses are idempotent).  A finished job's
  outcome is in the outbox before its queue entry is acknowledged, so a crash between "finished"
  and "reported" is repaired by the next claimer of the entry.

A queued operator job names its job by name only (the worker takes the command, limits and secrets
from its own config and environment: nothing written to the store decides what runs) and carries the
change, including the clone credential header, which leaves the store with the entry's payload when
it is acknowledged.  A job from a repository's ``.prowlet.yaml`` carries its spec as well, signed
with ``PROWLET_JOB_SIGNING_KEY`` together with the job id and the change (bot.ci.signing): the
claiming process runs it only if the signature verifies and its own config allows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bot.ci.jobs import Change
from bot.ci.links import JobLinks
from bot.ci.reporter import StatusReporter
from bot.forge.base import GitSource
from bot.outcomes import JobFinished, JobStarted
from bot.store.base import EventQueue, StateStore
from bot.store.codec import CodecError
from bot.worker import EventWorker

CANCEL_NS = "job.cancel"
CANCEL_TTL = 7 * 86400.0  # a flag outlives any job, and any re-report of its outcome
LINK_KEY = ("ci", "job-links-key")
WORKER_LOST = "Worker lost: the process running this job stopped answering."
WORKER_LOST_RETRIED = WORKER_LOST + " Queued again."


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    job: str  # the job's name, looked up in the runner's own config
    change: Change
    retry_on_loss: bool = False  # queue it again once if its worker is lost
    # A job from a repository's file: its spec (bot.ci.signing.encode_spec) and the signature over
    # it, the job id and the change; None for an operator's job, which travels by name.
    spec: Any = None
    signature: str | None = None


def change_data(c: Change) -> dict[str, Any]:
    """The change as it travels (and as it is signed)."""
    source = None if c.source is None else {"url": c.source.url, "ref": c.source.ref, "header": c.source.header}
    return {"forge": c.forge, "repo": c.repo, "number": c.number, "head_sha": c.head_sha,
            "base_ref": c.base_ref, "author": c.author, "merge_base": c.merge_base, "source": source,
            "params": [list(p) for p in c.params]}


def encode_job(queued: QueuedJob) -> bytes:
    data: dict[str, Any] = {"v": 1, "id": queued.job_id, "job": queued.job, "retry": queued.retry_on_loss,
                            "change": change_data(queued.change)}
    if queued.spec is not None:
        data.update(spec=queued.spec, sig=queued.signature)
    return orjson.dumps(data)


def decode_job(payload: bytes) -> QueuedJob:
    try:
        data = orjson.loads(payload)
        c = data["change"]
        source = None if c["source"] is None else GitSource(**c["source"])
        change = Change(forge=c["forge"], repo=c["repo"], number=int(c["number"]), head_sha=c["head_sha"],
                        base_ref=c["base_ref"], author=c["author"], source=source, merge_base=bool(c["merge_base"]),
                        params=tuple((str(k), str(v)) for k, v in c.get("params", [])))  # none before aliases
        spec, signature = data.get("spec"), data.get("sig")  # checked by the claimer, not here
        return QueuedJob(data["id"], data["job"], change, bool(data["retry"]),
                         spec=spec, signature=signature if isinstance(signature, str) else None)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise CodecError(f"not a queued job: {type(err).__name__}") from None


Outcome = JobStarted | JobFinished


def encode_outcome(outcome: Outcome) -> bytes:
    kind = "started" if isinstance(outcome, JobStarted) else "finished"
    return orjson.dumps({"kind": kind, **dataclasses.asdict(outcome)})


def decode_outcome(payload: bytes) -> Outcome:
    try:
        data = orjson.loads(payload)
        kind = data.pop("kind")
        return JobStarted(**data) if kind == "started" else JobFinished(**data)
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise CodecError(f"not a job outcome: {type(err).__name__}") from None


def outcome_delivery(outcome: Outcome) -> str:
    """The outbox key: once per job and step, so a re-report after a crash is a duplicate."""
    return f"{outcome.job_id}:{'started' if isinstance(outcome, JobStarted) else 'finished'}"


def status_context(outcome: Outcome) -> str:
    """The order key: one commit status (forge, repository, commit, context) at a time, in order."""
    return f"{outcome.forge}|{outcome.repo.lower()}|{outcome.sha}|{outcome.job}"


@dataclass(frozen=True)
class Cancel:
    reason: str
    replaced: bool  # a newer run on the same commit speaks for this one: its status stays quiet


class CancelFlags:
    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def request(self, job_id: str, cancel: Cancel) -> None:
        await self._state.put(CANCEL_NS, job_id, {"reason": cancel.reason, "replaced": cancel.replaced}, CANCEL_TTL)

    async def get(self, job_id: str) -> Cancel | None:
        found: Any = await self._state.get(CANCEL_NS, job_id)
        return None if found is None else Cancel(str(found["reason"]), bool(found["replaced"]))


@dataclass(frozen=True)
class JobQueues:
    """What a runner needs to start jobs elsewhere and to run jobs started elsewhere."""

    queue: EventQueue
    outbox: EventQueue
    cancels: CancelFlags

    async def report(self, outcome: Outcome) -> None:
        await self.outbox.submit(outcome_delivery(outcome), status_context(outcome), encode_outcome(outcome))


async def shared_link_key(state: StateStore, local: bytes) -> bytes:
    """The key of job links, the same in every process: the first process to get here shares its
    own (so its links posted before keep working)."""
    await state.put_if_absent(*LINK_KEY, local.hex())
    found = await state.get(*LINK_KEY)
    return bytes.fromhex(str(found))


class OutboxRelay:
    """In ``prowlet serve``: outcomes from the outbox become commit statuses.  A post that fails is
    retried with backoff (the outbox keeps each status context in order), then parked.

    Once its status is posted, each outcome is published on serve's outcome bus (``publish``):
    notifiers and metrics hear of every job, whichever process ran it, once — each outbox entry is
    claimed by one replica and acknowledged after (a crash between the two publishes it again; the
    notification outbox drops the duplicate by its key)."""

    def __init__(self, outbox: EventQueue, reporter: StatusReporter, links: JobLinks, *, consumer: str,
                 lease: float = 30.0, max_attempts: int = 8,
                 publish: Callable[[object], Awaitable[None]] | None = None) -> None:
        self._reporter = reporter
        self._links = links
        self._publish = publish
        self.worker = EventWorker(outbox, self._post, consumer=consumer, lease=lease, max_attempts=max_attempts,
                                  decode=decode_outcome)

    async def _post(self, outcome: Outcome, attempt: int) -> None:
        # The link is this process's: whoever wrote the outcome needs no public URL.
        outcome = dataclasses.replace(outcome, url=self._links.url(outcome.job_id))
        await self._reporter.deliver(outcome)
        if self._publish is not None:
            await self._publish(outcome)  # the bus logs its subscribers' failures: the status stands

    def start(self) -> None:
        self.worker.start()

    async def stop(self, grace: float) -> None:
        await self.worker.stop(grace)


__all__ = ["Cancel", "CancelFlags", "JobQueues", "OutboxRelay", "QueuedJob", "WORKER_LOST", "change_data", "decode_job",
           "decode_outcome", "encode_job", "encode_outcome", "shared_link_key"]
