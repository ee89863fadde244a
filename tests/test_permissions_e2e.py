"""Prow's permission model is the default; `commands.who` / `repos[].who` replace a command's rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import AUTHOR, COLLAB, OTHER, OUTSIDER, REPO, Bot, typed


@pytest.fixture
def config_data() -> dict[str, Any]:
    # A company tightening Prow's rules: prowlet's stricter rules of old, per command and per repo.
    return {
        "commands": {"who": {"assign": "self-or-collaborators", "kind": "collaborators", "hold": "nobody"}},
        "repos": [{"match": ["acme/*"], "who": {"cc": "collaborators", "lifecycle": "org-members"}}],
    }


@dataclass(frozen=True)
class Case:
    name: str
    actor: str
    body: str
    labels: set[str] | None = None
    assignees: set[str] | None = None
    reviewers: set[str] | None = None
    reply: str | None = None  # in the bot's reply; None: no reply


CASES = [
    Case("assign others refused to an outsider", OUTSIDER, "/assign @bob", assignees=set(),
         reply="only collaborators may name other users"),
    Case("assign yourself still allowed (the forge refuses zed)", OUTSIDER, "/assign", assignees=set(),
         reply="I couldn't assign `zed`"),
    Case("assign others by a collaborator", COLLAB, "/assign @bob", assignees={OTHER}),
    Case("kind refused to the author", AUTHOR, "/kind bug", labels=set(), reply="only collaborators"),
    Case("remove-kind keeps Prow's rule (not configured)", AUTHOR, "/remove-kind bug", labels=set(),
         reply="Those labels are not set"),
    Case("kind by a collaborator", COLLAB, "/kind bug", labels={"kind/bug"}),
    Case("hold turned off", COLLAB, "/hold", labels=set(), reply="it is turned off in this repository"),
    Case("cc refused per repository", OUTSIDER, "/cc @bob", reviewers=set(), reply="only collaborators"),
    Case("lifecycle for organisation members", OUTSIDER, "/lifecycle stale", labels=set(),
         reply="only members of the acme organisation"),
    Case("lifecycle by a collaborator", COLLAB, "/lifecycle stale", labels={"lifecycle/stale"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_configured_rules(bot: Bot, case: Case) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, case.actor, typed(fake.name, case.body)))
    replies = bot.bot_comments(number)
    if case.reply is None:
        assert replies == []
    else:
        assert replies and case.reply in replies[-1]
    if case.labels is not None:
        assert fake.labels(REPO, number) == case.labels
    if case.assignees is not None:
        assert fake.assignees(REPO, number) == case.assignees
    if case.reviewers is not None:
        assert fake.reviewers(REPO, number) == case.reviewers


async def test_help_shows_the_configured_rules(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, OUTSIDER, "/help"))
    (reply,) = bot.bot_comments(number)
    kind = next(line for line in reply.splitlines() if line.startswith("| `/kind "))
    assert "| collaborators (GitLab: Developer or higher) |" in kind
    sig = next(line for line in reply.splitlines() if line.startswith("| `/sig "))
    assert "| anyone |" in sig
    hold = next(line for line in reply.splitlines() if line.startswith("| `/hold"))
    assert "nobody" in hold
