"""A PR head's statuses, remembered between passes, so that a warm pass does not read them again.

A pass evaluates every PR whose labels qualify, and reading a head's statuses costs a request on
GitLab and two on GitHub (statuses and check runs): at 1,000 open PRs, hundreds a pass.  What was
read for a head sha is kept in the state store (shared by replicas) and used again only while it
says the PR must wait — some status other than prowlet's own and the optional jobs' has not
succeeded.  Such an answer can only turn into a merge through CI reporting on that sha, and every
report forgets it (``forget``: a status, check suite or run, or pipeline webhook).  An answer that
would let the PR through is never taken from memory: it is read again, so a merge never rests on a
remembered status.  A report lost on the way is covered by age: an entry is read again after
``REFRESH`` seconds, jittered so that the entries a first pass made do not all expire in one pass.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from bot.forge.base import CommitStatus, StatusState
from bot.forge.layered import AsyncForge
from bot.merge.state import MergeState

REFRESH = 3600.0  # seconds: the safety net for a lost webhook (prowlet also redelivers missed ones)
REFRESH_JITTER = 0.5  # an entry lives REFRESH × (1 … 1 + REFRESH_JITTER)


def keeps_waiting(statuses: Collection[CommitStatus], exempt: Collection[str]) -> bool:
    """Whether these statuses hold the PR back whatever else is true: one that counts has not
    succeeded.  Only such an answer may be reused; CI must report for it to change."""
    return any(s.context not in exempt and s.state is not StatusState.SUCCESS for s in statuses)


class StatusMemo:
    def __init__(self, state: MergeState, refresh: float = REFRESH) -> None:
        self._state = state
        self._refresh = refresh

    async def read(self, forge: AsyncForge, repo: str, sha: str, exempt: Collection[str]) -> list[CommitStatus]:
        """The statuses of ``sha``: remembered if they hold the PR back, else read from the forge."""
        remembered = await self._state.statuses(forge.name, repo, sha)
        if remembered is not None and keeps_waiting(remembered, exempt):
            return remembered
        statuses = await forge.list_statuses(repo, sha)
        ttl = self._refresh * (1 + random.uniform(0, REFRESH_JITTER))
        await self._state.set_statuses(forge.name, repo, sha, statuses, ttl)
        return statuses

    async def forget(self, forge: str, repo: str, sha: str) -> None:
        """CI reported on ``sha``: its next read asks the forge."""
        await self._state.forget_statuses(forge, repo, sha)
