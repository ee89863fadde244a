"""/help: the commands enabled in this repository, generated from the plugins' declarations."""

from __future__ import annotations

from bot.commands import Invocation
from bot.context import Context
from bot.help import help_message
from bot.permissions import ANYONE
from bot.plugin import Command, Plugin


async def show_help(ctx: Context, inv: Invocation) -> None:
    message = help_message(
        ctx.repo_config.plugins, ctx.repo_config.prefix, ctx.forge.capabilities.consumes_quick_actions,
        ctx.repo_config.who,
    )
    await ctx.reply(inv, message)


PLUGIN = Plugin(
    name="help",
    description="Lists the commands enabled in the repository.",
    commands=(
        Command("help", show_help, ANYONE, "Lists the commands enabled here, who may use them, and examples.",
                examples=("/help",)),
    ),
)
