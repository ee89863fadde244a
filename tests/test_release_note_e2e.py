"""release-note on both forges, as Prow's plugin: labels from the description's release-note block,
a request for a note when there is none, and /release-note-none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from plugins.release_note import ACTION_REQUIRED, NEEDED, NONE, NOTE, note_label
from tests.conftest import AUTHOR, COLLAB, OUTSIDER, REPO, Bot

ASKS = 'Adding the "do-not-merge/release-note-label-needed" label because no release-note block was detected'


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"enabled": ["release-note"]}}


def block(note: str) -> str:
    return f"Fixes things.\n\n```release-note\n{note}\n```\n"


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (block("Widgets can be renamed."), NOTE),
        (block("ACTION REQUIRED: rename your widgets."), ACTION_REQUIRED),
        (block("NONE"), NONE),
        (block(" none. "), NONE),
        (block(""), NEEDED),
        ("No block at all.", NEEDED),
        ("", NEEDED),
        ("**Release note**:\n<!-- say it -->\n```\nWidgets are faster.\n```", NOTE),
        ("```go\nfmt.Println()\n```", NEEDED),
    ],
    ids=["note", "action-required", "none", "none-with-punctuation", "empty-block", "no-block", "empty-body",
         "template-heading-with-plain-fence", "other-code-block"],
)
def test_note_label(body: str, label: str) -> None:
    assert note_label(body) == label


@dataclass(frozen=True)
class Case:
    name: str
    body: str
    labels: set[str]
    asks: bool = False


CASES = [
    Case("a note", block("Widgets can be renamed."), {NOTE}),
    Case("action required", block("Action required: rename widgets."), {ACTION_REQUIRED}),
    Case("none", block("NONE"), {NONE}),
    Case("no block asks for one", "Just a fix.", {NEEDED}, asks=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_labels_on_open(bot: Bot, case: Case) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR, body=case.body)
    await bot.deliver(opened)
    assert bot.fake.labels(REPO, number) == case.labels
    comments = bot.bot_comments(number)
    assert (len(comments) == 1 and ASKS in comments[0]) if case.asks else comments == []


async def test_editing_the_description_moves_the_label_and_asks_once(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR, body="Just a fix.")
    await bot.deliver(opened)
    await bot.deliver(fake.edit_pull(REPO, number, AUTHOR, body="Still just a fix."))
    assert fake.labels(REPO, number) == {NEEDED}
    assert len(bot.bot_comments(number)) == 1  # asked once, not on every edit
    await bot.deliver(fake.edit_pull(REPO, number, AUTHOR, body=block("Widgets can be renamed.")))
    assert fake.labels(REPO, number) == {NOTE}
    await bot.deliver(fake.edit_pull(REPO, number, AUTHOR, body=block("NONE")))
    assert fake.labels(REPO, number) == {NONE}


@pytest.mark.parametrize(
    ("actor", "body", "labels", "reply"),
    [
        (AUTHOR, "Just a fix.", {NONE}, None),
        (COLLAB, block("none"), {NONE}, None),
        (OUTSIDER, "Just a fix.", {NEEDED}, "if you are the PR author or an org member"),
        (AUTHOR, block("Widgets can be renamed."), {NOTE}, "if the release-note block in the PR body text is empty"),
    ],
    ids=["author-without-block", "collaborator-with-none-block", "outsider-refused", "refused-over-a-real-note"],
)
async def test_release_note_none(bot: Bot, actor: str, body: str, labels: set[str], reply: str | None) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR, body=body)
    await bot.deliver(opened)
    before = len(bot.bot_comments(number))
    await bot.deliver(fake.comment(REPO, number, actor, "/release-note-none"))
    assert fake.labels(REPO, number) == labels
    replies = bot.bot_comments(number)[before:]
    assert (len(replies) == 1 and reply in replies[0]) if reply else replies == []


async def test_an_earlier_release_note_none_counts_after_an_edit(bot: Bot) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR, body="Just a fix.")
    await bot.deliver(opened)
    await bot.deliver(fake.comment(REPO, number, AUTHOR, "/release-note-none"))
    await bot.deliver(fake.edit_pull(REPO, number, AUTHOR, body="Just a fix, reworded."))
    assert fake.labels(REPO, number) == {NONE}
