"""/hold: keep a change from merging until someone lifts the hold."""

from __future__ import annotations

from bot.commands import Invocation
from bot.context import Context
from bot.outcomes import HoldPlaced
from bot.permissions import ANYONE
from bot.plugin import PULLS_ONLY, Command, Plugin, arg_pattern

LABEL = "do-not-merge/hold"


async def hold(ctx: Context, inv: Invocation) -> None:
    await ctx.add_labels([LABEL])
    await ctx.announce(HoldPlaced, by=ctx.event.actor, reason=inv.args)


async def unhold(ctx: Context, inv: Invocation) -> None:
    await ctx.remove_label(LABEL)


_UNHOLD_HELP = f"Removes the {LABEL} label."
PLUGIN = Plugin(
    name="hold",
    description=f"Adds or removes the {LABEL} label, which keeps a change from merging.",
    commands=(
        # Checked in order: "cancel" first, so a reason cannot start with the word cancel.
        Command("hold", unhold, ANYONE, _UNHOLD_HELP, syntax="cancel [reason]", args=arg_pattern(r"cancel(\s.*)?"),
                examples=("/hold cancel", "/hold cancel tests pass now"), on=PULLS_ONLY),
        Command("hold", hold, ANYONE, f"Adds the {LABEL} label; a reason may follow.", syntax="[reason]",
                args=arg_pattern(r".*"), examples=("/hold", "/hold needs more tests"), on=PULLS_ONLY),
        Command("unhold", unhold, ANYONE, _UNHOLD_HELP, examples=("/unhold",), on=PULLS_ONLY),
        Command("remove-hold", unhold, ANYONE, _UNHOLD_HELP, examples=("/remove-hold",), on=PULLS_ONLY),
    ),
)
