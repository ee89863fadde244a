"""``prowlet simulate``: what prowlet would do, against the real forge, without writing anything.

The real pieces — settings from the environment as ``serve`` reads them, the config file, the
plugins, the dispatcher and the merge controller — run over a forge client whose writes are
recorded instead of made (``bot.forge.layers.Recording``); reads go to the forge as usual.  State
lives in memory, built-in jobs and the forge's own CI are not started (their starts are recorded
too), and outcomes are not sent anywhere.  Then the plan is printed: each command's outcome, each
write prowlet would make, with the text of every comment.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.aliases.http import HttpOutcome
from bot.app import EnabledForge, compose_forge, make_forge
from bot.ci.jobs import Change, JobSpec
from bot.ci.services import CIServices
from bot.config import Config
from bot.dispatch import Dispatcher
from bot.events import CommentEvent, ItemKind, ItemRef
from bot.forge.base import ForgeError, NotFoundError
from bot.forge.layered import AsyncForge
from bot.forge.layers import RecordedWrite
from bot.merge.controller import MergeController
from bot.settings import Settings
from bot.store.memory import MemoryStateStore

DELIVERY_PREFIX = "simulate-"


class SimulationError(Exception):
    """What stops a simulation before it starts (no credentials, unknown repository or PR/MR): one line."""


@dataclass
class Plan:
    """What prowlet would have done."""

    writes: list[RecordedWrite] = field(default_factory=list)
    commands: list[tuple[str, str]] = field(default_factory=list)  # (name, done | refused | failed)
    other: list[str] = field(default_factory=list)  # jobs it would start, outcomes it would announce

    async def announce(self, outcome: object) -> None:
        self.other.append(f"announce {type(outcome).__name__}")

    async def http_call(self, url: str, secret: str, payload: Mapping[str, Any], delivery: str) -> HttpOutcome:
        """An alias's HTTP action: recorded, not sent (the URL is a credential: only its command is named)."""
        self.other.append(f"call the HTTP endpoint of /{payload.get('command')} with {dict(payload.get('params', {}))}")
        return HttpOutcome("success")


class _Runner:
    """Stands in for the built-in job runner: records what it would start; knows no earlier runs
    (the job history is not read)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan

    async def start(self, job: JobSpec, change: Change, job_id: str | None = None) -> None:
        params = "".join(f" {name}={value}" for name, value in change.params)  # an alias's values
        self._plan.other.append(f"start job {job.name} on {change.repo} #{change.number} at {change.head_sha[:12]}"
                                + (f" with{params}" if params else ""))

    def job_url(self, job_id: str) -> str:
        return ""

    async def latest(self, forge: str, repo: str, sha: str) -> dict:
        return {}


class _NativeCI:
    """The forge's own CI: what can be named is read; re-runs are recorded."""

    def __init__(self, forge: AsyncForge, enabled: EnabledForge, plan: Plan) -> None:
        self._native = enabled.native_ci
        self._forge = forge
        self._plan = plan
        self.name = self._native.name if self._native else ""

    async def retest(self, ref: ItemRef, head_sha: str) -> list[str]:
        self._plan.other.append(f"ask {self.name} to re-run what failed on {ref} at {head_sha[:12]}")
        return [f"{self.name} (what failed)"]

    async def run(self, ref: ItemRef, head_sha: str, name: str) -> str | None:
        if name.lower() not in (n.lower() for n in await self.names(ref, head_sha)):
            return None
        self._plan.other.append(f"ask {self.name} to run {name} on {ref} at {head_sha[:12]}")
        return name

    async def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        if self._native is None:
            return []
        return await self._forge.native_ci("native_ci_read", self._native.names, ref, head_sha)


@dataclass
class Simulation:
    forge: AsyncForge
    dispatcher: Dispatcher
    merger: MergeController | None
    plan: Plan

    def close(self) -> None:
        self.forge.close()


def _credentials_missing(settings: Settings, forge: str) -> str | None:
    return settings.forges[forge].credentials_missing


