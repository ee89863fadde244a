"""Gathering a channel's messages into one digest (quiet hours, batching), durably.

A channel's gathered messages are one record in the state store (``Pending``).  Only the outbox
worker changes it, while it handles that channel's entries — which the outbox hands out one at a
time per channel across every replica — so there is one writer and no lost update.  A record holds
at most ``keep`` messages in full; beyond that it counts them ("… and 37 more"), so a long quiet
night stays bounded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from bot.notify.message import Message

NS = "notify.digest"
KEEP_TTL = 30 * 86400.0  # a record outlives any quiet night or batch window
DEFAULT_KEEP = 20  # messages kept in full when a channel has quiet hours but no batch settings


@dataclass
class Pending:
    since: float  # when the first message was gathered
    messages: list[Message] = field(default_factory=list)
    more: int = 0  # gathered beyond ``keep``: counted, not kept
    last_key: str = ""  # the last message gathered: a re-run of its entry does not add it twice

    @property
    def count(self) -> int:
        return len(self.messages) + self.more

    def add(self, msg: Message, keep: int) -> bool:
        """False when ``msg`` is already in (its outbox entry ran again after a crash)."""
        if msg.key == self.last_key or any(m.key == msg.key for m in self.messages):
            return False
        if len(self.messages) < keep:
            self.messages.append(msg)
        else:
            self.more += 1
        self.last_key = msg.key
        return True

    def to_store(self) -> dict[str, Any]:
        return {"since": self.since, "more": self.more, "last_key": self.last_key,
                "messages": [[m.key, m.title, m.text, m.link, m.outcome, m.data] for m in self.messages]}

    @classmethod
    def from_store(cls, data: Any) -> Pending | None:
        try:
            return cls(float(data["since"]), [Message(*m) for m in data["messages"]], int(data["more"]),
                       str(data["last_key"]))
        except (KeyError, TypeError, ValueError):
            return None


def digest(channel: str, pending: Pending) -> Message:
    """One message saying what the gathered ones said; its key is the same however often it is
    built from the same record (the receiver's de-duplication key, as for single messages)."""
    first = pending.messages[0].key if pending.messages else str(pending.since)
    key = f"{channel}:digest:{hashlib.sha256(f'{first}:{pending.since}'.encode()).hexdigest()[:16]}"
    lines = [f"• {m.text}" + (f" ({m.link})" if m.link and m.link not in m.text else "") for m in pending.messages]
    if pending.more:
        lines.append(f"… and {pending.more} more")
    n = pending.count
    return Message(key=key, title=f"prowlet: {n} notification{'s' if n != 1 else ''}", text="\n".join(lines),
                   outcome="Digest", data={"count": n, "more": pending.more,
                                           "messages": [m.data for m in pending.messages]})
