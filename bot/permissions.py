"""The declared permission rules commands choose from; the dispatcher enforces them."""

from __future__ import annotations

from bot.commands import Invocation, parse_logins
from bot.context import Context
from bot.forge.base import Permission
from bot.plugin import Rule

COLLABORATOR_LEVEL = Permission.WRITE


async def _anyone(ctx: Context, inv: Invocation) -> str | None:
    return None


async def _collaborator(ctx: Context, inv: Invocation) -> str | None:
    if await ctx.permission(ctx.event.actor) >= COLLABORATOR_LEVEL:
        return None
    return "only collaborators with write access to this repository may use it."


async def _author_or_collaborator(ctx: Context, inv: Invocation) -> str | None:
    if await ctx.is_author(ctx.event.actor):
        return None
    if await ctx.permission(ctx.event.actor) >= COLLABORATOR_LEVEL:
        return None
    return f"only the author of this {ctx.noun()} or a collaborator may use it."


async def _self_or_collaborator(ctx: Context, inv: Invocation) -> str | None:
    logins, _ = parse_logins(inv.args)
    if all(login.lower() == ctx.event.actor.lower() for login in logins):
        return None  # no users named, or only yourself
    if await ctx.permission(ctx.event.actor) >= COLLABORATOR_LEVEL:
        return None
    return "only collaborators may name other users; you may always name yourself."


COLLAB_NOTE = "(GitLab: Developer or higher)"

ANYONE = Rule("anyone", _anyone)
COLLABORATORS = Rule(f"collaborators {COLLAB_NOTE}", _collaborator)
AUTHOR_OR_COLLABORATORS = Rule(f"the author or collaborators {COLLAB_NOTE}", _author_or_collaborator)
SELF_OR_COLLABORATORS = Rule(
    f"anyone for themselves; collaborators {COLLAB_NOTE} for others", _self_or_collaborator
)
