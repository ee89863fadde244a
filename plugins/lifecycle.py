"""/close, /reopen, /lifecycle: the state of an issue or change."""

from __future__ import annotations

from bot.commands import Invocation
from bot.context import Context
from bot.permissions import AUTHOR_OR_COLLABORATORS
from bot.plugin import Command, Plugin, arg_pattern

STAGES = ("frozen", "stale", "rotten")
STAGE = arg_pattern("|".join(STAGES))


async def close(ctx: Context, inv: Invocation) -> None:
    await ctx.forge.set_open(ctx.ref, False)


async def reopen(ctx: Context, inv: Invocation) -> None:
    await ctx.forge.set_open(ctx.ref, True)


async def set_stage(ctx: Context, inv: Invocation) -> None:
    stage = inv.args.lower()
    current = (await ctx.item()).labels
    for other in STAGES:  # one lifecycle stage at a time
        if other != stage and f"lifecycle/{other}" in current:
            await ctx.remove_label(f"lifecycle/{other}")
    await ctx.add_labels([f"lifecycle/{stage}"])


async def remove_stage(ctx: Context, inv: Invocation) -> None:
    await ctx.remove_label(f"lifecycle/{inv.args.lower()}")


_STAGE_SYNTAX = "|".join(STAGES)
PLUGIN = Plugin(
    name="lifecycle",
    description="Closes and reopens issues and changes, and marks their lifecycle stage.",
    commands=(
        Command("close", close, AUTHOR_OR_COLLABORATORS, "Closes the issue or change.", examples=("/close",)),
        Command("reopen", reopen, AUTHOR_OR_COLLABORATORS, "Reopens the issue or change.", examples=("/reopen",)),
        Command("lifecycle", set_stage, AUTHOR_OR_COLLABORATORS, "Sets the lifecycle/<stage> label (one at a time).",
                syntax=_STAGE_SYNTAX, args=STAGE, examples=("/lifecycle frozen",)),
        Command("remove-lifecycle", remove_stage, AUTHOR_OR_COLLABORATORS, "Removes a lifecycle/<stage> label.",
                syntax=_STAGE_SYNTAX, args=STAGE, examples=("/remove-lifecycle stale",)),
    ),
)
