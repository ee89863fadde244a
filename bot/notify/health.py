"""How each notification channel is doing: its last success, last failure and the error it gave.

Kept in memory by the process that posts (each replica knows its own posts); read by metrics on
scrape and, later, by the dashboard.  A channel is failing when its last post failed."""

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
