"""/shrug and /unshrug: an example third-party prowlet plugin (see README.md)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.api import (
    ANYONE,
    AUTHOR_OR_COLLABORATORS,
    BOTH_KINDS,
    Command,
    Invocation,
    Plugin,
    PluginContext,
)


@dataclass(frozen=True)
class ShrugOptions:
    label: str = "shrug"  # the label /shrug adds and /unshrug removes
    message: str = "¯\\\\\\_(ツ)\\_/¯"  # the answer to /shrug (Markdown: the backslashes are escaped)


async def shrug(ctx: PluginContext, inv: Invocation) -> None:
    options: ShrugOptions = ctx.options
    await ctx.set_label(options.label, True)  # no write when it is already there
    await ctx.reply(inv, options.message)  # posted once, even if the event is handled again


async def unshrug(ctx: PluginContext, inv: Invocation) -> None:
    await ctx.set_label(ctx.options.label, False)


PLUGIN = Plugin(
    name="shrug",
    description="Shrugs: adds or removes a label and says so.",
    commands=(
        Command("shrug", shrug, ANYONE, "Adds the `shrug.label` label (default: shrug) and shrugs back.",
                examples=("/shrug",), on=BOTH_KINDS),
        Command("unshrug", unshrug, AUTHOR_OR_COLLABORATORS, "Removes the `shrug.label` label.",
                examples=("/unshrug",), on=BOTH_KINDS),
    ),
    options=ShrugOptions,
    default=False,  # opt-in: name it in plugins.enabled
    requires_api=">=1,<2",
)
