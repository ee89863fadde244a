""""Merge blocked for long": a change with the labels to merge that has waited too long for the rest.

The first pass that sees a change label-ready (not a draft, required labels on, forbidden ones off)
but not ready records when, per head commit, in the state store; a pass ``after`` seconds later
announces ``MergeBlocked`` with the merge status's reason — once per head commit, guarded by the
store (``put_if_absent``) so neither a retried pass nor a replica says it twice.  A change that stops
being label-ready starts its clock again when it is label-ready once more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.forge.base import PullState
from bot.merge.readiness import MergeRules, Verdict
from bot.outcomes import MergeBlocked
from bot.store.base import StateStore

SINCE = "merge-blocked-since"
ANNOUNCED = "merge-blocked-announced"
KEEP = 90 * 86400  # longer than a change usually waits


def label_ready(pull: PullState, rules: MergeRules) -> bool:
    item = pull.item
    labels = {label.lower() for label in item.labels}
    return (not item.draft and all(label.lower() in labels for label in rules.require_labels)
            and not any(label.lower() in labels for label in rules.forbid_labels))


def due(since: float, now: float, after: float) -> bool:
    return after > 0 and now - since >= after


class BlockedWatch:
    def __init__(self, state: StateStore, rules: MergeRules, after: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.rules = rules
        self.after = after  # seconds; 0: off
        self.clock = clock

    async def check(self, forge: str, repo: str, pull: PullState, verdict: Verdict,
                    about: dict[str, Any]) -> MergeBlocked | None:
        """The outcome to announce now, if any."""
        if self.after <= 0:
            return None
        item = pull.item
        key = f"{forge}:{repo.lower()}:{item.ref.number}"
        if verdict.ready or not label_ready(pull, self.rules):
            if await self.state.get(SINCE, key) is not None:
                await self.state.delete(SINCE, key)
            return None
        sha = item.head_sha or ""
        now = self.clock()
        seen = await self.state.get(SINCE, key)
        if not isinstance(seen, dict) or seen.get("sha") != sha:
            await self.state.put(SINCE, key, {"sha": sha, "since": now}, ttl=KEEP)
            return None
        since = float(seen["since"])
        if not due(since, now, self.after):
            return None
        if not await self.state.put_if_absent(ANNOUNCED, f"{key}:{sha}", True, ttl=KEEP):
            return None
        return MergeBlocked(forge, repo, item.ref.number, sha, verdict.description, int(now - since), **about)
