"""wip: a draft PR/MR, or one whose title starts with "WIP", carries do-not-merge/work-in-progress
(Prow's wip plugin); the label goes when neither holds any more."""

from __future__ import annotations

import re

from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.plugin import Plugin, Subscription

LABEL = "do-not-merge/work-in-progress"
TITLE = re.compile(r"\W?WIP\W", re.IGNORECASE)  # Prow's: "WIP: x", "[WIP] x", "wip x"
ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.EDITED, ItemAction.READY_FOR_REVIEW,
      ItemAction.CONVERTED_TO_DRAFT}


def is_work_in_progress(title: str, draft: bool) -> bool:
    return draft or TITLE.match(title) is not None


async def sync(ctx: Context) -> None:
    item = await ctx.item()  # the title and draft state as they are now, not as the event saw them
    if item.state == "open":
        await ctx.set_label(LABEL, is_work_in_progress(item.title, item.draft))


PLUGIN = Plugin(
    name="wip",
    description=f"Adds {LABEL} to draft PRs/MRs and to those whose title starts with WIP; removes it after.",
    default=False,
    subscriptions=(Subscription(sync, (ItemEvent,), lambda e: e.action in ON and e.item.is_pull),),
)
