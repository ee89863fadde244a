"""How many names one command may carry: each name can cost a forge request, so a single comment
must not be able to spend the budget (or notify a thousand people).

Beyond the cap the extra names are left out and the reply says so; the first ones are acted on.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.replies import listing

USERS_PER_COMMAND = 10  # /assign /unassign /cc /uncc
LABELS_PER_COMMAND = 20  # /label /remove-label /kind ... /remove-kind ...
JOBS_PER_COMMAND = 10  # /test


def capped(names: Sequence[str], cap: int) -> tuple[list[str], list[str]]:
    """The first ``cap`` distinct names (case-insensitive, first spelling kept), and the rest."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(name.lower(), name)
    distinct = list(first.values())
    return distinct[:cap], distinct[cap:]


def over_cap(left_out: Sequence[str], cap: int, what: str) -> str:
    """The reply's sentence about names left out."""
    return (f"I act on at most {cap} {what} per command, so I left out {listing(left_out, 5)}; "
            "name them in another command.")
