"""Which merge statuses a pass writes first, when it may not write them all.

On the first pass over a repository every open PR needs prowlet's merge status: 1,000 writes at
1,000 open PRs, when GitHub allows 80 content-creating requests a minute and 500 an hour.  The
write budget (``bot.forge.budget``) would pace them without a limit error, but the pass would sit
behind them for hours and hold up its merges.  So a pass writes at most
``merge.status_writes_per_pass`` of them, and no more than the write budget can spare at once
while half of every window stays free (``STATUS_BUDGET_KEEP``: commands' writes are never queued
behind statuses), the most useful first, and leaves the rest to the passes after it (each writes
only what is still missing or changed):

1. PRs in the merge pool (their authors are waiting for the merge);
2. PRs with every required label (reviewed: what they wait for is news to someone);
3. the rest, newest first (more likely to be looked at than a PR opened years ago).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TypeVar

from bot.forge.base import PullState
from bot.merge.readiness import Verdict

T = TypeVar("T", bound=tuple[PullState, Verdict])
STATUS_BUDGET_KEEP = 0.5  # the share of every write-budget window merge statuses leave to others


def by_relevance(entries: Iterable[T], require_labels: Collection[str]) -> list[T]:
    """``entries`` (a PR and its verdict) in the order their statuses should be written."""
    wanted = {label.lower() for label in require_labels}

    def rank(entry: T) -> tuple[int, int]:
        pull, verdict = entry
        labelled = wanted <= {label.lower() for label in pull.item.labels}
        return (0 if verdict.ready else 1 if labelled else 2, -pull.item.ref.number)

    return sorted(entries, key=rank)
