"""/assign, /unassign, /cc, /uncc: people responsible for a change, and review requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.commands import Invocation, parse_logins
from bot.context import Context
from bot.events import ItemRef
from bot.permissions import COLLABORATORS, SELF_OR_COLLABORATORS
from bot.plugin import PULLS_ONLY, Command, Plugin, arg_pattern
from bot.replies import code

USERS = arg_pattern(r".*")  # parse_logins names the bad tokens, which says more than a usage line
Adder = Callable[[ItemRef, Sequence[str]], Awaitable[frozenset[str]]]
Remover = Callable[[ItemRef, Sequence[str]], Awaitable[None]]


def _names(logins: Sequence[str]) -> str:
    return ", ".join(code(login) for login in logins)


async def _targets(ctx: Context, inv: Invocation) -> list[str] | None:
    """Users named in the arguments, or the commenter when none are; None after a reply on bad names."""
    logins, invalid = parse_logins(inv.args)
    if invalid:
        await ctx.reply(inv, f"these are not valid user names: {_names(invalid)}.")
        return None
    return logins or [ctx.event.actor]


async def _add(ctx: Context, inv: Invocation, add: Adder, what: str) -> None:
    logins = await _targets(ctx, inv)
    if logins is None:
        return
    refused = await add(ctx.ref, logins)
    if refused:
        await ctx.reply(
            inv,
            f"I couldn't {what} {_names(sorted(refused))}: only existing users with access to this "
            "repository (collaborators or members) can be added.",
        )


async def _remove(ctx: Context, inv: Invocation, remove: Remover) -> None:
    logins = await _targets(ctx, inv)
    if logins is not None:
        await remove(ctx.ref, logins)


async def assign(ctx: Context, inv: Invocation) -> None:
    await _add(ctx, inv, ctx.forge.add_assignees, "assign")


async def unassign(ctx: Context, inv: Invocation) -> None:
    await _remove(ctx, inv, ctx.forge.remove_assignees)


async def cc(ctx: Context, inv: Invocation) -> None:
    await _add(ctx, inv, ctx.forge.request_review, "request a review from")


async def uncc(ctx: Context, inv: Invocation) -> None:
    await _remove(ctx, inv, ctx.forge.remove_review_request)


PLUGIN = Plugin(
    name="assign",
    description="Assigns people and requests reviews.",
    commands=(
        Command("assign", assign, SELF_OR_COLLABORATORS, "Assigns the named users, or yourself when none are named.",
                syntax="[@user ...]", args=USERS, examples=("/assign", "/assign @alice @bob")),
        Command("unassign", unassign, SELF_OR_COLLABORATORS, "Removes the named users (or yourself) as assignees.",
                syntax="[@user ...]", args=USERS, examples=("/unassign @alice",)),
        Command("cc", cc, COLLABORATORS, "Requests a review from the named users, or from yourself.",
                syntax="[@user ...]", args=USERS, examples=("/cc @alice",), on=PULLS_ONLY),
        Command("uncc", uncc, COLLABORATORS, "Withdraws the review request from the named users (or yourself).",
                syntax="[@user ...]", args=USERS, examples=("/uncc @alice",), on=PULLS_ONLY),
    ),
)
