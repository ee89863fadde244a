"""The declared permission rules commands choose from; the dispatcher enforces them.

Each command declares Prow's rule for it; ``commands.who`` (and ``repos[].who``) in the config
replace a command's rule by one of ``RULES`` by name, so a company can tighten (or loosen) it.
"""

from __future__ import annotations

from bot.commands import Invocation, parse_logins
from bot.context import Context
from bot.forge.base import Permission
from bot.forge.drivers import DRIVERS
from bot.plugin import Rule

COLLABORATOR_LEVEL = Permission.WRITE


def forge_words(rule: str) -> str:
    """What ``rule`` means on each forge that has its own words for it: "GitHub: admin; GitLab: Owner"."""
    return "; ".join(f"{d.display_name}: {d.roles[rule]}" for d in DRIVERS if rule in d.roles)


COLLAB_NOTE = f"({forge_words('collaborators')})"  # "(GitLab: Developer or higher)"


async def _anyone(ctx: Context, inv: Invocation) -> str | None:
    return None


async def _nobody(ctx: Context, inv: Invocation) -> str | None:
    return "it is turned off in this repository."


async def _at_least(ctx: Context, level: Permission) -> bool:
    return await ctx.permission(ctx.event.actor) >= level


async def _collaborator(ctx: Context, inv: Invocation) -> str | None:
    if await _at_least(ctx, COLLABORATOR_LEVEL):
        return None
    return "only collaborators with write access to this repository may use it."


async def _maintainer(ctx: Context, inv: Invocation) -> str | None:
    if await _at_least(ctx, Permission.MAINTAIN):
        return None
    return "only maintainers of this repository may use it."


async def _admin(ctx: Context, inv: Invocation) -> str | None:
    if await _at_least(ctx, Permission.ADMIN):
        return None
    return "only administrators of this repository may use it."


async def _author(ctx: Context, inv: Invocation) -> str | None:
    if await ctx.is_author(ctx.event.actor):
        return None
    return f"only the author of this {ctx.noun()} may use it."


async def _author_or_collaborator(ctx: Context, inv: Invocation) -> str | None:
    if await ctx.is_author(ctx.event.actor) or await _at_least(ctx, COLLABORATOR_LEVEL):
        return None
    return f"only the author of this {ctx.noun()} or a collaborator may use it."


async def _self_or_collaborator(ctx: Context, inv: Invocation) -> str | None:
    logins, _ = parse_logins(inv.args)
    if all(login.lower() == ctx.event.actor.lower() for login in logins):
        return None  # no users named, or only yourself
    if await _at_least(ctx, COLLABORATOR_LEVEL):
        return None
    return "only collaborators may name other users; you may always name yourself."


def owner_of(repo: str) -> str:
    """The organisation (GitHub) or top-level group (GitLab) a repository belongs to."""
    return repo.split("/", 1)[0]


async def is_org_member(ctx: Context, login: str) -> bool:
    """Member of the repository's organisation / top-level group, or a collaborator."""
    if await ctx.permission(login) >= COLLABORATOR_LEVEL:
        return True
    return await ctx.forge.is_org_member(owner_of(ctx.event.repo), login)


async def _org_member(ctx: Context, inv: Invocation) -> str | None:
    if await is_org_member(ctx, ctx.event.actor):
        return None
    return f"only members of the {owner_of(ctx.event.repo)} organisation may use it."


ANYONE = Rule("anyone", _anyone)
NOBODY = Rule("nobody (turned off here)", _nobody)
AUTHOR = Rule("the author", _author)
COLLABORATORS = Rule(f"collaborators {COLLAB_NOTE}", _collaborator)
MAINTAINERS = Rule(f"maintainers ({forge_words('maintainers')})", _maintainer)
ADMINS = Rule(f"administrators ({forge_words('admins')})", _admin)
ORG_MEMBERS = Rule(f"organisation / top-level group members and collaborators {COLLAB_NOTE}", _org_member)
AUTHOR_OR_COLLABORATORS = Rule(f"the author or collaborators {COLLAB_NOTE}", _author_or_collaborator)
SELF_OR_COLLABORATORS = Rule(
    f"anyone for themselves; collaborators {COLLAB_NOTE} for others", _self_or_collaborator
)

# The names ``commands.who`` accepts.
RULES: dict[str, Rule] = {
    "anyone": ANYONE,
    "nobody": NOBODY,
    "author": AUTHOR,
    "collaborators": COLLABORATORS,
    "author-or-collaborators": AUTHOR_OR_COLLABORATORS,
    "self-or-collaborators": SELF_OR_COLLABORATORS,
    "org-members": ORG_MEMBERS,
    "maintainers": MAINTAINERS,
    "admins": ADMINS,
}
