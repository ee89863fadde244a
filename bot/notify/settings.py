"""What the config's ``notify:`` section says (README "Notifications"): channels, routes, quiet
hours and batching.  Checked by bot.options like every other section."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.notify.quiet import QuietWindow, parse_clock, zone
from bot.outcomes import OUTCOME_TYPES
from bot.units import OFF_DURATION, parse_duration

NOTIFY_KINDS = ("slack", "dingtalk", "feishu", "wecom", "teams", "webhook")  # bot.notify.services
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours when a channel's messages wait and go out as one digest afterwards."""

    from_: str = field(default="", metadata={"key": "from"})  # "22:00"
    to: str = ""  # "07:00" (may be earlier than from: across midnight)
    tz: str = "UTC"  # an IANA time zone, e.g. Europe/Berlin

    def window(self) -> QuietWindow:
        start, end, tz = parse_clock(self.from_), parse_clock(self.to), zone(self.tz)
        assert start is not None and end is not None and tz is not None, "check() first"
        return QuietWindow(start, end, tz)

    def check(self) -> list[tuple[str, str]]:
        problems = [(key, f"expected a time of day such as 22:00, got {value!r}")
                    for key, value in (("from", self.from_), ("to", self.to)) if parse_clock(value) is None]
        if not problems and parse_clock(self.from_) == parse_clock(self.to):
            problems.append(("to", "must differ from `from`"))
        if zone(self.tz) is None:
            problems.append(("tz", f"unknown time zone {self.tz!r} (an IANA name such as Europe/Berlin)"))
        return problems


@dataclass(frozen=True)
class NotifyBatch:
    """Messages of a channel gathered for ``window`` seconds and sent as one digest (at most ``max``)."""

    window: int = 300  # seconds from the first message of a digest
    max: int = 20  # a digest goes out at once when it holds this many

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.window < 1:
            problems.append(("window", "must be at least 1 second"))
        if self.max < 2:
            problems.append(("max", "must be at least 2"))
        return problems


@dataclass(frozen=True)
class NotifyChannel:
    """One chat channel (README "Notifications").  URLs and secrets are credentials: the config names
    the environment variables that hold them, never the values."""

    kind: str = ""  # slack | dingtalk | feishu | wecom | teams | webhook
    url_env: str = ""  # the variable holding the webhook URL
    secret_env: str = ""  # the variable holding the signing secret (dingtalk, feishu: optional; webhook: required)
    keyword: str = ""  # dingtalk/feishu keyword rule: added to a message that lacks it
    template: str = ""  # e.g. "{summary} {url}"; "": "{summary}"
    quiet_hours: QuietHours | None = None  # {from: "22:00", to: "07:00", tz: Europe/Berlin}: wait, then one digest
    batch: NotifyBatch | None = None  # {window: 300, max: 20}: one digest instead of many messages

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.kind not in NOTIFY_KINDS:
            problems.append(("kind", f"must be one of {', '.join(NOTIFY_KINDS)}, got {self.kind!r}"))
        if not _ENV_NAME.fullmatch(self.url_env):
            problems.append(("url_env", "name the environment variable holding the webhook URL"))
        if self.secret_env and not _ENV_NAME.fullmatch(self.secret_env):
            problems.append(("secret_env", f"not an environment variable name: {self.secret_env!r}"))
        if self.kind == "webhook" and not self.secret_env:
            problems.append(("secret_env", "a generic webhook is always signed: name the variable holding its secret"))
        return problems


@dataclass(frozen=True)
class NotifyRoute:
    """Outcomes matching every condition given go to ``channels``.  Lists are "any of"; empty: any."""

    repos: list[str] = field(default_factory=lambda: ["*"])  # globs over owner/repo or group/.../project
    outcomes: list[str] = field(default_factory=list)  # outcome type names, e.g. Merged, JobFinished
    labels: list[str] = field(default_factory=list)  # the change carries at least one of them
    authors: list[str] = field(default_factory=list)  # the change's author is one of them
    paths: list[str] = field(default_factory=list)  # the change touches a file matching one, e.g. "docs/**"
    channels: list[str] = field(default_factory=list)

    def check(self) -> list[tuple[str, str]]:
        problems = [(f"outcomes[{i}]", f"unknown outcome {name!r} (known: {', '.join(OUTCOME_TYPES)})")
                    for i, name in enumerate(self.outcomes) if name not in OUTCOME_TYPES]
        if not self.channels:
            problems.append(("channels", "name at least one channel from notify.channels"))
        return problems


@dataclass(frozen=True)
class NotifySettings:
    channels: dict[str, NotifyChannel] = field(default_factory=dict)
    routes: list[NotifyRoute] = field(default_factory=list)
    max_attempts: int = 8  # a message whose channel keeps failing is retried with backoff, then parked
    retry_after: float = 2.0  # seconds before the first retry; doubled at each one (at most 5 minutes)
    timeout: float = 10.0  # seconds per post
    max_concurrent: int = 8  # posts in flight at once (one per channel at a time: each keeps its order)
    blocked_after: str = "0"  # MergeBlocked once a label-ready PR/MR has waited this long, e.g. "6h"; "0": never

    @property
    def blocked_seconds(self) -> float:
        return 0.0 if OFF_DURATION.fullmatch(self.blocked_after.strip()) else parse_duration(self.blocked_after) or 0.0

    def check(self) -> list[tuple[str, str]]:
        problems = [(f"routes[{i}].channels[{j}]", f"unknown channel {name!r}")
                    for i, route in enumerate(self.routes) for j, name in enumerate(route.channels)
                    if name not in self.channels]
        if self.max_attempts < 1:
            problems.append(("max_attempts", "must be at least 1"))
        if self.max_concurrent < 1:
            problems.append(("max_concurrent", "must be at least 1"))
        if self.timeout <= 0:
            problems.append(("timeout", "must be more than 0"))
        if self.retry_after <= 0:
            problems.append(("retry_after", "must be more than 0"))
        if not OFF_DURATION.fullmatch(self.blocked_after.strip()) and parse_duration(self.blocked_after) is None:
            problems.append(("blocked_after", f"expected a duration such as 6h or 90m, or \"0\" for never, "
                                              f"got {self.blocked_after!r}"))
        return problems
