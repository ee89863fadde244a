"""Blunderbuss: request reviews from the OWNERS reviewers of the changed files (Prow's blunderbuss)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.commands import Invocation, parse_commands
from bot.context import Context
from bot.events import CIEvent, ItemAction, ItemEvent
from bot.forge.base import StatusState
from bot.owners import OwnersError, suggest_reviewers
from bot.permissions import ANYONE
from bot.plugin import PULLS_ONLY, Command, Plugin, Subscription
from bot.replies import code


@dataclass(frozen=True)
class StatusMatch:
    """Prow's wait_for_status: a commit status of the PR/MR head that must be there first."""

    context: str = "merge"  # prowlet's merge status (Prow's "tide")
    state: str = "pending"  # pending | success | failure | error
    description: re.Pattern[str] | None = None  # searched in the status's description; null: any

    def check(self) -> list[tuple[str, str]]:
        states = [s.value for s in StatusState]
        problems = [] if self.state in states else [("state", f"must be one of {', '.join(states)}")]
        return problems + ([] if self.context.strip() else [("context", "must not be empty")])


@dataclass(frozen=True)
class BlunderbussOptions:
    request_count: int = 2  # reviewers requested per PR, besides OWNERS' required_reviewers
    max_request_count: int = 0  # at most this many requests in all, required reviewers first; 0: no limit
    exclude_approvers: bool = False  # never fall back to OWNERS approvers when reviewers run out
    ignore_authors: list[str] = field(default_factory=list)  # their PRs/MRs get no automatic requests
    wait_for_status: StatusMatch | None = None  # request only once the head carries this status

    def check(self) -> list[tuple[str, str]]:
        problems = [] if 0 <= self.request_count <= 10 else [("request_count", "must be between 0 and 10")]
        if self.max_request_count < 0:
            problems.append(("max_request_count", "must not be negative (0: no limit)"))
        return problems


async def _request(ctx: Context, inv: Invocation | None) -> None:
    item = await ctx.item()
    author = (item.author or "").lower()
    try:
        index = await ctx.owners()
    except OwnersError as err:
        if inv:
            await ctx.reply(inv, f"I can't pick reviewers: the OWNERS file {code(err.path)} is invalid: {err.message}")
        return
    paths = await ctx.changed_paths()
    options: BlunderbussOptions = ctx.options
    required = sorted(index.required_reviewers_for(paths) - {author})
    picks = suggest_reviewers(index, paths, author, options.request_count, seed=ctx.ref.number, exclude=required,
                              approvers_too=not options.exclude_approvers)
    wanted = required + picks
    if options.max_request_count:
        wanted = wanted[: options.max_request_count]
    if not wanted:
        if inv:
            await ctx.reply(inv, "the OWNERS files of the changed files name no reviewers I could request.")
        return
    refused = await ctx.forge.request_review(ctx.ref, wanted)
    if refused:
        ctx.log.info("review requests refused", refused=sorted(refused))
        if inv:
            await ctx.reply(inv, f"I couldn't request reviews from {', '.join(code(r) for r in sorted(refused))}.")


def _should_run(event: ItemEvent) -> bool:
    return event.action in (ItemAction.OPENED, ItemAction.READY_FOR_REVIEW) and event.item.is_pull


async def on_ready(ctx: Context) -> None:
    item = await ctx.item()
    if item.draft or _ignored_author(ctx, item.author):
        return
    # The author asked for particular reviewers already.
    if ctx.event.action is ItemAction.OPENED and any(
        inv.name == "cc" for inv in parse_commands(item.body, ctx.repo_config.prefix)
    ):
        return
    if ctx.options.wait_for_status is not None:
        await _request_once_status_says(ctx)
        return
    await _request(ctx, None)


def _ignored_author(ctx: Context, author: str | None) -> bool:
    return (author or "").lower() in {login.lower() for login in ctx.options.ignore_authors}


async def on_ci_finished(ctx: Context) -> None:
    """With wait_for_status, CI finishing is when the awaited status may have arrived."""
    if ctx.options.wait_for_status is None:
        return
    item = await ctx.item()
    if item.state != "open" or item.draft or _ignored_author(ctx, item.author):
        return
    await _request_once_status_says(ctx)


async def _request_once_status_says(ctx: Context) -> None:
    """Request reviews when the head's status matches wait_for_status: once per PR/MR, so later CI
    runs do not ask the same people again."""
    match: StatusMatch = ctx.options.wait_for_status
    item = await ctx.item()
    statuses = await ctx.forge.list_statuses(ctx.event.repo, item.head_sha or "")
    found = next((s for s in statuses if s.context == match.context), None)
    if found is None or found.state.value != match.state:
        return
    if match.description is not None and not match.description.search(found.description):
        return
    if await ctx.once_per_item("blunderbuss-requested"):
        await _request(ctx, None)


async def auto_cc(ctx: Context, inv: Invocation) -> None:
    if (await ctx.item()).state != "open":
        return  # Prow: a closed PR gets no reviewers, and no reply
    await _request(ctx, inv)


PLUGIN = Plugin(
    name="blunderbuss",
    description="Requests reviews from OWNERS reviewers when a PR/MR is opened or marked ready for review.",
    commands=(
        Command("auto-cc", auto_cc, ANYONE, "Requests reviews from OWNERS reviewers now.",
                examples=("/auto-cc",), on=PULLS_ONLY),
    ),
    subscriptions=(
        Subscription(on_ready, (ItemEvent,), _should_run),
        Subscription(on_ci_finished, (CIEvent,), lambda e: e.item.is_pull),
    ),
    options=BlunderbussOptions,
)
