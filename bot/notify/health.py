"""How each notification channel is doing: its last success, last failure and the error it gave.

Kept in memory by the process that posts (each replica knows its own posts: metrics on scrape), and
copied to the state store after each post, so the dashboard of any replica shows the newest word on
every channel whichever replica posted.  A channel is failing when its last post failed."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelHealth:
    last_success: float | None = None  # epoch seconds
    last_failure: float | None = None
    last_error: str = ""  # never the URL: errors are said without it (bot.notify.outbox.DeliveryFailed)
    failures_in_a_row: int = 0

    @property
    def failing(self) -> bool:
        return self.failures_in_a_row > 0

    def to_store(self) -> dict[str, object]:
        return {"ok": self.last_success, "failed": self.last_failure, "error": self.last_error,
                "in_a_row": self.failures_in_a_row}

    @classmethod
    def from_store(cls, data: object) -> ChannelHealth:
        if not isinstance(data, dict):
            return cls()
        return cls(last_success=data.get("ok"), last_failure=data.get("failed"), last_error=str(data.get("error") or ""),
                   failures_in_a_row=int(data.get("in_a_row") or 0))


class HealthBook:
    def __init__(self, channels: list[str]) -> None:
        self._by_channel = {name: ChannelHealth() for name in channels}

    def succeeded(self, channel: str, now: float | None = None) -> None:
        self._by_channel[channel] = ChannelHealth(last_success=time.time() if now is None else now,
                                                  last_failure=self._get(channel).last_failure,
                                                  last_error=self._get(channel).last_error)

    def failed(self, channel: str, error: str, now: float | None = None) -> None:
        old = self._get(channel)
        self._by_channel[channel] = ChannelHealth(last_success=old.last_success,
                                                  last_failure=time.time() if now is None else now,
                                                  last_error=error[:300], failures_in_a_row=old.failures_in_a_row + 1)

    def _get(self, channel: str) -> ChannelHealth:
        return self._by_channel.get(channel, ChannelHealth())

    def snapshot(self) -> dict[str, ChannelHealth]:
        return dict(self._by_channel)

    def get(self, channel: str) -> ChannelHealth:
        return self._get(channel)
