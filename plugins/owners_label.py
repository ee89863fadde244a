"""Labels from OWNERS files (``labels:``) are added to PRs that touch those paths."""

from __future__ import annotations

from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.owners import OwnersError
from bot.plugin import Plugin, Subscription

ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.NEW_COMMITS}


async def apply_labels(ctx: Context) -> None:
    try:
        index = await ctx.owners()
    except OwnersError:
        return  # approve's status comment explains an invalid OWNERS file
    wanted = index.labels_for(await ctx.changed_paths())
    missing = sorted(wanted - (await ctx.item()).labels)
    await ctx.add_labels(missing)


PLUGIN = Plugin(
    name="owners-label",
    description="Adds the labels named in the OWNERS files of the changed paths.",
    subscriptions=(Subscription(apply_labels, (ItemEvent,), lambda e: e.action in ON and e.item.is_pull),),
)
