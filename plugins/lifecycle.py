"""/close, /reopen, /lifecycle: the state of an issue or change (Prow's lifecycle plugin)."""

from __future__ import annotations

from bot.commands import Invocation
from bot.context import Context
from bot.events import ItemKind
from bot.permissions import ANYONE, AUTHOR_OR_COLLABORATORS, COLLAB_NOTE
from bot.plugin import Command, Plugin, Rule, arg_pattern

STAGES = ("active", "frozen", "stale", "rotten")
STAGE = arg_pattern("|".join(STAGES))
INACTIVE = ("lifecycle/stale", "lifecycle/rotten")  # anyone may close an item marked so (Prow)
FROZEN = "lifecycle/frozen"


async def _closer(ctx: Context, inv: Invocation) -> str | None:
    if any(label in INACTIVE for label in (await ctx.item()).labels):
        return None
    if await AUTHOR_OR_COLLABORATORS.check(ctx, inv) is None:
        return None
    return f"you can't close an active {ctx.noun()} unless you authored it or you are a collaborator."


CLOSERS = Rule(f"the author or collaborators {COLLAB_NOTE}; anyone once it is lifecycle/stale or rotten", _closer)


async def close(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    not_planned = inv.args.lower() == "not-planned"
    if not_planned and item.is_pull:
        await ctx.reply(inv, f"{ctx.noun()}s cannot be closed as not planned.".capitalize())
        return
    if item.state != "open":
        return  # already closed (or merged): nothing to do, nothing to say
    await ctx.forge.set_open(ctx.ref, False, not_planned=not_planned)
    if item.is_pull:
        await ctx.reply(inv, f"Closed this {ctx.noun()}.")
    elif not_planned and ctx.forge.capabilities.closes_as_not_planned:
        await ctx.reply(inv, 'Closing this issue, marking it as "Not Planned".')
    elif not_planned:
        await ctx.reply(inv, "Closing this issue (this forge has no \"not planned\" state, so it is closed as usual).")
    else:
        await ctx.reply(inv, "Closing this issue.")


async def reopen(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    if item.state != "closed":
        return  # open already, or merged (a merged change cannot be reopened)
    await ctx.forge.set_open(ctx.ref, True)
    await ctx.reply(inv, f"Reopened this {ctx.noun()}.")


async def set_stage(ctx: Context, inv: Invocation) -> None:
    stage = inv.args.lower()
    label = f"lifecycle/{stage}"
    if label == FROZEN and ctx.ref.kind is ItemKind.PULL:
        await ctx.reply(inv, f"The `{FROZEN}` label cannot be applied to {ctx.noun()}s.")
        return
    current = (await ctx.item()).labels
    if label in current:
        return
    for other in STAGES:  # one lifecycle stage at a time
        if other != stage and f"lifecycle/{other}" in current:
            await ctx.remove_label(f"lifecycle/{other}")
    await ctx.add_labels([label])


async def remove_stage(ctx: Context, inv: Invocation) -> None:
    label = f"lifecycle/{inv.args.lower()}"
    if label in (await ctx.item()).labels:
        await ctx.remove_label(label)


_STAGE_SYNTAX = "|".join(STAGES)
PLUGIN = Plugin(
    name="lifecycle",
    description="Closes and reopens issues and changes, and marks their lifecycle stage.",
    commands=(
        Command("close", close, CLOSERS, "Closes the issue or change, and says so.", examples=("/close",)),
        Command("close", close, CLOSERS, "Closes an issue as not planned (GitLab: closes it).",
                syntax="not-planned", args=arg_pattern("not-planned"), examples=("/close not-planned",)),
        Command("reopen", reopen, AUTHOR_OR_COLLABORATORS, "Reopens the issue or change, and says so.",
                examples=("/reopen",)),
        Command("lifecycle", set_stage, ANYONE, "Sets the lifecycle/<stage> label (one at a time; "
                "frozen: issues only).", syntax=_STAGE_SYNTAX, args=STAGE, examples=("/lifecycle frozen",)),
        Command("remove-lifecycle", remove_stage, ANYONE, "Removes a lifecycle/<stage> label.",
                syntax=_STAGE_SYNTAX, args=STAGE, examples=("/remove-lifecycle stale",)),
    ),
)
