"""The audit trail: every command prowlet handled — who, what, where, when, and how it ended.

Appended by the dispatcher where it counts commands for metrics, kept as a capped history in the
state store (shared by replicas on Redis), read by the dashboard's ``/audit`` page.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from bot.store.base import StateStore, StoreUnavailable

log = structlog.get_logger("prowlet.audit")

NAMESPACE = "audit.commands"
KEEP = 1000  # entries kept; older ones drop off
MAX_ARGS = 200  # characters of a command's arguments kept (a comment may be long)


@dataclass(frozen=True)
class AuditEntry:
    at: float
    user: str
    command: str
    args: str
    forge: str
    repo: str
    number: int
    outcome: str  # done | refused | failed

    @classmethod
    def of(cls, data: dict[str, Any]) -> AuditEntry:
        return cls(**{name: data.get(name, "") for name in cls.__dataclass_fields__})


def clip(text: str, limit: int = MAX_ARGS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AuditTrail:
    def __init__(self, store: StateStore, keep: int = KEEP) -> None:
        self._store = store
        self._keep = keep

    async def record(self, *, user: str, command: str, args: str, forge: str, repo: str, number: int,
                     outcome: str) -> None:
        """Never fails the command: a store that cannot take the entry costs the entry, logged."""
        entry = AuditEntry(time.time(), user, command, clip(args), forge, repo, number, outcome)
        try:
            await self._store.append(NAMESPACE, asdict(entry), self._keep)
        except StoreUnavailable as err:
            log.warning("audit entry not stored", command=command, error=str(err))

    async def recent(self, limit: int = 200) -> list[AuditEntry]:
        return [AuditEntry.of(data) for data in await self._store.recent(NAMESPACE, limit)]
