"""override: /override <context> marks a failing status as passed (Prow's override plugin), for
repository administrators and the users the config names."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands import Invocation
from bot.context import Context
from bot.forge.base import CommitStatus, Permission, StatusState
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, arg_pattern
from bot.replies import code


@dataclass(frozen=True)
class OverrideOptions:
    allowed_users: list[str] = field(default_factory=list)  # besides administrators (GitLab: Owners)


async def _may_override(ctx: Context, inv: Invocation) -> str | None:
    if ctx.event.actor.lower() in {u.lower() for u in ctx.options.allowed_users}:
        return None
    if await ctx.permission(ctx.event.actor) >= Permission.ADMIN:
        return None
    return "only repository administrators and the users `override.allowed_users` names can override statuses."


OVERRIDERS = Rule("administrators (GitHub: admin; GitLab: Owner) and `override.allowed_users`", _may_override)


async def override(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    if item.state != "open" or not item.head_sha:
        return
    wanted = list(dict.fromkeys(inv.args.split()))
    statuses = {s.context.lower(): s for s in await ctx.forge.list_statuses(ctx.event.repo, item.head_sha)}
    unknown = [c for c in wanted if c.lower() not in statuses]
    if unknown:
        # Prow refuses the whole command when a context is unknown: a typo must not half-apply.
        known = ", ".join(code(s.context) for s in statuses.values()) or "none"
        await ctx.reply(inv, f"these contexts are not on the current commit: {', '.join(code(c) for c in unknown)}. "
                             f"Known contexts: {known}.")
        return
    for context in wanted:
        status = statuses[context.lower()]
        if status.state is StatusState.SUCCESS:
            continue
        await ctx.forge.set_status(ctx.event.repo, item.head_sha, CommitStatus(
            status.context, StatusState.SUCCESS, f"Overridden by {ctx.event.actor}", status.target_url))


PLUGIN = Plugin(
    name="override",
    description="Lets administrators mark failing statuses as passed.",
    commands=(
        Command("override", override, OVERRIDERS, "Marks the named statuses of the current commit as passed.",
                syntax="context ...", args=arg_pattern(r"\S+(\s+\S+)*"), examples=("/override e2e",),
                on=PULLS_ONLY),
    ),
    options=OverrideOptions,
)
