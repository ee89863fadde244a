"""An outcome as a neutral message: what every service's module formats in its own way."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from bot.forge.drivers import DRIVERS
from bot.outcomes import (ApprovalComplete, CommandFailed, HoldPlaced, JobFinished, JobStarted, MergeBlocked,
                          MergeRefused, Merged)


@dataclass(frozen=True)
class Message:
    key: str  # the idempotency key: the same for every attempt at one (outcome, channel)
    title: str
    text: str
    link: str = ""
    outcome: str = ""  # its type name
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # its fields, for the generic webhook


@dataclass(frozen=True)
class Target:
    """Where a message goes: the channel's URL and secret (from the environment) at send time."""

    url: str
    secret: str = ""
    keyword: str = ""  # DingTalk/Feishu keyword rule: a message without it is rejected by the service
    now: float = 0.0  # epoch seconds, for the services' signed timestamps


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


_CHANGE_SIGNS = {driver.name: driver.change_sign for driver in DRIVERS}


def _item(o: Any) -> str:
    sep = _CHANGE_SIGNS.get(o.forge, "#")
    return f"{o.repo}{sep}{o.number}"


def _waited(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m"


def summary(outcome: object) -> str:
    """One line saying what happened; the default template."""
    o: Any = outcome
    match outcome:
        case JobStarted():
            return f"{o.job} started on {_item(o)}"
        case JobFinished():
            return f"{o.job} {o.state} on {_item(o)}: {o.description}"
        case Merged():
            return f"Merged {_item(o)} ({o.method}){': ' + o.title if o.title else ''}"
        case MergeRefused():
            return f"Merge of {_item(o)} refused: {o.reason}"
        case MergeBlocked():
            return f"{_item(o)} has waited {_waited(o.waited)} to merge: {o.reason}"
        case ApprovalComplete():
            return f"{_item(o)} is approved by {', '.join(o.approvers) or 'its approvers'}"
        case HoldPlaced():
            return f"{o.by} put a hold on {_item(o)}{': ' + o.reason if o.reason else ''}"
        case CommandFailed():
            return f"/{o.command} by {o.user} failed on {_item(o)}: {o.error}"
    return type(outcome).__name__


def outcome_key(outcome: object) -> str:
    """Names one outcome, the same when it is published again after a crash (so its entries are
    duplicates in the outbox, not second messages)."""
    o: Any = outcome
    kind = type(outcome).__name__
    match outcome:
        case JobStarted() | JobFinished():
            return f"{kind}:{o.job_id}"
        case Merged() | MergeRefused() | MergeBlocked():
            return f"{kind}:{o.forge}:{o.repo.lower()}:{o.number}:{o.sha}"
        case HoldPlaced() | CommandFailed() | ApprovalComplete() if o.event:
            # One event (a comment) may hold several commands: one message each, however often it is handled.
            return f"{kind}:{o.forge}:{o.event}:{o.number}:{getattr(o, 'command', '')}"
    return f"{kind}:{o.forge}:{o.repo.lower()}:{o.number}"


_FIELD = re.compile(r"\{(\w+)\}")


def fields(outcome: object) -> dict[str, str]:
    data = {k: ", ".join(v) if isinstance(v, tuple) else str(v) for k, v in dataclasses.asdict(outcome).items()}  # type: ignore[call-overload]
    data["type"] = type(outcome).__name__
    data["item"] = _item(outcome)
    data["summary"] = summary(outcome)
    return data


def render(template: str, outcome: object) -> str:
    """``{name}`` replaced by the outcome's field (``{summary}``, ``{repo}``, ``{number}``, ``{url}``,
    ``{type}`` ...); unknown names stay as written.  No attribute access: a template is data."""
    values = fields(outcome)
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template or "{summary}")


def message(outcome: object, channel: str, template: str = "") -> Message:
    text = render(template, outcome)
    return Message(key=f"{channel}:{outcome_key(outcome)}", title=f"prowlet: {summary(outcome)}"[:150], text=text,
                   link=getattr(outcome, "url", "") or "", outcome=type(outcome).__name__, data=fields(outcome))
