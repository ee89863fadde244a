"""/help: on a PR/MR, the commands enabled here (generated from the plugins' declarations); on an
issue, Prow's help plugin: /help and /good-first-issue ask contributors for help, /remove-help and
/remove-good-first-issue take it back."""

from __future__ import annotations

from dataclasses import dataclass

from bot.commands import Invocation
from bot.context import Context
from bot.help import help_message
from bot.permissions import ANYONE
from bot.plugin import ISSUES_ONLY, PULLS_ONLY, Command, Plugin

HELP_WANTED = "help wanted"
GOOD_FIRST_ISSUE = "good first issue"


@dataclass(frozen=True)
class HelpOptions:
    guidelines_url: str = ""  # where the requirements of a help-wanted issue are written (Prow's help_guidelines_url)
    guidelines_summary: str = ""  # shown in the comment under "Guidelines" (Prow's help_guidelines_summary)


async def show_help(ctx: Context, inv: Invocation) -> None:
    message = help_message(
        ctx.repo_config.plugins, ctx.repo_config.prefix, ctx.forge.capabilities.consumes_quick_actions,
        ctx.repo_config.who,
    )
    await ctx.reply(inv, message)


def _message(options: HelpOptions, what: str, remove: str, anchor: str = "") -> str:
    lines = [f"This request has been marked as {what}."]
    if options.guidelines_summary:
        lines += ["", "### Guidelines", options.guidelines_summary]
    if options.guidelines_url:
        lines += ["", f"Please ensure the request meets the requirements listed [here]({options.guidelines_url}{anchor})."]
    lines += ["", f"If this request no longer meets these requirements, the label can be removed by commenting "
                  f"with the `{remove}` command."]
    return "\n".join(lines)


async def _open_labels(ctx: Context) -> frozenset[str] | None:
    """The issue's labels; None when it is closed (Prow leaves closed issues alone)."""
    item = await ctx.item()
    return item.labels if item.state == "open" else None


async def help_wanted(ctx: Context, inv: Invocation) -> None:
    labels = await _open_labels(ctx)
    if labels is None or HELP_WANTED in labels:
        return
    await ctx.reply(inv, _message(ctx.options, "needing help from a contributor", "/remove-help"))
    await ctx.add_labels([HELP_WANTED])


async def good_first_issue(ctx: Context, inv: Invocation) -> None:
    labels = await _open_labels(ctx)
    if labels is None or GOOD_FIRST_ISSUE in labels:
        return
    await ctx.reply(inv, _message(ctx.options, "suitable for new contributors", "/remove-good-first-issue",
                                  "#good-first-issue"))
    await ctx.add_labels([GOOD_FIRST_ISSUE] + ([] if HELP_WANTED in labels else [HELP_WANTED]))


async def remove_help(ctx: Context, inv: Invocation) -> None:
    labels = (await ctx.item()).labels
    if HELP_WANTED in labels:  # a good first issue is one that wants help: both go
        for label in (HELP_WANTED, GOOD_FIRST_ISSUE):
            if label in labels:
                await ctx.remove_label(label)


async def remove_good_first_issue(ctx: Context, inv: Invocation) -> None:
    if GOOD_FIRST_ISSUE in (await ctx.item()).labels:
        await ctx.remove_label(GOOD_FIRST_ISSUE)


PLUGIN = Plugin(
    name="help",
    description=f"Lists the commands enabled here (on PRs/MRs); on issues adds or removes the "
                f"'{HELP_WANTED}' and '{GOOD_FIRST_ISSUE}' labels, as Prow's help plugin.",
    commands=(
        Command("help", show_help, ANYONE, "Lists the commands enabled here, who may use them, and examples.",
                examples=("/help",), on=PULLS_ONLY),
        Command("help", help_wanted, ANYONE, f"Asks contributors for help: adds the '{HELP_WANTED}' label.",
                examples=("/help",), on=ISSUES_ONLY),
        Command("remove-help", remove_help, ANYONE, f"Removes '{HELP_WANTED}' (and '{GOOD_FIRST_ISSUE}').",
                examples=("/remove-help",), on=ISSUES_ONLY),
        Command("good-first-issue", good_first_issue, ANYONE,
                f"Adds '{GOOD_FIRST_ISSUE}' (and '{HELP_WANTED}').", examples=("/good-first-issue",), on=ISSUES_ONLY),
        Command("remove-good-first-issue", remove_good_first_issue, ANYONE, f"Removes '{GOOD_FIRST_ISSUE}'.",
                examples=("/remove-good-first-issue",), on=ISSUES_ONLY),
    ),
    options=HelpOptions,
)
