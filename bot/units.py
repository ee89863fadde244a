"""The config's units: durations ("90s", "1h30m") and sizes ("512M"), shared by every section."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_SIZE = re.compile(r"(\d+)([KMG]?)", re.IGNORECASE)
OFF_DURATION = re.compile(r"0+[hms]?")  # "0", "0s", "0m" ...: a duration switched off


def parse_duration(text: str) -> float | None:
    """"90s", "30m", "1h30m", "30d" → seconds; None when malformed or zero."""
    match = _DURATION.fullmatch(text.strip()) if text.strip() else None
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    return float(total) or None


def parse_size(text: str) -> int | None:
    """"512M", "4G", "100K", "1048576" → bytes (K/M/G are powers of 1024); None when malformed or zero."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        return None
    return int(match.group(1)) * 1024 ** " KMG".index(match.group(2).upper() or " ") or None
