"""The pure rules of repair and scope, as tables: which deliveries are worth redelivering, which
listings a set of globs needs, and the repair interval setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import IntakeSettings
from bot.forge.base import DeliveryAttempt
from bot.repair import worth_redelivering
from bot.repo_globs import ListingPlan, listing_plan

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SINCE = T0


def at(minutes: int, delivery: str, ok: bool, attempt: str | None = None) -> DeliveryAttempt:
    return DeliveryAttempt(attempt or f"{delivery}@{minutes}", delivery, T0 + timedelta(minutes=minutes), ok)


WORTH = [
    ("failed once, in the window", [at(5, "a", False)], ["a@5"]),
    ("succeeded", [at(5, "a", True)], []),
    ("failed before the window", [at(-5, "a", False)], []),
    ("failed, then redelivered successfully", [at(5, "a", False), at(7, "a", True)], []),
    ("succeeded, then a later attempt failed", [at(5, "a", True), at(7, "a", False)], ["a@7"]),
    ("failed twice: the latest attempt is asked for", [at(5, "a", False), at(7, "a", False)], ["a@7"]),
    ("old failure, redelivery failed in the window", [at(-60, "a", False), at(3, "a", False)], ["a@3"]),
    ("old success settles nothing newer", [at(-60, "a", True), at(3, "a", False)], ["a@3"]),
    ("same moment: a success wins", [at(5, "a", False, "x"), at(5, "a", True, "y")], []),
    ("listed newest first: oldest is redelivered first",
     [at(9, "c", False), at(8, "b", True), at(6, "a", False)], ["a@6", "c@9"]),
    ("on the window's edge counts", [at(0, "a", False)], ["a@0"]),
    ("nothing listed", [], []),
]


@pytest.mark.parametrize("attempts,expected", [c[1:] for c in WORTH], ids=[c[0] for c in WORTH])
def test_worth_redelivering(attempts: list[DeliveryAttempt], expected: list[str]) -> None:
    assert [a.attempt_id for a in worth_redelivering(attempts, SINCE)] == expected


PLANS = [
    ("everything", ["*"], False, ListingPlan(everything=True)),
    ("wildcard owner lists everything", ["ac*/widgets"], False, ListingPlan(everything=True)),
    ("everything wins over owners", ["acme/*", "*"], False, ListingPlan(everything=True)),
    ("one owner", ["acme/*"], False, ListingPlan(namespaces=frozenset({"acme"}))),
    ("owner case folded", ["ACME/w*"], False, ListingPlan(namespaces=frozenset({"acme"}))),
    ("two owners, one listing each", ["acme/*", "other/a*"], False,
     ListingPlan(namespaces=frozenset({"acme", "other"}))),
    ("exact repository costs no listing", ["acme/widgets"], False, ListingPlan(exact=frozenset({"acme/widgets"}))),
    ("exact repository inside a listed owner", ["acme/*", "acme/widgets", "x/y"], False,
     ListingPlan(namespaces=frozenset({"acme"}), exact=frozenset({"x/y"}))),
    ("GitHub: only the owner is listed", ["group/sub/*"], False, ListingPlan(namespaces=frozenset({"group"}))),
    ("GitLab: the deepest literal group", ["group/sub/*"], True, ListingPlan(namespaces=frozenset({"group/sub"}))),
    ("GitLab: a subgroup inside a listed group", ["group/*", "group/sub/*"], True,
     ListingPlan(namespaces=frozenset({"group"}))),
    ("GitLab: wildcard in the middle", ["group/s*/x"], True, ListingPlan(namespaces=frozenset({"group"}))),
    ("GitLab: sibling subgroups", ["g/a/*", "g/b/*"], True, ListingPlan(namespaces=frozenset({"g/a", "g/b"}))),
    ("no globs, no listing", [], False, ListingPlan()),
]


@pytest.mark.parametrize("globs,nested,expected", [c[1:] for c in PLANS], ids=[c[0] for c in PLANS])
def test_listing_plan(globs: list[str], nested: bool, expected: ListingPlan) -> None:
    assert listing_plan(globs, nested=nested) == expected


INTERVALS = [
    ("default five minutes", "5m", 300.0),
    ("seconds", "90s", 90.0),
    ("hours and minutes", "1h30m", 5400.0),
    ("zero is off", "0", 0.0),
    ("zero with a unit is off", "0m", 0.0),
]


@pytest.mark.parametrize("text,seconds", [c[1:] for c in INTERVALS], ids=[c[0] for c in INTERVALS])
def test_repair_interval(text: str, seconds: float) -> None:
    settings = IntakeSettings(repair_interval=text)
    assert settings.check() == [] and settings.repair_seconds == seconds


@pytest.mark.parametrize("text", ["5 minutes", "", "-1m", "m"], ids=["words", "empty", "negative", "no number"])
def test_bad_repair_interval(text: str) -> None:
    assert [key for key, _ in IntakeSettings(repair_interval=text).check()] == ["repair_interval"]