def build(settings: Settings, config: Config, forge_name: str) -> Simulation:
    """The real dispatcher and merge controller for one forge, writing nothing."""
    missing = _credentials_missing(settings, forge_name)
    if missing:
        raise SimulationError(f"no credentials for {forge_name}: {missing}")
    enabled = make_forge(forge_name, settings, config)
    plan = Plan()
    forge = compose_forge(enabled.client, enabled.max_concurrent_requests, record_writes=plan.writes)
    native = {forge_name: _NativeCI(forge, enabled, plan)} if enabled.native_ci else {}
    ci = CIServices(runner=_Runner(plan), jobs=[job.to_spec() for job in config.raw.jobs],  # type: ignore[arg-type]
                    native=native, http_call=plan.http_call)  # type: ignore[arg-type]
    forges = {forge_name: forge}
    dispatcher = Dispatcher(config, forges, ci, MemoryStateStore())
    dispatcher.publish = plan.announce
    dispatcher.on_command = lambda name, outcome: plan.commands.append((name, outcome))
    merger = None
    if config.raw.merge is not None:
        merger = MergeController(config.raw.merge, forges, ci, dispatcher.owners_reader, MemoryStateStore(),
                                 holder="simulate", publish=plan.announce)
        dispatcher.explain_merge = merger.explain
    return Simulation(forge, dispatcher, merger, plan)


async def comment(sim: Simulation, repo: str, number: int, user: str, body: str, kind: ItemKind) -> CommentEvent:
    """Handle ``body`` as a new comment by ``user`` on the PR/MR (or issue), as a webhook would bring it."""
    ref = ItemRef(repo, number, kind)
    try:
        item = await sim.forge.get_item(ref)
    except NotFoundError:
        raise SimulationError(f"{ref} not found (or the token cannot see it)") from None
    except ForgeError as err:
        raise SimulationError(f"cannot read {ref}: {err}") from None
    event = CommentEvent(delivery_id=DELIVERY_PREFIX + uuid.uuid4().hex, forge=sim.forge.name, actor=user,
                         item=item, body=body)
    await sim.dispatcher.handle(event)
    return event


async def merge_pass(sim: Simulation, repo: str) -> list[str]:
    """Every open PR/MR's full verdict, then one merge pass (its writes recorded); the verdict lines."""
    merger = sim.merger
    if merger is None:
        raise SimulationError("merge automation is off in this config (it has no merge: section)")
    if not merger.settings.applies_to(repo):
        raise SimulationError(f"merge automation is off for {repo} (merge.repos does not match it)")
    noun = sim.forge.capabilities.pull_noun
    try:
        verdicts = await merger.explain_all(sim.forge.name, repo)
        lines = [f"{len(verdicts)} open {noun}(s) in {repo}"]
        for pull, full in verdicts:
            head = f"{pull.item.ref} {pull.item.title!r} into {pull.item.base_ref}"
            if full.ready:
                lines.append(f"{head}: ready ({full.description})")
                continue
            lines.append(f"{head}: waiting ({full.description})")
            lines += [f"    - {reason}" for reason in full.reasons]
        await merger.sync(sim.forge.name, repo)
    except NotFoundError:
        raise SimulationError(f"{repo} not found (or the token cannot see it)") from None
    except ForgeError as err:
        raise SimulationError(f"cannot read {repo}: {err}") from None
    return lines


_COMMENT_WRITES = ("comment", "edit_comment")


def _without_marker(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.startswith("<!-- prowlet:")).rstrip()


def print_plan(plan: Plan, out: TextIO, heading: Sequence[str] = ()) -> None:
    for line in heading:
        print(line, file=out)
    for name, outcome in plan.commands:
        print(f"/{name}: {outcome}", file=out)
    if not plan.writes and not plan.other:
        print("prowlet would write nothing.", file=out)
    else:
        print("prowlet would:", file=out)
    for write in plan.writes:
        if write.method in _COMMENT_WRITES:
            args = write.arguments
            what = "comment on" if write.method == "comment" else f"edit comment {args.get('comment_id')} on"
            print(f"  {what} {args['ref']}:", file=out)
            for line in _without_marker(str(args.get("body", ""))).splitlines():
                print(f"    | {line}", file=out)
        else:
            print(f"  {write}", file=out)
    for other in plan.other:
        print(f"  {other}", file=out)
    print("(simulated: nothing was written to the forge)", file=out)
