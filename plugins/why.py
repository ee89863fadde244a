"""/why: every reason a PR/MR is not merging and what would unblock it, or its place in the pool.

Read-only: the merge controller reads the repository as a pass does (``MergeController.explain``)
and this answers with one reply.
"""

from __future__ import annotations

from bot.commands import Invocation
from bot.context import Context
from bot.merge.readiness import Reason
from bot.permissions import ANYONE
from bot.plugin import PULLS_ONLY, Command, Plugin
from bot.replies import code


def _line(reason: Reason) -> str:
    unblock = code(reason.unblock) if reason.unblock.startswith("/") else reason.unblock
    return f"- {reason.what} — {unblock}"


async def why(ctx: Context, inv: Invocation) -> None:
    explanation = await ctx.merge_explanation()
    noun = ctx.noun()
    if explanation is None or not explanation.in_scope:
        await ctx.reply(inv, "merge automation is off for this repository: I do not merge here.")
        return
    if not explanation.open or explanation.verdict is None:
        await ctx.reply(inv, f"this {noun} is not open: there is nothing to merge.")
        return
    verdict = explanation.verdict
    if verdict.ready:
        await ctx.reply(inv, f"ready: in the merge pool (position {explanation.position} on branch "
                             f"{code(explanation.base)}).")
        return
    lines = "\n".join(_line(reason) for reason in verdict.reasons)
    await ctx.reply(inv, f"this {noun} is not merging yet:\n\n{lines}")


PLUGIN = Plugin(
    name="why",
    description="Says why a change is not merging (every reason, and what would unblock it).",
    commands=(
        Command("why", why, ANYONE, "Lists every reason this is not merging and what would unblock it, "
                "or its place in the merge pool.", examples=("/why",), on=PULLS_ONLY),
    ),
)
