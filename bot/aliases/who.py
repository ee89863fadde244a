"""``who:`` of an alias as a permission ``Rule``, built from the declared rules (bot.permissions)."""

from __future__ import annotations

from bot.aliases.settings import WhoSettings
from bot.commands import Invocation
from bot.context import Context
from bot.owners import OwnersError
from bot.owners.parse import norm_login
from bot.permissions import COLLABORATORS, RULES, owner_of
from bot.plugin import Rule


async def in_team(ctx: Context, team: str, login: str) -> bool:
    """``team`` is "org/team", or "team" of the repository's organisation (GitLab: a subgroup)."""
    org, _, slug = team.rpartition("/")
    return await ctx.forge.is_team_member(org or owner_of(ctx.event.repo), slug, login)


async def _owners_role(ctx: Context, role: str, login: str) -> bool:
    try:
        index = await ctx.owners()
        paths = await ctx.changed_paths()
    except OwnersError:
        return False  # OWNERS that cannot be read grant nothing
    if role == "approvers":
        return any(norm_login(login) in index.approvers_for(p) for p in paths)
    return index.is_reviewer_or_approver(login, paths)


def describe(who: WhoSettings) -> str:
    if who.anyone:
        return "anyone"
    parts = []
    if who.rule:
        parts.append(RULES[who.rule].describe)
    if who.owners:
        parts.append(f"OWNERS {who.owners} of the changed files")
    parts += [f"members of team {team}" for team in who.teams]
    parts += [f"@{user}" for user in who.users]
    return ", ".join(parts) or COLLABORATORS.describe


def who_rule(who: WhoSettings) -> Rule:
    """Anyone matching any entry may run the alias; nothing named: collaborators."""
    if who.nobody_named:
        return COLLABORATORS
    text = describe(who)

    async def check(ctx: Context, inv: Invocation) -> str | None:
        actor = ctx.event.actor
        if who.anyone or any(user.lower() == actor.lower() for user in who.users):
            return None
        if who.rule and await RULES[who.rule].check(ctx, inv) is None:
            return None
        for team in who.teams:
            if await in_team(ctx, team, actor):
                return None
        if who.owners and await _owners_role(ctx, who.owners, actor):
            return None
        return f"only {text} may use it."

    return Rule(text, check)
