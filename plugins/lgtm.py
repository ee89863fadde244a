"""/lgtm: a reviewer says the change looks good; new commits take it back."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import Invocation
from bot.context import Context
from bot.events import ItemAction, ItemEvent, ReviewEvent, ReviewState
from bot.owners import OwnersError
from bot.permissions import AUTHOR_OR_COLLABORATORS, COLLABORATORS, owner_of
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, Subscription, arg_pattern

LABEL = "lgtm"


@dataclass(frozen=True)
class LgtmOptions:
    remove_on_new_commits: bool = True  # Prow's behaviour: a new head needs a new review
    # With OWNERS files covering the change, only their reviewers and approvers may /lgtm;
    # true lets any collaborator, as in repositories without OWNERS.
    allow_any_collaborator: bool = False
    # Prow's review_acts_as_lgtm: a review "Approve" (GitLab: an approval) adds lgtm as /lgtm would,
    # and "Request changes" (GitLab: revoking an approval) removes it as /lgtm cancel would.
    review_acts_as_lgtm: bool = False
    # Prow's store_tree_hash: new commits that leave the files exactly as they were (a rebase onto
    # an unchanged base, a squash, a reworded message) keep lgtm.  prowlet stores nothing: it
    # compares the tree before the push with the tree after it.
    store_tree_hash: bool = False
    # Prow's trusted_team_for_sticky_lgtm: new commits by an author in this team of the
    # repository's organisation (GitLab: the subgroup <top-level group>/<team>) never remove lgtm.
    trusted_team_for_sticky_lgtm: str = ""


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
    if LABEL in (await ctx.item()).labels and not await _sticky(ctx):
        await ctx.remove_label(LABEL)
        await ctx.note(f"New commits were pushed, so I removed the `{LABEL}` label. A reviewer can `/lgtm` again.")


async def _sticky(ctx: Context) -> bool:
    """Whether lgtm survives this push: the author is in the trusted team, or (with
    store_tree_hash) the push left every file as it was."""
    event = ctx.event
    assert isinstance(event, ItemEvent)
    team = ctx.options.trusted_team_for_sticky_lgtm.strip()
    if team and await ctx.forge.is_team_member(owner_of(event.repo), team, await ctx.author()):
        ctx.log.info("lgtm kept: the author is in the trusted team", team=team)
        return True
    if ctx.options.store_tree_hash and event.before_sha:
        head = event.item.head_sha or (await ctx.item()).head_sha
        # The label is only ever on a change whose every tree-changing push removed it, so the
        # tree before this push is the tree that was reviewed.
        if head and await ctx.forge.same_tree(event.repo, event.before_sha, head):
            ctx.log.info("lgtm kept: the push left the tree as it was", before=event.before_sha, head=head)
            return True
    return False


_AS_LGTM = Invocation("lgtm", "", "/lgtm")
_AS_CANCEL = Invocation("lgtm", "cancel", "/lgtm cancel")


async def on_review(ctx: Context) -> None:
    """Prow's review_acts_as_lgtm: a review's verdict is a /lgtm or /lgtm cancel, under the same
    rules; a review whose body already says /lgtm or /lgtm cancel is left to that command."""
    event = ctx.event
    assert isinstance(event, ReviewEvent)
    if not ctx.options.review_acts_as_lgtm or any(i.name in ("lgtm", "remove-lgtm") for i in ctx.invocations):
        return
    wants = {ReviewState.APPROVED: True, ReviewState.CHANGES_REQUESTED: False, ReviewState.UNAPPROVED: False}
    if event.state not in wants or (await ctx.item()).state != "open":
        return
    inv, declared = (_AS_LGTM, REVIEWERS) if wants[event.state] else (_AS_CANCEL, AUTHOR_OR_COLLABORATORS)
    denied = await ctx.repo_config.rule_for("lgtm", declared).check(ctx, inv)
    if denied:
        verb = "add" if wants[event.state] else "remove"
        await ctx.reply(None, f"your review cannot {verb} `{LABEL}`: {denied}")
    elif wants[event.state]:
        await add(ctx, inv)
    else:
        await cancel(ctx, inv)


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
        Subscription(on_review, (ReviewEvent,), lambda e: e.item.is_pull),
    ),
    options=LgtmOptions,
)
