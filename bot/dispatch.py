"""From a neutral event to plugin handlers: parse once, check permissions, isolate each plugin."""

from __future__ import annotations

import time
from collections.abc import Mapping

import structlog

from bot.commands import Invocation, parse_commands
from bot.config import Config
from bot.context import Context, EventScope, LabelCache
from bot.events import CommentEvent, Event, ReviewEvent
from bot.forge.base import ForgeError
from bot.forge.offloop import AsyncForge
from bot.plugin import Command, Plugin
from bot.replies import code

log = structlog.get_logger("prowlet.dispatch")


def _command_text(event: Event) -> str:
    if isinstance(event, (CommentEvent, ReviewEvent)):
        return event.body
    return ""


class Dispatcher:
    def __init__(self, config: Config, forges: Mapping[str, AsyncForge], labels: LabelCache | None = None) -> None:
        self.config = config
        self.forges = dict(forges)
        self.labels = labels or LabelCache()
        self._bot_logins: dict[str, str] = {}

    async def _bot_login(self, forge: AsyncForge) -> str:
        if forge.name not in self._bot_logins:
            self._bot_logins[forge.name] = (await forge.whoami()).lower()
        return self._bot_logins[forge.name]

    async def _ignored(self, event: Event, forge: AsyncForge) -> str | None:
        if self.config.ignore.ignores(event.actor):
            return "ignored user"
        if event.actor.lower() == await self._bot_login(forge):
            return "own event"
        return None

    async def handle(self, event: Event) -> None:
        structlog.contextvars.bind_contextvars(
            delivery=event.delivery_id, forge=event.forge, repo=event.repo, number=event.ref.number
        )
        started = time.monotonic()
        try:
            forge = self.forges.get(event.forge)
            if forge is None:
                log.warning("event for a disabled forge dropped")
                return
            try:
                reason = await self._ignored(event, forge)
            except ForgeError as err:
                log.error("cannot tell who the bot is; event not handled", error=str(err))
                return
            if reason:
                log.debug("event ignored", reason=reason, actor=event.actor)
                return
            repo_config = self.config.for_repo(event.repo)
            scope = EventScope(event=event, forge=forge, repo_config=repo_config, labels=self.labels)
            invocations = parse_commands(_command_text(event), repo_config.prefix)
            for plugin in repo_config.plugins:
                await self._run_plugin(plugin, scope, invocations)
        finally:
            log.debug("event handled", seconds=round(time.monotonic() - started, 3))
            structlog.contextvars.clear_contextvars()

    async def _run_plugin(self, plugin: Plugin, scope: EventScope, invocations: list[Invocation]) -> None:
        plugin_log = log.bind(plugin=plugin.name)
        ctx = Context(scope, scope.repo_config.options.get(plugin.name), plugin_log)
        started = time.monotonic()
        try:
            for sub in plugin.subscriptions:
                if isinstance(scope.event, sub.event_types) and sub.when(scope.event):
                    await sub.handler(ctx)
            for inv in invocations:
                candidates = plugin.commands_named(inv.name)
                if candidates:
                    await self._run_command(ctx, candidates, inv)
        except ForgeError as err:
            # A forge refusal is an expected failure: log it once, without a traceback.
            plugin_log.warning("plugin failed on a forge call", error=str(err), error_type=type(err).__name__)
        except Exception:
            plugin_log.exception("plugin crashed")
        finally:
            plugin_log.debug("plugin done", seconds=round(time.monotonic() - started, 3))

    async def _run_command(self, ctx: Context, candidates: list[Command], inv: Invocation) -> None:
        command = next((c for c in candidates if c.accepts(inv.args)), None)
        if command is None:
            usages = " or ".join(code(c.usage) for c in candidates)
            await ctx.reply(inv, f"I didn't understand that. Usage: {usages}.")
            return
        if ctx.ref.kind not in command.on:
            await ctx.reply(inv, f"{code('/' + command.name)} only works on {ctx.forge.capabilities.pull_noun}s.")
            return
        denied = await command.who.check(ctx, inv)
        if denied:
            ctx.log.info("command refused", command=command.name, actor=ctx.event.actor)
            await ctx.reply(inv, f"you can't use {code('/' + command.name)}: {denied}")
            return
        ctx.log.info("command", command=command.name, actor=ctx.event.actor)
        await command.handler(ctx, inv)
