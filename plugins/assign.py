"""/assign, /unassign, /cc, /uncc: people responsible for a change, and review requests."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from bot.caps import USERS_PER_COMMAND, capped, over_cap
from bot.commands import Invocation, parse_logins
from bot.context import Context
from bot.events import ItemRef
from bot.permissions import ANYONE
from bot.plugin import PULLS_ONLY, Command, Plugin, arg_pattern
from bot.replies import listing

USERS = arg_pattern(r".*")  # parse_logins names the bad tokens, which says more than a usage line
Adder = Callable[[ItemRef, Sequence[str]], Awaitable[frozenset[str]]]
Remover = Callable[[ItemRef, Sequence[str]], Awaitable[None]]


def _names(logins: Sequence[str]) -> str:
    return listing(logins)


# "@org/team", as Prow's /cc takes it: GitHub team slugs are alphanumerics, '-' and '_'.
TEAM = re.compile(r"@?([A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._-]*)")


async def _targets(ctx: Context, inv: Invocation, teams: bool = False) -> list[str] | None:
    """Users named in the arguments (and, with ``teams``, "org/team" names), or the commenter when
    none are; None when a name is invalid."""
    logins, invalid = parse_logins(inv.args)
    if teams:
        logins += [m.group(1) for token in invalid if (m := TEAM.fullmatch(token))]
        invalid = [token for token in invalid if not TEAM.fullmatch(token)]
    if invalid:
        # Prow's pattern does not match such a line, so it is no command: silence.
        ctx.log.info("not a command: invalid user names", command=inv.name, invalid=invalid)
        return None
    logins, left_out = capped(logins, USERS_PER_COMMAND)
    if left_out:
        ctx.log.info("names over the cap left out", command=inv.name, left_out=len(left_out))
        await ctx.reply(inv, over_cap(left_out, USERS_PER_COMMAND, "users"))
    return logins or [ctx.event.actor]


async def _add(ctx: Context, inv: Invocation, add: Adder, what: str, teams: bool = False) -> None:
    logins = await _targets(ctx, inv, teams)
    if logins is None:
        return
    groups = [login for login in logins if "/" in login]
    if groups and not ctx.forge.capabilities.team_reviews:
        await ctx.reply(inv, f"I can't {what} {_names(groups)}: a {ctx.noun()} has no team reviewers here. "
                             "Name the people instead, e.g. `/cc @alice @bob`.")
        logins = [login for login in logins if login not in groups]
        if not logins:
            return
    refused = await add(ctx.ref, logins)
    if refused:
        people = "users or teams" if teams else "users"
        await ctx.reply(
            inv,
            f"I couldn't {what} {_names(sorted(refused))}: only existing {people} with access to this "
            "repository (collaborators or members) can be added.",
        )


async def _remove(ctx: Context, inv: Invocation, remove: Remover, teams: bool = False) -> None:
    logins = await _targets(ctx, inv, teams)
    if logins is None:
        return
    if not ctx.forge.capabilities.team_reviews:
        logins = [login for login in logins if "/" not in login]
    if logins:
        await remove(ctx.ref, logins)


async def assign(ctx: Context, inv: Invocation) -> None:
    await _add(ctx, inv, ctx.forge.add_assignees, "assign")


async def unassign(ctx: Context, inv: Invocation) -> None:
    await _remove(ctx, inv, ctx.forge.remove_assignees)


async def cc(ctx: Context, inv: Invocation) -> None:
    await _add(ctx, inv, ctx.forge.request_review, "request a review from", teams=True)


async def uncc(ctx: Context, inv: Invocation) -> None:
    await _remove(ctx, inv, ctx.forge.remove_review_request, teams=True)


PLUGIN = Plugin(
    name="assign",
    description="Assigns people and requests reviews.",
    commands=(
        Command("assign", assign, ANYONE, "Assigns the named users, or yourself when none are named.",
                syntax="[@user ...]", args=USERS, examples=("/assign", "/assign @alice @bob")),
        Command("unassign", unassign, ANYONE, "Removes the named users (or yourself) as assignees.",
                syntax="[@user ...]", args=USERS, examples=("/unassign @alice",)),
        Command("cc", cc, ANYONE, "Requests a review from the named users or teams (GitHub), or from yourself.",
                syntax="[@user|@org/team ...]", args=USERS, examples=("/cc @alice", "/cc @acme/reviewers"),
                on=PULLS_ONLY),
        Command("uncc", uncc, ANYONE, "Withdraws the review request from the named users (or yourself).",
                syntax="[@user ...]", args=USERS, examples=("/uncc @alice",), on=PULLS_ONLY),
    ),
)
