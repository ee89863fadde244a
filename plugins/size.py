"""size: a size/XS … size/XXL label from the lines a PR/MR changes (Prow's size plugin).  Files that
the base branch's ``.gitattributes`` marks ``linguist-generated`` do not count."""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.gitattributes import LinguistGenerated
from bot.plugin import Plugin, Subscription

PREFIX = "size/"
ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.NEW_COMMITS, ItemAction.EDITED}


@dataclass(frozen=True)
class SizeOptions:
    # The fewest changed lines (additions + deletions) for each size; fewer than s is XS.
    s: int = 10
    m: int = 30
    l: int = 100  # noqa: E741 - Prow's name
    xl: int = 500
    xxl: int = 1000

    def check(self) -> list[tuple[str, str]]:
        steps = [self.s, self.m, self.l, self.xl, self.xxl]
        if steps[0] < 1 or any(a >= b for a, b in zip(steps, steps[1:])):
            return [("s", "the thresholds s < m < l < xl < xxl must be positive and increasing")]
        return []


def size_label(lines: int, sizes: SizeOptions) -> str:
    for name, below in (("XS", sizes.s), ("S", sizes.m), ("M", sizes.l), ("L", sizes.xl), ("XL", sizes.xxl)):
        if lines < below:
            return PREFIX + name
    return PREFIX + "XXL"


async def relabel(ctx: Context) -> None:
    item = await ctx.item()
    if item.state != "open":
        return
    base = await ctx.forge.branch_sha(ctx.event.repo, item.base_ref or "")
    generated = LinguistGenerated(await ctx.owners_reader.read(ctx.forge, ctx.event.repo, ".gitattributes", base))
    lines = sum(f.additions + f.deletions for f in await ctx.changed_files() if not generated(f.path))
    wanted = size_label(lines, ctx.options)
    for label in item.labels:
        if label.startswith(PREFIX) and label != wanted:
            await ctx.remove_label(label)
    if wanted not in item.labels:
        await ctx.add_labels([wanted])


PLUGIN = Plugin(
    name="size",
    description="Labels each PR/MR size/XS … size/XXL by its changed lines, leaving out linguist-generated files.",
    default=False,
    subscriptions=(Subscription(relabel, (ItemEvent,), lambda e: e.action in ON and e.item.is_pull),),
    options=SizeOptions,
)
