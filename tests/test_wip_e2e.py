"""wip on both forges: drafts and "WIP" titles carry do-not-merge/work-in-progress, as in Prow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from plugins.wip import LABEL, is_work_in_progress
from tests.conftest import AUTHOR, REPO, Bot


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"enabled": ["wip"]}}


TITLES = [
    ("WIP colon", "WIP: add widgets", True),
    ("bracketed", "[WIP] add widgets", True),
    ("lower case", "wip add widgets", True),
    ("WIP inside a word", "WIPE the cache", False),
    ("WIP later in the title", "Add WIP widgets", False),
    ("plain", "Add widgets", False),
]


@pytest.mark.parametrize(("name", "title", "wip"), TITLES, ids=[t[0] for t in TITLES])
def test_title_rule(name: str, title: str, wip: bool) -> None:
    assert is_work_in_progress(title, draft=False) is wip


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    draft: bool
    edit: dict[str, Any] | None  # edit_pull(**edit) after opening, or nothing
    labelled: bool


CASES = [
    Case("opened with a WIP title", "WIP: widgets", False, None, True),
    Case("opened as a draft", "Widgets", True, None, True),
    Case("opened ready", "Widgets", False, None, False),
    Case("WIP dropped from the title", "WIP: widgets", False, {"title": "Widgets"}, False),
    Case("WIP added to the title", "Widgets", False, {"title": "[WIP] widgets"}, True),
    Case("marked ready for review", "Widgets", True, {"draft": False}, False),
    Case("converted to a draft", "Widgets", False, {"draft": True}, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_wip_label(bot: Bot, case: Case) -> None:
    fake = bot.fake
    number, opened = fake.open_pull(REPO, author=AUTHOR, title=case.title, draft=case.draft)
    await bot.deliver(opened)
    if case.edit is not None:
        await bot.deliver(fake.edit_pull(REPO, number, AUTHOR, **case.edit))
    assert (LABEL in fake.labels(REPO, number)) is case.labelled
    assert bot.bot_comments(number) == []
