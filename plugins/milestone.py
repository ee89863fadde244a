"""/milestone <title> | clear: the configured maintainers set or clear the milestone of a PR/MR or
issue (Prow's milestone plugin)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands import Invocation
from bot.context import Context
from bot.forge.base import Milestone, Permission
from bot.permissions import owner_of
from bot.plugin import Command, Plugin, Rule, arg_pattern
from bot.replies import code

CLEAR = "clear"


@dataclass(frozen=True)
class MilestoneOptions:
    # Who may set milestones (Prow: milestone.maintainers_team).  Teams by slug (GitLab: the subgroup
    # <top-level group>/<team>).  With neither set: repository maintainers (GitLab: Maintainer or higher).
    allowed_users: list[str] = field(default_factory=list)
    allowed_teams: list[str] = field(default_factory=list)


async def _may_set(ctx: Context, inv: Invocation) -> str | None:
    options: MilestoneOptions = ctx.options
    actor = ctx.event.actor
    if not options.allowed_users and not options.allowed_teams:
        if await ctx.permission(actor) >= Permission.MAINTAIN:
            return None
        return "only repository maintainers can set the milestone."
    if actor.lower() in {u.lower() for u in options.allowed_users}:
        return None
    for team in options.allowed_teams:
        if await ctx.forge.is_team_member(owner_of(ctx.event.repo), team, actor):
            return None
    who = [f"the team {code(t)}" for t in options.allowed_teams] + [code(u) for u in options.allowed_users]
    return f"only {', '.join(who)} can set the milestone."


MAINTAINERS = Rule("`milestone.allowed_users` and `allowed_teams` (none set: maintainers)", _may_set)


def find(milestones: list[Milestone], wanted: str) -> Milestone | None:
    """The milestone titled ``wanted``: exactly, else the only one whose title differs in case."""
    exact = [m for m in milestones if m.title == wanted]
    loose = [m for m in milestones if m.title.lower() == wanted.lower()]
    if exact:
        return exact[0]
    return loose[0] if len(loose) == 1 else None


async def milestone(ctx: Context, inv: Invocation) -> None:
    wanted = inv.args.strip()
    if wanted.lower() == CLEAR:
        await ctx.forge.set_milestone(ctx.ref, None)
        return
    milestones = await ctx.forge.list_milestones(ctx.event.repo)
    found = find(milestones, wanted)
    if found is not None:
        await ctx.forge.set_milestone(ctx.ref, found)
        return
    prefix = ctx.repo_config.prefix if ctx.forge.capabilities.consumes_quick_actions else ""
    titles = ", ".join(code(m.title) for m in milestones)
    await ctx.reply(inv, f"The provided milestone is not valid for this repository. Milestones in this repository: "
                         f"[{titles}]\n\nUse `/{prefix}milestone {CLEAR}` to clear the milestone.")


PLUGIN = Plugin(
    name="milestone",
    description="Sets or clears the milestone of a PR/MR or issue, for the configured maintainers.",
    commands=(
        Command("milestone", milestone, MAINTAINERS, "Sets the milestone with this title; the title `clear` clears it.",
                syntax="<title>", args=arg_pattern(r"\S.*"), examples=("/milestone v1.2", "/milestone clear")),
    ),
    options=MilestoneOptions,
)
