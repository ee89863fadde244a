"""/cherrypick <branch>: once a PR/MR is merged (at once if it is already), put its commits on top
of <branch> in a new branch ``cherry-pick-<number>-to-<branch>`` and open a PR/MR onto <branch> from
it, or say which files conflict (Prow's cherrypicker external plugin, run in-process).

A request on an unmerged PR/MR is not stored anywhere: the comment is the record.  When the PR/MR
merges, its description and comments are read again for requests by people allowed to make them,
as Prow does; a comment deleted before the merge withdraws its request.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import cherrypick
from bot.commands import Invocation, parse_commands
from bot.context import Context
from bot.events import Item, ItemAction, ItemEvent, ItemKind, ItemRef
from bot.forge.base import NotFoundError
from bot.permissions import is_org_member, owner_of
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, Subscription, arg_pattern
from bot.replies import code

NAMES = ("cherrypick", "cherry-pick")


@dataclass(frozen=True)
class CherrypickOptions:
    # Anyone may ask for cherry-picks (Prow: --allow-all); off: organisation / top-level group
    # members and collaborators only.
    allow_all: bool = False


async def _allowed(ctx: Context, login: str) -> bool:
    return ctx.options.allow_all or await is_org_member(ctx, login)


async def _may_request(ctx: Context, inv: Invocation) -> str | None:
    if await _allowed(ctx, ctx.event.actor):
        return None
    org = owner_of(ctx.event.repo)
    return (f"only {code(org)} org members may request cherry picks. If you are already part of the org, make "
            f"sure your membership is visible. Otherwise you can still do the cherry-pick manually.")


MEMBERS_OR_ALL = Rule("organisation / top-level group members and collaborators (`cherrypick.allow_all`: anyone)",
                      _may_request)


def title_for(title: str, base: str, target: str) -> str:
    """Prow's title: ``[<target>] `` before the original's, less a ``[<base>] `` it had (a backport
    of a backport does not grow)."""
    return f"[{target}] " + title.replace(f"[{base}] ", "", 1)


async def _branch_exists(ctx: Context, branch: str) -> bool:
    try:
        await ctx.forge.branch_sha(ctx.event.repo, branch)
    except NotFoundError:
        return False
    return True


async def _say(ctx: Context, inv: Invocation | None, requester: str, message: str) -> None:
    if inv is not None:
        await ctx.reply(inv, message)
    else:
        await ctx.note(f"@{requester}: {message}")


async def _pick_and_open(ctx: Context, item: Item, target: str, requester: str, inv: Invocation | None) -> None:
    noun = ctx.noun()
    if not await _branch_exists(ctx, target):
        await _say(ctx, inv, requester, f"cannot checkout {code(target)}: there is no such branch.")
        return
    branch = cherrypick.branch_name(item.ref.number, target)
    source = await ctx.forge.git_source(item.ref)
    try:
        await cherrypick.pick(source, item.base_ref or "", target, branch)
    except cherrypick.Conflict as conflict:
        files = "\n".join(conflict.files)
        await _say(ctx, inv, requester, f"this {noun} failed to apply on top of branch {code(target)}; "
                                        f"these files conflict:\n```\n{files}\n```")
        return
    except cherrypick.PickFailed as failed:
        await _say(ctx, inv, requester, f"this {noun} could not be cherry-picked onto {code(target)}: {failed}.")
        return
    body = f"This is an automated cherry-pick of {item.url or item.ref}, requested by @{requester}."
    number = await ctx.forge.create_pull(item.ref.repo, branch, target, title_for(item.title, item.base_ref or "", target),
                                         body)
    created = ItemRef(item.ref.repo, number, ItemKind.PULL)
    await ctx.forge.add_assignees(created, [requester])  # may fail quietly (returns who could not be assigned)
    # Asked again, create_pull finds the open one: the answer links to it again.
    url = (await ctx.forge.get_item(created)).url or str(created)
    await _say(ctx, inv, requester, f"new {noun} created: {url}")


async def cherrypick_command(ctx: Context, inv: Invocation) -> None:
    target = inv.args.split()[0]
    item = await ctx.item(refresh=True)
    noun = ctx.noun()
    if target == item.base_ref:
        await ctx.reply(inv, f"I cannot cherry-pick the present {noun} on top of its base branch ({code(target)}).")
    elif item.state == "merged":
        await _pick_and_open(ctx, item, target, ctx.event.actor, inv)
    elif item.state != "open":
        await ctx.reply(inv, f"cannot cherry-pick an unmerged {noun}")
    elif not await _branch_exists(ctx, target):
        await ctx.reply(inv, f"cannot cherry-pick onto {code(target)}: there is no such branch.")
    else:
        await ctx.reply(inv, f"once the present {noun} merges, I will cherry-pick it on top of {code(target)} "
                             f"in a new {noun} and assign it to you.")


async def _requests(ctx: Context, item: Item) -> list[tuple[str, str]]:
    """(requester, target branch) from the description and comments, first request per branch."""
    bot = (await ctx.forge.whoami()).lower()
    texts = [(item.author or "", item.body)]
    texts += [(c.author, c.body) for c in await ctx.forge.list_comments(item.ref) if c.author.lower() != bot]
    found: dict[str, str] = {}
    for author, body in texts:
        for inv in parse_commands(body, ctx.repo_config.prefix):
            words = inv.args.split()
            if inv.name in NAMES and words and words[0] not in found and words[0] != item.base_ref:
                if await _allowed(ctx, author):
                    found[words[0]] = author
    return [(requester, target) for target, requester in found.items()]


async def on_merged(ctx: Context) -> None:
    item = await ctx.item()
    for requester, target in await _requests(ctx, item):
        await _pick_and_open(ctx, item, target, requester, None)


PLUGIN = Plugin(
    name="cherrypick",
    description=("Cherry-picks a merged PR/MR onto other branches: opens a PR/MR from "
                 "`cherry-pick-<number>-to-<branch>` with its commits, or names the conflicting files."),
    commands=tuple(
        Command(name, cherrypick_command, MEMBERS_OR_ALL,
                "Once the PR/MR merges (at once if it has), opens a PR/MR with its commits onto this branch.",
                syntax="<branch>", args=arg_pattern(r"\S+"), examples=(f"/{name} release-1.2",), on=PULLS_ONLY)
        for name in NAMES
    ),
    subscriptions=(Subscription(on_merged, (ItemEvent,), lambda e: e.action is ItemAction.MERGED),),
    options=CherrypickOptions,
    default=False,
)
