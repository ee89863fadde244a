"""/retitle <title>: trusted users give a PR/MR or issue a new title (Prow's retitle plugin)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.commands import Invocation
from bot.context import Context
from bot.permissions import ORG_MEMBERS
from bot.plugin import Command, Plugin, arg_pattern

# Prow's invalidcommitmsg rules: a title becomes a commit message, where these act on their own.
AT_MENTION = re.compile(r"\B@[\w_-]+")
CLOSES_ISSUE = re.compile(r"(?i)(clos(?:e[sd]?)|fix(?:es|ed)?|resolv(?:e[sd]?))[\s:]+(\w+/\w+)?#(\d+)")


@dataclass(frozen=True)
class RetitleOptions:
    allow_closed_issues: bool = False  # also retitle closed (and merged) items


def title_problem(title: str) -> str | None:
    if not title:
        return "Titles may not be empty."
    if AT_MENTION.search(title) or CLOSES_ISSUE.search(title):
        return ("Titles may not contain keywords which can automatically close issues (such as `fixes #1`) "
                "and at(@) mentions.")
    return None


async def retitle(ctx: Context, inv: Invocation) -> None:
    item = await ctx.item()
    if item.state != "open" and not ctx.options.allow_closed_issues:
        return  # Prow leaves closed items alone, silently
    title = inv.args.strip()
    problem = title_problem(title)
    if problem:
        await ctx.reply(inv, problem)
    elif title != item.title:
        await ctx.forge.set_title(ctx.ref, title)


PLUGIN = Plugin(
    name="retitle",
    description="Edits the title of a PR/MR or issue on request.",
    commands=(
        Command("retitle", retitle, ORG_MEMBERS, "Edits the title.", syntax="<title>", args=arg_pattern(r".*"),
                examples=("/retitle Add the widget API",)),
    ),
    options=RetitleOptions,
)
