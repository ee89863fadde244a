"""require-matching-label on both forges: a missing label while no label matches a rule."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import parse_config
from bot.options import ConfigError
from plugins import REGISTRY
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, typed


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"plugins": {"enabled": ["label", "require-matching-label"], "options": {"require-matching-label": {
        "rules": [
            {"missing_label": "needs-kind", "regexp": "^kind/", "missing_comment": "Please add a kind with /kind."},
            {"missing_label": "needs-triage", "regexp": "^triage/", "prs": False},
        ],
    }}}}


async def test_a_new_pr_without_kind_gets_needs_kind_and_one_comment(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    assert bot.fake.labels(REPO, number) == {"needs-kind"}  # the triage rule is for issues only
    (note,) = bot.bot_comments(number)
    assert note.startswith("Please add a kind with /kind.")
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/kind bug"))
    assert bot.fake.labels(REPO, number) == {"kind/bug"}
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/remove-kind bug"))
    assert bot.fake.labels(REPO, number) == {"needs-kind"}


async def test_a_new_issue_gets_both(bot: Bot) -> None:
    number, opened = bot.fake.open_issue(REPO, author=AUTHOR)
    await bot.deliver(opened)
    kind = {"kind": __import__("bot.events", fromlist=["ItemKind"]).ItemKind.ISSUE} if bot.fake.name == "gitlab" else {}
    assert bot.fake.labels(REPO, number, **kind) == {"needs-kind", "needs-triage"}


async def test_a_label_added_by_hand_satisfies_the_rule(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(opened)
    await bot.deliver(bot.fake.label(REPO, number, COLLAB, "kind/feature"))
    assert bot.fake.labels(REPO, number) == {"kind/feature"}
    await bot.deliver(bot.fake.label(REPO, number, COLLAB, "kind/feature", add=False))
    assert bot.fake.labels(REPO, number) == {"needs-kind"}


async def test_a_pr_opened_with_a_matching_label_in_its_body(bot: Bot) -> None:
    number, opened = bot.fake.open_pull(REPO, author=AUTHOR, body=typed(bot.fake.name, "/kind bug"))
    await bot.deliver(opened)
    assert bot.fake.labels(REPO, number) == {"kind/bug"}


@pytest.mark.parametrize(
    ("rule", "key"),
    [({"regexp": "^kind/"}, "missing_label"), ({"missing_label": "x", "regexp": "("}, "regexp")],
    ids=["missing-label-required", "bad-regexp"],
)
def test_bad_rules_are_named(rule: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"plugins": {"options": {"require-matching-label": {"rules": [rule]}}}}, REGISTRY)
    assert key in str(err.value)
