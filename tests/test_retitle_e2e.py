"""/retitle on both forges, as Prow's retitle plugin: trusted users only, no closing keywords."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot


@dataclass(frozen=True)
class Case:
    name: str
    actor: str
    body: str
    title: str  # afterwards; the item starts as "Old title"
    reply: str | None = None
    on_issue: bool = False
    closed: bool = False


CASES = [
    Case("collaborator retitles a change", COLLAB, "/retitle Add the widget API", "Add the widget API"),
    Case("collaborator retitles an issue", COLLAB, "/retitle Widgets crash", "Widgets crash", on_issue=True),
    Case("untrusted user refused", OUTSIDER, "/retitle Mine now", "Old title",
         reply="only members of the acme organisation"),
    Case("empty title", COLLAB, "/retitle", "Old title", reply="Titles may not be empty."),
    Case("closing keyword refused", COLLAB, "/retitle Fixes #12 for good", "Old title", reply="Titles may not contain"),
    Case("mention refused", COLLAB, "/retitle Ask @bob", "Old title", reply="Titles may not contain"),
    Case("closed item left alone", COLLAB, "/retitle New", "Old title", on_issue=True, closed=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_retitle(bot: Bot, case: Case) -> None:
    fake = bot.fake
    if case.on_issue:
        number, opened = fake.open_issue(REPO, author=AUTHOR, title="Old title")
    else:
        number, opened = fake.open_pull(REPO, author=AUTHOR, title="Old title")
    await bot.deliver(opened)
    if case.closed:
        await bot.deliver(fake.comment(REPO, number, AUTHOR, "/prow-close"))
    before = len(bot.bot_comments(number))
    await bot.deliver(fake.comment(REPO, number, case.actor, case.body))
    assert fake.title(REPO, number) == case.title
    replies = bot.bot_comments(number)[before:]
    if case.reply is None:
        assert replies == []
    else:
        assert replies and case.reply in replies[-1]
