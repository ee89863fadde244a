"""require-matching-label: a PR/MR or issue without any label matching a rule's regexp gets the
rule's missing label (and comment); the missing label goes once a matching label is there (Prow's
require-matching-label plugin, one rule list per repository through the usual repos[] options)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.context import Context
from bot.events import CommentEvent, Event, Item, ItemAction, ItemEvent
from bot.plugin import Plugin, Subscription

ON = {ItemAction.OPENED, ItemAction.REOPENED, ItemAction.LABELED, ItemAction.UNLABELED}


@dataclass(frozen=True)
class MatchingLabelRule:
    missing_label: str = ""  # e.g. needs-sig
    regexp: str = ""  # e.g. "^(sig|wg|committee)/"; a label matching it satisfies the rule
    prs: bool = True  # the rule applies to PRs/MRs ...
    issues: bool = True  # ... and to issues
    branch: str = ""  # PRs/MRs into this base branch only ("" any)
    missing_comment: str = ""  # posted when the missing label is added ("" none)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if not self.missing_label:
            problems.append(("missing_label", "is required"))
        try:
            re.compile(self.regexp)
        except re.error as err:
            problems.append(("regexp", f"is not a regular expression: {err}"))
        if not self.regexp:
            problems.append(("regexp", "is required"))
        return problems

    def applies(self, item: Item) -> bool:
        if item.is_pull:
            return self.prs and (not self.branch or self.branch == item.base_ref)
        return self.issues


@dataclass(frozen=True)
class RequireMatchingLabelOptions:
    rules: list[MatchingLabelRule] = field(default_factory=list)


def _wanted(event: Event) -> bool:
    if isinstance(event, ItemEvent):
        return event.action in ON
    return isinstance(event, CommentEvent)


async def enforce(ctx: Context) -> None:
    if not ctx.options.rules:
        return
    if isinstance(ctx.event, CommentEvent) and not ctx.invocations:
        return
    # Commands of this comment (or of a new item's description) may have changed the labels.
    item = await ctx.item(refresh=bool(ctx.invocations))
    if item.state != "open":
        return
    for rule in ctx.options.rules:
        if not rule.applies(item):
            continue
        pattern = re.compile(rule.regexp)
        matched = any(pattern.search(label) for label in item.labels if label != rule.missing_label)
        if matched and rule.missing_label in item.labels:
            await ctx.remove_label(rule.missing_label)
        elif not matched and rule.missing_label not in item.labels:
            await ctx.add_labels([rule.missing_label])
            if rule.missing_comment:
                await ctx.note(rule.missing_comment)


PLUGIN = Plugin(
    name="require-matching-label",
    description="Adds a configured missing label (needs-sig, needs-kind ...) while no label matches a rule, "
                "and removes it once one does.",
    default=False,
    subscriptions=(Subscription(enforce, (ItemEvent, CommentEvent), _wanted),),
    options=RequireMatchingLabelOptions,
)
