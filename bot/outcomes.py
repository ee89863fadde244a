"""An in-process bus of outcomes: what happened, for whoever wants to react (Prow's crier reading
ProwJob state, without Kubernetes).

Producers publish small frozen dataclasses; subscribers register an async handler per outcome type.
``publish`` awaits the handlers one after another, in subscription order, so a subscriber sees one
producer's outcomes in the order they were published (a job's pending status is posted before its
final one).  A failing handler is logged and skipped: a notifier's outage never stops a job or
another subscriber.  Besides the job outcomes: ``Merged`` and ``MergeRefused`` and ``MergeBlocked`` (merge controller),
``ApprovalComplete`` and ``HoldPlaced`` (plugins, through ``Context.announce``) and ``CommandFailed``
(dispatcher); notifiers (bot.notify) subscribe to all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.logs import log

O = TypeVar("O")
Handler = Callable[[O], Awaitable[None]]


@dataclass(frozen=True)
class JobStarted:
    """A built-in job was accepted: it is pending (maybe queued behind other jobs)."""

    job_id: str
    job: str  # the job's name; also its commit-status context
    forge: str
    repo: str
    number: int
    sha: str
    description: str
    url: str  # the job's page, with its access token


@dataclass(frozen=True)
class JobFinished:
    """A built-in job ended: ``state`` is success, failure or error."""

    job_id: str
    job: str
    forge: str
    repo: str
    number: int
    sha: str
    state: str
    description: str
    url: str
    exit_code: int | None = None
    # A newer run of the same job on the same commit took over: its status, not this one's, is the
    # commit's last word (reporters stay quiet; notifiers may still care).
    replaced: bool = False


# -- outcomes of a PR/MR: each carries the change's author and labels when known, for routing ----------


@dataclass(frozen=True)
class Merged:
    """prowlet merged a change (the merge controller, after the forge accepted it)."""

    forge: str
    repo: str
    number: int
    sha: str
    method: str
    title: str = ""
    url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeRefused:
    """The forge refused a merge prowlet tried (said once per head commit)."""

    forge: str
    repo: str
    number: int
    sha: str
    reason: str
    title: str = ""
    url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeBlocked:
    """A change that has the labels to merge has waited longer than ``notify.blocked_after`` for
    something else (statuses, a conflict, a blocker issue): said once per head commit."""

    forge: str
    repo: str
    number: int
    sha: str
    reason: str  # the merge status's description: what it waits for
    waited: int  # seconds since prowlet first saw it label-ready at this head
    title: str = ""
    url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalComplete:
    """Every OWNERS file a change touches now has an approver: the change became ``approved``."""

    forge: str
    repo: str
    number: int
    approvers: tuple[str, ...] = ()
    title: str = ""
    url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()
    event: str = ""  # the delivery id of the event it came from


@dataclass(frozen=True)
class HoldPlaced:
    """Someone put a hold on a change (``/hold``)."""

    forge: str
    repo: str
    number: int
    by: str
    reason: str = ""
    title: str = ""
    url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()
    event: str = ""  # the delivery id of the event it came from


@dataclass(frozen=True)
class CommandFailed:
    """A command could not be carried out (its handler raised, after the event's last attempt)."""

    forge: str
    repo: str
    number: int
    command: str
    user: str
    error: str
    url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()
    event: str = ""  # the delivery id of the event it came from


# Every outcome type by name: routes in the config name them (``notify.routes[].outcomes``).
OUTCOME_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    JobStarted, JobFinished, Merged, MergeRefused, MergeBlocked, ApprovalComplete, HoldPlaced, CommandFailed)}


class Bus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler[Any]]] = {}

    def subscribe(self, kind: type[O], handler: Handler[O]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def publish(self, outcome: object) -> None:
        for handler in self._handlers.get(type(outcome), ()):
            try:
                await handler(outcome)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one subscriber's failure must not reach the producer
                log.exception("outcome handler failed", outcome=type(outcome).__name__,
                              handler=getattr(handler, "__qualname__", repr(handler)))


__all__ = ["ApprovalComplete", "Bus", "CommandFailed", "HoldPlaced", "JobFinished", "JobStarted", "MergeBlocked",
           "MergeRefused", "Merged", "OUTCOME_TYPES"]
