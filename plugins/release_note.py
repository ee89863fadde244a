"""release-note: a PR/MR is labelled from the ```release-note block of its description, and
/release-note-none marks one that needs no note (Prow's release-note plugin)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.commands import Invocation, parse_commands
from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.permissions import is_org_member
from bot.plugin import PULLS_ONLY, Command, Plugin, Rule, Subscription
from bot.replies import code

NOTE = "release-note"
ACTION_REQUIRED = "release-note-action-required"
NONE = "release-note-none"
NEEDED = "do-not-merge/release-note-label-needed"
ALL_LABELS = (NONE, ACTION_REQUIRED, NEEDED, NOTE)  # Prow's allRNLabels

# Prow's noteMatcherRE: the block after a "**Release note**:" heading, or any ```release-note block.
BLOCK = re.compile(r"(?s)(?:Release note\*\*:\s*(?:<!--[^<>]*-->\s*)?```(?:release-note)?|```release-note)(.+?)```")
NONE_NOTE = re.compile(r"(?i)^\W*NONE\W*$")
ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.EDITED}


@dataclass(frozen=True)
class ReleaseNoteOptions:
    guide_url: str = ""  # linked from the comment that asks for a release note


def note_label(body: str) -> str:
    """The label a description's release-note block calls for (Prow's determineReleaseNoteLabel)."""
    match = BLOCK.search(body or "")
    note = match.group(1).strip().lower() if match else ""
    if not note:
        return NEEDED
    if NONE_NOTE.match(note):
        return NONE
    return ACTION_REQUIRED if "action required" in note else NOTE


async def _set_only(ctx: Context, wanted: str) -> None:
    """``wanted`` on the item and no other release-note label."""
    labels = (await ctx.item()).labels
    if wanted not in labels:
        await ctx.add_labels([wanted])
    for other in ALL_LABELS:
        if other != wanted and other in labels:
            await ctx.remove_label(other)


def _asked_for_none(ctx: Context, bodies: list[str]) -> bool:
    return any(inv.name == "release-note-none" for body in bodies
               for inv in parse_commands(body, ctx.repo_config.prefix))


async def sync(ctx: Context) -> None:
    item = await ctx.item()  # the description as it is now, not as the event saw it
    if item.state != "open":
        return
    wanted = note_label(item.body)
    if wanted == NEEDED:
        comments = await ctx.forge.list_comments(ctx.ref)
        if _asked_for_none(ctx, [c.body for c in comments]):
            wanted = NONE
        elif NEEDED not in item.labels:
            process = f"[release note process]({ctx.options.guide_url})" if ctx.options.guide_url \
                else "release note process"
            await ctx.note(f'Adding the "{NEEDED}" label because no release-note block was detected, '
                           f"please follow our {process} to remove it.")
    await _set_only(ctx, wanted)


async def _author_or_member(ctx: Context, inv: Invocation) -> str | None:
    if await ctx.is_author(ctx.event.actor) or await is_org_member(ctx, ctx.event.actor):
        return None
    return f"you can only set the release note label to {NONE} if you are the PR author or an org member."


AUTHOR_OR_MEMBERS = Rule("the author and organisation / top-level group members and collaborators",
                         _author_or_member)


async def release_note_none(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    if note_label(item.body) in (NOTE, ACTION_REQUIRED):
        await ctx.reply(inv, f"you can only set the release note label to {NONE} if the release-note block in "
                             f"the PR body text is empty or \"none\".")
        return
    await _set_only(ctx, NONE)


PLUGIN = Plugin(
    name="release-note",
    description=(f"Labels PRs/MRs from the release-note block of their description: {code(NOTE)}, "
                 f"{code(ACTION_REQUIRED)} (the note says \"action required\"), {code(NONE)} (it says NONE), "
                 f"else {code(NEEDED)}."),
    commands=(
        Command("release-note-none", release_note_none, AUTHOR_OR_MEMBERS,
                f"Adds {NONE}: the change needs no release note (when the description's block is empty or NONE).",
                examples=("/release-note-none",), on=PULLS_ONLY),
    ),
    subscriptions=(Subscription(sync, (ItemEvent,), lambda e: e.action in ON and e.item.is_pull),),
    options=ReleaseNoteOptions,
    default=False,
)
