"""/lgtm: a reviewer says the change looks good; new commits take it back."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import Invocation
from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.owners import OwnersError
from bot.permissions import AUTHOR_OR_COLLABORATORS, COLLABORATORS
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, Subscription, arg_pattern

LABEL = "lgtm"


@dataclass(frozen=True)
class LgtmOptions:
    remove_on_new_commits: bool = True  # Prow's behaviour: a new head needs a new review
    # With OWNERS files covering the change, only their reviewers and approvers may /lgtm;
    # true lets any collaborator, as in repositories without OWNERS.
    allow_any_collaborator: bool = False


async def _reviewer_check(ctx: Context, inv: Invocation) -> str | None:
    if await ctx.is_author(ctx.event.actor):
        return f"you cannot LGTM your own {ctx.noun()}."
    if not ctx.options.allow_any_collaborator:
        try:
            index = await ctx.owners()
        except OwnersError:
            index = None  # approve's status comment explains; judge by repository access meanwhile
        paths = await ctx.changed_paths() if index is not None else []
        if index is not None and index.has_owners(paths):
            if index.is_reviewer_or_approver(ctx.event.actor, paths):
                return None
            return "only reviewers and approvers listed in the OWNERS files of the changed files may use it."
    return await COLLABORATORS.check(ctx, inv)


REVIEWERS = Rule(
    "reviewers and approvers from OWNERS of the changed files (no OWNERS: collaborators), except the author",
    _reviewer_check,
)


async def add(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    # Prow assigns a reviewer who is not an assignee yet: the assignees show who reviewed.
    if ctx.event.actor.lower() not in {a.lower() for a in item.assignees}:
        refused = await ctx.forge.add_assignees(ctx.ref, [ctx.event.actor])
        if refused:
            ctx.log.info("lgtm: the reviewer could not be assigned", actor=ctx.event.actor)
    if LABEL not in item.labels:
        await ctx.add_labels([LABEL])


async def cancel(ctx: Context, inv: Invocation) -> None:
    await ctx.remove_label(LABEL)


async def on_new_commits(ctx: Context) -> None:
    if not ctx.options.remove_on_new_commits:
        return
    if LABEL in (await ctx.item()).labels:
        await ctx.remove_label(LABEL)
        await ctx.note(f"New commits were pushed, so I removed the `{LABEL}` label. A reviewer can `/lgtm` again.")


_CANCEL_HELP = "Removes the lgtm label."
PLUGIN = Plugin(
    name="lgtm",
    description="Adds the lgtm label when a reviewer approves the change; removes it on new commits.",
    commands=(
        Command("lgtm", add, REVIEWERS, "Adds the lgtm label and assigns you if you are not yet an assignee.",
                syntax="[no-issue]", args=arg_pattern("(no-issue)?"), examples=("/lgtm",), on=PULLS_ONLY),
        Command("lgtm", cancel, AUTHOR_OR_COLLABORATORS, _CANCEL_HELP, syntax="cancel",
                args=arg_pattern("cancel"), examples=("/lgtm cancel",), on=PULLS_ONLY),
        Command("remove-lgtm", cancel, AUTHOR_OR_COLLABORATORS, _CANCEL_HELP, examples=("/remove-lgtm",), on=PULLS_ONLY),
    ),
    subscriptions=(
        Subscription(on_new_commits, (ItemEvent,), lambda e: e.action is ItemAction.NEW_COMMITS),
    ),
    options=LgtmOptions,
)
