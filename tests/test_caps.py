"""Names per command: distinct (case-insensitive, first spelling kept), the first ``cap`` acted on."""

from __future__ import annotations

import pytest

from bot.caps import capped, over_cap

CAPPED = [
    ("under", ["a", "b"], 3, ["a", "b"], []),
    ("exactly", ["a", "b", "c"], 3, ["a", "b", "c"], []),
    ("over", ["a", "b", "c", "d"], 2, ["a", "b"], ["c", "d"]),
    ("duplicates count once", ["a", "A", "a", "b"], 2, ["a", "b"], []),
    ("first spelling kept", ["Pipeline", "pipeline", "PIPELINE"], 10, ["Pipeline"], []),
    ("empty", [], 5, [], []),
]


@pytest.mark.parametrize("names,cap,kept,left_out", [c[1:] for c in CAPPED], ids=[c[0] for c in CAPPED])
def test_capped(names: list[str], cap: int, kept: list[str], left_out: list[str]) -> None:
    assert capped(names, cap) == (kept, left_out)


def test_over_cap_names_the_cap_and_counts_the_rest() -> None:
    text = over_cap([f"u{i}" for i in range(8)], 10, "users")
    assert text.startswith("I act on at most 10 users per command, so I left out `u0`, ")
    assert "(3 more)" in text
