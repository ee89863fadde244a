"""A PR that changes the repository's .prowlet.yaml is told what in it would be refused, as
verify-owners does for OWNERS files: one status comment, edited in place, and a commit status."""

from __future__ import annotations

from bot.config import IN_REPO_FILE
from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.forge.base import CommitStatus, StatusState
from bot.inrepo.resolver import STATUS_CONTEXT, summary
from bot.plugin import Plugin, Subscription
from bot.replies import code

MARKER = "<!-- prowlet:verify-config -->"
MAX_LISTED = 30  # problems listed in the comment; a pathological file cannot make it huge
ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.NEW_COMMITS}


async def verify(ctx: Context) -> None:
    in_repo = ctx.in_repo
    if in_repo is None or not await in_repo.changed_by_pull():
        return  # not honoured here, or not touched by this change
    item = await ctx.item()
    if not item.head_sha:
        return
    layer = await in_repo.layer_at(item.head_sha)  # a removed file reads as none: nothing refused
    state = StatusState.FAILURE if layer.problems else StatusState.SUCCESS
    await ctx.forge.set_status(ctx.event.repo, item.head_sha, CommitStatus(STATUS_CONTEXT, state, summary(layer)))
    if layer.problems:
        shown = layer.problems[:MAX_LISTED]
        listing = "\n".join(f"- {code(p.key)}: {p.message}" for p in shown)
        if len(layer.problems) > len(shown):
            listing += f"\n- … and {len(layer.problems) - len(shown)} more"
        await ctx.status_comment(
            MARKER,
            f"{MARKER}\n@{item.author}: once merged, this {ctx.noun()}'s {code(IN_REPO_FILE)} would be applied "
            f"without these keys (the operator's config keeps them):\n\n{listing}\n\nPush a fix and I will check again.",
        )
        return
    comments = await ctx.forge.list_comments(ctx.ref)
    bot = (await ctx.forge.whoami()).lower()
    if any(c.author.lower() == bot and c.body.startswith(MARKER) for c in comments):  # told before: say it is fixed
        await ctx.status_comment(MARKER, f"{MARKER}\n{code(IN_REPO_FILE)} is valid now.", comments, bot)


PLUGIN = Plugin(
    name="verify-config",
    description=f"Checks a PR/MR that changes {IN_REPO_FILE} against what the operator allows, and says what "
                "would be refused (where in-repo configuration is on).",
    subscriptions=(Subscription(verify, (ItemEvent,), lambda e: e.action in ON and e.item.is_pull),),
)
