"""What merge automation remembers, in the durable state store (shared by replicas on Redis).

Without it a restart forgets the repositories in scope, re-writes every PR's merge status, asks the
forge again for every PR's mergeability, and retries merges the forge already refused.  Keys are
plain strings joined with "|" (repository paths never contain one); entries that describe a commit
expire, so the store does not grow with history.

The lease makes one pass per repository run at a time across replicas; a replica that finds it
taken marks the repository dirty, and the holder runs one more pass before it lets go.
"""

from __future__ import annotations

import time
from typing import Any

from bot.forge.base import CommitStatus, Mergeability, StatusState
from bot.store.base import StateStore

PER_COMMIT_TTL = 14 * 86400  # statuses written, mergeability and refusals of a head sha
HISTORY_KEEP = 500  # passes and merges kept per repository, for the dashboard
MERGES_KEEP = 200  # merges alone, for the dashboard's "last merges"


def _key(*parts: object) -> str:
    return "|".join(str(p) for p in parts)


class MergeState:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._known_repos: set[tuple[str, str]] = set()  # saves a write per event for known ones

    # ---- scope ---------------------------------------------------------------------------
    async def add_repo(self, forge: str, repo: str) -> None:
        if (forge, repo) not in self._known_repos:
            await self._store.put("merge.repos", _key(forge, repo), True)
            self._known_repos.add((forge, repo))

    async def repos(self) -> set[tuple[str, str]]:
        found = set()
        for key in await self._store.items("merge.repos"):
            forge, repo = key.split("|", 1)
            found.add((forge, repo))
        self._known_repos |= found
        return found

    # ---- per commit ----------------------------------------------------------------------
    async def status_written(self, forge: str, repo: str, sha: str) -> str | None:
        return await self._store.get("merge.status", _key(forge, repo, sha))

    async def set_status_written(self, forge: str, repo: str, sha: str, description: str) -> None:
        await self._store.put("merge.status", _key(forge, repo, sha), description, ttl=PER_COMMIT_TTL)

    async def statuses(self, forge: str, repo: str, sha: str) -> list[CommitStatus] | None:
        """The statuses last read for ``sha`` (``bot.merge.statuses``), None when unknown or forgotten."""
        found = await self._store.get("merge.statuses", _key(forge, repo, sha))
        if found is None:
            return None
        return [CommitStatus(c, StatusState(state), d, url) for c, state, d, url in found]

    async def set_statuses(self, forge: str, repo: str, sha: str, statuses: list[CommitStatus], ttl: float) -> None:
        value = [[s.context, s.state.value, s.description, s.target_url] for s in statuses]
        await self._store.put("merge.statuses", _key(forge, repo, sha), value, ttl=ttl)

    async def forget_statuses(self, forge: str, repo: str, sha: str) -> None:
        await self._store.delete("merge.statuses", _key(forge, repo, sha))

    async def mergeable(self, forge: str, repo: str, number: int, head: str, base: str) -> tuple[Mergeability, str] | None:
        found = await self._store.get("merge.mergeable", _key(forge, repo, number, head, base))
        return (Mergeability(found[0]), found[1]) if found else None

    async def set_mergeable(self, forge: str, repo: str, number: int, head: str, base: str,
                            verdict: tuple[Mergeability, str]) -> None:
        await self._store.put("merge.mergeable", _key(forge, repo, number, head, base),
                              [verdict[0].value, verdict[1]], ttl=PER_COMMIT_TTL)

    async def refusal(self, forge: str, repo: str, number: int, sha: str) -> str | None:
        return await self._store.get("merge.refused", _key(forge, repo, number, sha))

    async def refuse(self, forge: str, repo: str, number: int, sha: str, reason: str) -> None:
        await self._store.put("merge.refused", _key(forge, repo, number, sha), reason, ttl=PER_COMMIT_TTL)

    async def forget_refusals(self, forge: str, repo: str, number: int) -> None:
        prefix = _key(forge, repo, number) + "|"
        for key in await self._store.items("merge.refused"):
            if key.startswith(prefix):
                await self._store.delete("merge.refused", key)

    # ---- merges and passes ---------------------------------------------------------------
    async def last_merge(self, forge: str, repo: str, base: str) -> float | None:
        return await self._store.get("merge.last_merge", _key(forge, repo, base))

    async def record_merge(self, forge: str, repo: str, number: int, sha: str, base: str, method: str) -> None:
        now = time.time()
        entry = {"kind": "merge", "at": now, "number": number, "sha": sha, "base": base, "method": method}
        await self._store.put("merge.last_merge", _key(forge, repo, base), now)
        await self._store.append(_key("merge.history", forge, repo), entry, HISTORY_KEEP)
        # Merges on their own too: passes (one a minute or more) would push them out of the history.
        await self._store.append(_key("merge.merges", forge, repo), entry, MERGES_KEEP)

    async def merges(self, forge: str, repo: str, limit: int = 20) -> list[dict[str, Any]]:
        """The newest merges first."""
        return await self._store.recent(_key("merge.merges", forge, repo), limit)

    async def record_pass(self, forge: str, repo: str, seconds: float, open_count: int, ready: list[int],
                          merged: list[int], waiting: dict[int, str]) -> None:
        now = time.time()
        await self._store.put("merge.last_pass", _key(forge, repo), now)
        await self._store.append(_key("merge.history", forge, repo), {
            "kind": "pass", "at": now, "seconds": round(seconds, 3), "open": open_count, "ready": ready,
            "merged": merged, "waiting": {str(n): why for n, why in waiting.items()},
        }, HISTORY_KEEP)

    async def last_pass(self, forge: str, repo: str) -> float | None:
        return await self._store.get("merge.last_pass", _key(forge, repo))

    async def history(self, forge: str, repo: str, limit: int = 50) -> list[dict[str, Any]]:
        return await self._store.recent(_key("merge.history", forge, repo), limit)

    # ---- what the dashboard shows (bot.merge.snapshot) -------------------------------------
    async def save_snapshot(self, forge: str, repo: str, snapshot: dict[str, Any]) -> bool:
        """One write per pass at most, and none when nothing changed; True when it wrote.  Compared
        with the stored one, not a copy in memory: another replica may have written since."""
        if await self._store.get("merge.snapshot", _key(forge, repo)) == snapshot:
            return False
        await self._store.put("merge.snapshot", _key(forge, repo), snapshot)
        return True

    async def snapshot(self, forge: str, repo: str) -> dict[str, Any] | None:
        return await self._store.get("merge.snapshot", _key(forge, repo))

    async def snapshots(self) -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        for key, value in (await self._store.items("merge.snapshot")).items():
            forge, repo = key.split("|", 1)
            found[(forge, repo)] = value
        return found

    # ---- one pass at a time, across replicas -----------------------------------------------
    async def acquire(self, forge: str, repo: str, holder: str, ttl: float) -> int | None:
        return await self._store.acquire(_key("merge", forge, repo), holder, ttl)

    async def release(self, forge: str, repo: str, holder: str) -> None:
        await self._store.release(_key("merge", forge, repo), holder)

    async def mark_dirty(self, forge: str, repo: str) -> None:
        await self._store.put("merge.dirty", _key(forge, repo), True, ttl=3600)

    async def is_dirty(self, forge: str, repo: str) -> bool:
        """Whether another replica asked for a pass while this one held the lease."""
        return await self._store.get("merge.dirty", _key(forge, repo)) is not None

    async def clear_dirty(self, forge: str, repo: str) -> None:
        await self._store.delete("merge.dirty", _key(forge, repo))
