"""From a neutral event to plugin handlers: parse once, check permissions, isolate each plugin."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import structlog

from bot.audit import AuditTrail
from bot.ci.services import CIServices
from bot.commands import Invocation, parse_commands
from bot.config import Config
from bot.context import Context, EventScope
from bot.owners_reader import OwnersReader
from bot.events import CommentEvent, CommitCIEvent, Event, ItemAction, ItemEvent, ItemKind, ReviewEvent, RunFinished
from bot.forge.base import (
    ForbiddenError,
    ForgeError,
    ForgeUnavailableError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
)
from bot.forge.layered import AsyncForge
from bot.inrepo.resolver import InRepoConfigs
from bot.outcomes import CommandFailed
from bot.plugin import Command, Plugin
from bot.replies import code
from bot.store.base import StateStore

if TYPE_CHECKING:
    from bot.merge.controller import Explanation

log = structlog.get_logger("prowlet.dispatch")


def _command_text(event: Event) -> str:
    """Where commands are read: comments, review bodies, and (as Prow does) the description of a
    newly opened PR/MR or issue, so templates can carry ``/kind bug`` or ``/cc @team-lead``."""
    if isinstance(event, (CommentEvent, ReviewEvent)):
        return event.body
    if isinstance(event, ItemEvent) and event.action is ItemAction.OPENED:
        return event.item.body
    return ""


class Dispatcher:
    def __init__(self, config: Config, forges: Mapping[str, AsyncForge], ci: CIServices,
                 state: StateStore | None = None) -> None:
        self.config = config
        self.state = state
        self.forges = dict(forges)
        self.ci = ci
        # Called after each handled event (merge automation schedules a pass for its repository).
        self.observers: list[Callable[[Event], Awaitable[None]]] = []
        self.owners_reader = OwnersReader()
        self.in_repo = InRepoConfigs(config)  # each repository's .prowlet.yaml, by commit
        # Told (command name, "done" | "refused" | "failed") once per command run (metrics).
        self.on_command: Callable[[str, str], None] = lambda name, outcome: None
        self.audit = AuditTrail(state) if state is not None else None  # every command, for the dashboard
        self.publish: Callable[[object], Awaitable[None]] | None = None  # the outcome bus (CommandFailed ...)
        # The merge controller's read-only verdict on a PR/MR, for /why; None: no merge automation.
        self.explain_merge: Callable[[str, str, int], Awaitable[Explanation]] | None = None

    async def _ignored(self, event: Event, forge: AsyncForge) -> str | None:
        if self.config.ignore.ignores(event.actor):
            return "ignored user"
        if isinstance(event, RunFinished):
            return None  # the bot started the run itself (an alias's workflow or pipeline): its end matters
        try:
            if event.actor.lower() == (await forge.whoami()).lower():  # cached by the client
                return "own event"
        except ForgeError as err:
            # Handle the event rather than lose it: the bot's own comments can hold no command
            # (replies neutralise every command-like line), so the check is a saving, not a guard.
            log.warning("cannot tell who the bot is; handling the event anyway", error=str(err))
        return None

    async def handle(self, event: Event, attempt: int = 1) -> None:
        """Handle one event; ``attempt`` > 1 when the queue runs it again (after a crash or a failure)."""
        structlog.contextvars.bind_contextvars(
            delivery=event.delivery_id, forge=event.forge, repo=event.repo, number=event.ref.number
        )
        started = time.monotonic()
        try:
            forge = self.forges.get(event.forge)
            if forge is None:
                log.warning("event for a disabled forge dropped")
                return
            if isinstance(event, CommitCIEvent):
                # CI reporting on a commit, naming no PR: nothing for plugins, news for merge
                # automation — whoever sent it (other replicas' jobs report as the bot).
                for observe in self.observers:
                    await observe(event)
                return
            reason = await self._ignored(event, forge)
            if reason:
                log.debug("event ignored", reason=reason, actor=event.actor)
                return
            repo_config = self.config.for_repo(event.repo)
            invocations = parse_commands(_command_text(event), repo_config.prefix)
            scope = EventScope(event=event, forge=forge, repo_config=repo_config,
                               owners_reader=self.owners_reader, ci=self.ci, invocations=invocations,
                               attempt=attempt, state=self.state, publish=self.publish,
                               explain_merge=self.explain_merge)
            await self.in_repo.apply(scope)  # may lay the repository's own config over scope.repo_config
            for plugin in scope.repo_config.plugins:
                await self._run_plugin(plugin, scope, invocations)
            for observe in self.observers:
                await observe(event)
        finally:
            log.debug("event handled", seconds=round(time.monotonic() - started, 3))
            structlog.contextvars.clear_contextvars()

    async def _run_plugin(self, plugin: Plugin, scope: EventScope, invocations: list[Invocation]) -> None:
        plugin_log = log.bind(plugin=plugin.name)
        ctx = Context(scope, scope.repo_config.options.get(plugin.name), plugin_log)
        started = time.monotonic()
        # Each subscription and each command is isolated: one failure stops nothing else.
        for sub in plugin.subscriptions:
            if isinstance(scope.event, sub.event_types) and sub.when(scope.event):
                await self._guard(ctx, sub.handler(ctx), None)
        for inv in invocations:
            candidates = plugin.commands_named(inv.name)
            if candidates:
                await self._guard(ctx, self._run_command(ctx, candidates, inv), inv)
        plugin_log.debug("plugin done", seconds=round(time.monotonic() - started, 3))

    async def _guard(self, ctx: Context, work: Awaitable[str | None], inv: Invocation | None) -> None:
        """Run ``work``; log a failure, and tell the commenter when their command could not be done."""
        try:
            outcome = await work
        except ForgeError as err:
            if inv is not None:
                await self._counted(ctx, inv, "failed")
            # An expected failure (refusal, outage, rate limit): one line, no traceback.
            ctx.log.warning("forge call failed", error=str(err), error_type=type(err).__name__,
                            command=inv.name if inv else None)
            await self._tell_failure(ctx, inv, _FORGE_FAILURE.get(type(err), "the forge refused a request."))
        except Exception:
            if inv is not None:
                await self._counted(ctx, inv, "failed")
            ctx.log.exception("plugin crashed", command=inv.name if inv else None)
            await self._tell_failure(ctx, inv, "something went wrong on my side; the maintainers can find it in my logs.")
        else:
            if inv is not None:
                await self._counted(ctx, inv, outcome or "done")

    async def _counted(self, ctx: Context, inv: Invocation, outcome: str) -> None:
        """Metrics and the audit trail, once per command run."""
        self.on_command(inv.name, outcome)
        if self.audit is not None:
            await self.audit.record(user=ctx.event.actor, command=inv.name, args=inv.args, forge=ctx.event.forge,
                                    repo=ctx.event.repo, number=ctx.event.ref.number, outcome=outcome)

    async def _tell_failure(self, ctx: Context, inv: Invocation | None, why: str) -> None:
        if inv is None:
            return
        try:
            await ctx.reply(inv, f"I couldn't complete that: {why}")
        except ForgeError as err:  # the forge is refusing comments too; the log has it
            ctx.log.warning("could not report the failure", error=str(err))
        await ctx.announce(CommandFailed, command=inv.name, user=ctx.event.actor, error=why)

    async def _run_command(self, ctx: Context, candidates: list[Command], inv: Invocation) -> str:
        """Returns "done", or "refused" when the command was not run (usage, place or permission)."""
        accepting = [c for c in candidates if c.accepts(inv.args)]
        if not accepting:
            usages = " or ".join(code(c.usage) for c in candidates)
            await ctx.reply(inv, f"I didn't understand that. Usage: {usages}.")
            return "refused"
        # The same words may mean different commands on PRs/MRs and on issues (/help).
        command = next((c for c in accepting if ctx.ref.kind in c.on), None)
        if command is None:
            where = f"{ctx.forge.capabilities.pull_noun}s" if ItemKind.PULL in accepting[0].on else "issues"
            await ctx.reply(inv, f"{code('/' + accepting[0].name)} only works on {where}.")
            return "refused"
        rule = ctx.repo_config.rule_for(command.name, command.who)
        denied = await rule.check(ctx, inv)
        if denied:
            ctx.log.info("command refused", command=command.name, actor=ctx.event.actor)
            await ctx.reply(inv, f"you can't use {code('/' + command.name)}: {denied}")
            return "refused"
        ctx.log.info("command", command=command.name, actor=ctx.event.actor)
        await command.handler(ctx, inv)
        return "done"


# What the commenter is told when a forge call fails; the log has the details.
_FORGE_FAILURE: dict[type[ForgeError], str] = {
    RateLimitedError: "I hit the forge's rate limit. Please try again in a few minutes.",
    ForbiddenError: "my account is not allowed to do this here. A maintainer may need to grant me access.",
    ForgeUnavailableError: "the forge did not answer properly. Please try again later.",
    NotFoundError: "the forge could not find something this needs (was it deleted?).",
    InvalidRequestError: "the forge rejected the request.",
}
