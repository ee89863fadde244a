"""A PR that makes an OWNERS or OWNERS_ALIASES file invalid is labelled and told why, until fixed."""

from __future__ import annotations

import posixpath

from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.owners import ALIASES_FILE, OWNERS_FILE, OwnersError, OwnersIndex
from bot.plugin import Plugin, Subscription
from bot.replies import code

LABEL = "do-not-merge/invalid-owners-file"
MARKER = "<!-- prowlet:verify-owners -->"
ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.NEW_COMMITS}


async def _problems(ctx: Context, sha: str) -> list[OwnersError]:
    """Every invalid OWNERS file the PR adds or changes, read at its head."""
    files = [f for f in await ctx.changed_files() if f.status != "removed"]
    reader, repo = ctx.owners_reader, ctx.event.repo
    changed = [f.path for f in files if posixpath.basename(f.path) == OWNERS_FILE]
    if not changed and not any(f.path == ALIASES_FILE for f in files):
        return []
    aliases = await reader.read(ctx.forge, repo, ALIASES_FILE, sha)
    try:
        OwnersIndex.build({}, aliases)
    except OwnersError as err:
        return [err]
    problems = []
    for path in changed:
        text = await reader.read(ctx.forge, repo, path, sha)
        try:
            OwnersIndex.build({posixpath.dirname(path): text}, aliases)
        except OwnersError as err:
            problems.append(err)
    return problems


async def verify(ctx: Context) -> None:
    item = await ctx.item()
    if not item.head_sha:
        return
    problems = await _problems(ctx, item.head_sha)
    if problems:
        listing = "\n".join(f"- {code(err.path)}: {err.message}" for err in problems)
        await ctx.set_label(LABEL, True)
        await ctx.status_comment(
            MARKER,
            f"{MARKER}\n@{item.author}: this {ctx.noun()} makes OWNERS files invalid, so I added the "
            f"`{LABEL}` label:\n\n{listing}\n\nPush a fix and I will check again.",
        )
    elif LABEL in item.labels:
        await ctx.remove_label(LABEL)
        await ctx.status_comment(MARKER, f"{MARKER}\nThe OWNERS files are valid again; I removed `{LABEL}`.")


PLUGIN = Plugin(
    name="verify-owners",
    description=f"Labels a PR/MR that makes an OWNERS or OWNERS_ALIASES file invalid with {LABEL} and says why.",
    subscriptions=(Subscription(verify, (ItemEvent,), lambda e: e.action in ON and e.item.is_pull),),
)
