"""skip: /skip marks the failed statuses of optional jobs as skipped (Prow's skip plugin), so a
PR/MR is not left red by jobs nobody requires."""

from __future__ import annotations

from bot.commands import Invocation
from bot.context import Context
from bot.forge.base import CommitStatus, StatusState
from bot.permissions import ANYONE
from bot.plugin import PULLS_ONLY, Command, Plugin

SKIPPED = "Skipped"


async def skip(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    if item.state != "open" or not item.head_sha:
        return
    jobs = ctx.ci.jobs_for(ctx.event.repo)
    if not jobs:
        return
    statuses = {s.context: s for s in await ctx.forge.list_statuses(ctx.event.repo, item.head_sha)}
    # Prow: a job a /test in the same comment runs again is left to that run.
    tested = {name.lower() for i in ctx.invocations if i.name == "test" for name in i.args.split()}
    for job in jobs:
        if job.skip_report:
            continue  # it posts no status to skip
        status = statuses.get(job.status_context)
        if status is None or status.state is StatusState.SUCCESS or job.optional is False:
            continue  # never posted, already green, or required: only optional jobs are skipped
        if job.name.lower() in tested or "all" in tested:
            continue
        await ctx.forge.set_status(ctx.event.repo, item.head_sha,
                                   CommitStatus(job.status_context, StatusState.SUCCESS, SKIPPED))


PLUGIN = Plugin(
    name="skip",
    description="Marks the failed or pending statuses of optional jobs on a PR/MR as skipped.",
    commands=(
        Command("skip", skip, ANYONE, "Marks the statuses of optional jobs that did not succeed as skipped.",
                examples=("/skip",), on=PULLS_ONLY),
    ),
)
