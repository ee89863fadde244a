"""welcome: greets an author's first PR/MR to a repository (Prow's welcome plugin).

The message is a template with Prow's fields, so a Prow ``message_template`` works unchanged:
``{{.AuthorLogin}}``, ``{{.AuthorName}}`` (the login: forges' webhooks do not give names reliably),
``{{.Org}}`` (GitLab: the group path) and ``{{.Repo}}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.context import Context
from bot.events import ItemAction, ItemEvent
from bot.plugin import Plugin, Subscription
from plugins.trigger import trusted_by

DEFAULT_MESSAGE = "Welcome @{{.AuthorLogin}}! It looks like this is your first PR to {{.Org}}/{{.Repo}} 🎉"
FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
FIELDS = ("AuthorLogin", "AuthorName", "Org", "Repo")


@dataclass(frozen=True)
class WelcomeOptions:
    message_template: str = DEFAULT_MESSAGE  # Prow's template fields: {{.AuthorLogin}}, {{.Org}}, {{.Repo}} ...
    always_post: bool = False  # true: greet every new PR/MR, trusted authors' too

    def check(self) -> list[tuple[str, str]]:
        unknown = sorted({m.group(1) for m in FIELD.finditer(self.message_template)} - set(FIELDS))
        if unknown:
            return [("message_template", f"unknown fields {unknown}; known: {', '.join(FIELDS)}")]
        return []


def render(template: str, author: str, repo: str) -> str:
    org, _, name = repo.rpartition("/")
    values = {"AuthorLogin": author, "AuthorName": author, "Org": org, "Repo": name}
    return FIELD.sub(lambda m: values[m.group(1)], template)


async def greet(ctx: Context) -> None:
    item = await ctx.item()
    author = item.author or ""
    if not author or author.lower().endswith("[bot]"):
        return  # Prow: bots are not greeted
    if not ctx.options.always_post:
        if await trusted_by(ctx, author, ctx.repo_config.options.get("trigger")):
            return
        earlier = [n for n in await ctx.forge.pulls_by(ctx.event.repo, author) if n != ctx.ref.number]
        if earlier:
            return
    await ctx.note(render(ctx.options.message_template, author, ctx.event.repo))


PLUGIN = Plugin(
    name="welcome",
    description="Greets an author's first PR/MR to the repository with a templated message.",
    default=False,
    subscriptions=(Subscription(greet, (ItemEvent,), lambda e: e.action is ItemAction.OPENED and e.item.is_pull),),
    options=WelcomeOptions,
)
