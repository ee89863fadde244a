"""Blunderbuss: request reviews from the OWNERS reviewers of the changed files (Prow's blunderbuss)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import Invocation, parse_commands
from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.owners import OwnersError, suggest_reviewers
from bot.permissions import ANYONE
from bot.plugin import PULLS_ONLY, Command, Plugin, Subscription
from bot.replies import code


@dataclass(frozen=True)
class BlunderbussOptions:
    request_count: int = 2  # reviewers requested per PR, besides OWNERS' required_reviewers

    def check(self) -> list[tuple[str, str]]:
        return [] if 0 <= self.request_count <= 10 else [("request_count", "must be between 0 and 10")]


async def _request(ctx: Context, inv: Invocation | None) -> None:
    item = await ctx.item()
    author = (item.author or "").lower()
    try:
        index = await ctx.owners()
    except OwnersError as err:
        if inv:
            await ctx.reply(inv, f"I can't pick reviewers: the OWNERS file {code(err.path)} is invalid: {err.message}")
        return
    paths = await ctx.changed_paths()
    required = sorted(index.required_reviewers_for(paths) - {author})
    picks = suggest_reviewers(index, paths, author, ctx.options.request_count, seed=ctx.ref.number, exclude=required)
    wanted = required + picks
    if not wanted:
        if inv:
            await ctx.reply(inv, "the OWNERS files of the changed files name no reviewers I could request.")
        return
    refused = await ctx.forge.request_review(ctx.ref, wanted)
    if refused:
        ctx.log.info("review requests refused", refused=sorted(refused))
        if inv:
            await ctx.reply(inv, f"I couldn't request reviews from {', '.join(code(r) for r in sorted(refused))}.")


def _should_run(event: ItemEvent) -> bool:
    return event.action in (ItemAction.OPENED, ItemAction.READY_FOR_REVIEW) and event.item.is_pull


async def on_ready(ctx: Context) -> None:
    item = await ctx.item()
    if item.draft:
        return
    # The author asked for particular reviewers already.
    if ctx.event.action is ItemAction.OPENED and any(
        inv.name == "cc" for inv in parse_commands(item.body, ctx.repo_config.prefix)
    ):
        return
    await _request(ctx, None)


async def auto_cc(ctx: Context, inv: Invocation) -> None:
    if (await ctx.item()).state != "open":
        return  # Prow: a closed PR gets no reviewers, and no reply
    await _request(ctx, inv)


PLUGIN = Plugin(
    name="blunderbuss",
    description="Requests reviews from OWNERS reviewers when a PR/MR is opened or marked ready for review.",
    commands=(
        Command("auto-cc", auto_cc, ANYONE, "Requests reviews from OWNERS reviewers now.",
                examples=("/auto-cc",), on=PULLS_ONLY),
    ),
    subscriptions=(Subscription(on_ready, (ItemEvent,), _should_run),),
    options=BlunderbussOptions,
)
