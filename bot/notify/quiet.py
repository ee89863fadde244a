"""Quiet hours: when a channel's messages wait (gathered into one digest for the morning).

Pure: a daily window ``from``–``to`` of local wall-clock time in an IANA time zone (zoneinfo), which
may cross midnight ("22:00"–"07:00").  ``from`` is inside the window, ``to`` is not.  Daylight
saving moves the window with the local clock, as people expect of "quiet after 22:00".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_clock(text: str) -> time | None:
    """"22:00", "7:30" → a time of day; None when malformed."""
    match = _CLOCK.fullmatch(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time
    tz: ZoneInfo

    def is_quiet(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.tz).time().replace(second=0, microsecond=0)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight


def digest_due(since: float, now: float, window: float, quiet: QuietWindow | None) -> bool:
    """Whether a channel's gathered messages go out now: never during quiet hours; with a batch
    ``window`` (seconds), once it has passed since the first message; without one (quiet hours
    only), as soon as the quiet period is over."""
    if quiet is not None and quiet.is_quiet(now):
        return False
    return now >= since + window if window > 0 else True
