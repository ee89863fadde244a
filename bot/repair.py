"""Ask the forges again for webhooks that never reached prowlet.

GitHub never redelivers a failed delivery by itself and GitLab gives up after a few tries, so a
command sent while prowlet was down or unreachable is lost unless someone asks for it again.  The
``Repairer`` does, at start-up and then every ``intake.repair_interval``: per enabled forge it finds
the bot's own hooks (those whose URL is ``PROWLET_PUBLIC_URL/hook/<forge>``), lists their recent
delivery attempts, and asks the forge to redeliver each delivery whose latest attempt failed and that
prowlet has not handled anyway (``already_handled``: intake's record of delivery ids).

Cost per pass: one listing of recent deliveries per hook of ours (a GitHub App: one for everything),
paging stops at the look-back; plus one request per redelivery.  Finding the hooks (the App hook; else
every repository the bot can see, their owners' / groups' hooks and the repositories' hooks) is done at
the first pass and then once every ``HOOK_REFRESH`` seconds, not every pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from bot.forge.base import (
    DeliveryAttempt,
    ForbiddenError,
    ForgeError,
    Hook,
    HookLevel,
    HookScope,
    NotFoundError,
    RateLimitedError,
)
from bot.forge.layered import AsyncForge
from bot.tasks import cancel_and_wait

log = structlog.get_logger("prowlet.repair")

AlreadyHandled = Callable[[str, str], Awaitable[bool]]  # (forge, delivery id) → handled already?

START_UP_LOOK_BACK = timedelta(days=3)  # GitHub redelivers only deliveries of the last 3 days
CLOCK_MARGIN = timedelta(minutes=2)  # the forge's clock and ours may disagree a little
HOOK_REFRESH = 3600.0  # seconds between looking for the bot's hooks (and repositories) again
MAX_REDELIVERIES = 3  # per delivery: one prowlet keeps refusing is not asked for forever


def worth_redelivering(attempts: Iterable[DeliveryAttempt], since: datetime) -> list[DeliveryAttempt]:
    """The latest attempt of each delivery whose latest attempt failed at or after ``since``, oldest
    first (the order people acted in).  A later attempt of the same delivery that succeeded (a
    redelivery, or GitLab's own retry) settles it; at equal times a success wins."""
    latest: dict[str, DeliveryAttempt] = {}
    for attempt in attempts:
        current = latest.get(attempt.delivery_id)
        if current is None or (attempt.at, attempt.ok) > (current.at, current.ok):
            latest[attempt.delivery_id] = attempt
    failed = [a for a in latest.values() if not a.ok and a.at >= since]
    return sorted(failed, key=lambda a: a.at)


@dataclass
class _Hooks:
    hooks: list[Hook]
    found_at: float  # monotonic


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Repairer:
    def __init__(
        self,
        forges: Mapping[str, AsyncForge],
        public_url: str,
        already_handled: AlreadyHandled,
        interval: float,
        *,
        hook_refresh: float = HOOK_REFRESH,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._forges = forges
        self._urls = {name: f"{public_url.rstrip('/')}/hook/{name}" for name in forges}
        self._already_handled = already_handled
        self.interval = interval
        self._hook_refresh = hook_refresh
        self._clock = clock
        self._started = clock()
        self._hooks: dict[str, _Hooks] = {}
        self._since: dict[tuple[str, Hook], datetime] = {}  # per hook: every failure before is dealt with
        self._asked: dict[tuple[str, str], int] = {}  # (forge, delivery id) → redeliveries asked for
        self._unreadable: set[tuple[str, HookScope]] = set()  # scopes already logged as unreadable
        self._task: asyncio.Task[None] | None = None
        self._first_pass = asyncio.Event()

    # ---- scheduling ------------------------------------------------------------------------

    def start(self) -> None:
        """The first pass now (start-up repair), then one every ``interval``.  Off when 0."""
        if self.interval > 0 and self._forges:
            self._task = asyncio.get_running_loop().create_task(self._every_interval())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    async def idle(self) -> None:
        """Wait until the start-up pass is over (for tests and tools)."""
        if self._task is not None:
            await self._first_pass.wait()

    async def _every_interval(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval)

    # ---- one pass ----------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One pass over every forge; returns how many redeliveries were asked for.  A forge that
        fails is logged and left for the next pass; the others go on."""
        asked = 0
        for name, forge in self._forges.items():
            try:
                asked += await self._repair(name, forge)
            except ForgeError as err:
                log.warning("repair pass failed; trying again next pass", forge=name, error=str(err))
            except Exception:
                log.exception("repair pass crashed", forge=name)
        self._first_pass.set()
        return asked

    async def _repair(self, name: str, forge: AsyncForge) -> int:
        asked = 0
        for hook in await self._our_hooks(name, forge):
            asked += await self._repair_hook(name, forge, hook)
        return asked

    async def _repair_hook(self, name: str, forge: AsyncForge, hook: Hook) -> int:
        now = self._clock()
        since = max(self._since.get((name, hook), self._started - START_UP_LOOK_BACK), now - START_UP_LOOK_BACK)
        attempts = await forge.hook_deliveries(hook, since - CLOCK_MARGIN)
        asked, settled = 0, True
        for attempt in worth_redelivering(attempts, since - CLOCK_MARGIN):
            key = (name, attempt.delivery_id)
            if self._asked.get(key, 0) >= MAX_REDELIVERIES or await self._already_handled(name, attempt.delivery_id):
                continue
            try:
                await forge.redeliver(hook, attempt.attempt_id)
            except RateLimitedError as err:  # GitLab: 5 resends a minute per hook; the rest next pass
                log.info("redeliveries paused by the forge's rate limit", forge=name, error=str(err))
                settled = False
                break
            except ForgeError as err:
                log.warning("redelivery refused", forge=name, delivery=attempt.delivery_id, error=str(err))
                settled = False
            else:
                asked += 1
                log.info("redelivery requested", forge=name, delivery=attempt.delivery_id, event_type=attempt.event,
                         failed_at=attempt.at.isoformat(), status=attempt.status)
            self._asked[key] = self._asked.get(key, 0) + 1
        if settled:  # else the same window is read again next pass
            self._since[(name, hook)] = now
        return asked

    # ---- finding the bot's hooks -------------------------------------------------------------

    async def _our_hooks(self, name: str, forge: AsyncForge) -> list[Hook]:
        cached = self._hooks.get(name)
        if cached is not None and time.monotonic() - cached.found_at < self._hook_refresh:
            return cached.hooks
        hooks = await self._find_our_hooks(name, forge)
        self._hooks[name] = _Hooks(hooks, time.monotonic())
        if not hooks:
            log.info("no hook of this prowlet found; nothing to repair", forge=name, url=self._urls[name])
        return hooks

    async def _find_our_hooks(self, name: str, forge: AsyncForge) -> list[Hook]:
        url = self._urls[name]
        for scope in forge.hook_scopes([]):  # the App's hook, if any, covers every installation
            found = await self._find(name, forge, scope, url)
            if found:
                return found
        repos = await forge.list_repos(["*"])
        hooks: list[Hook] = []
        covered: list[str] = []  # organisations / groups whose hook of ours covers their repositories
        for scope in forge.hook_scopes(repos):
            if scope.level is HookLevel.APP:
                continue
            if scope.level is HookLevel.REPO and any(scope.name.lower().startswith(f"{c}/") for c in covered):
                continue
            found = await self._find(name, forge, scope, url)
            hooks += found
            if found and scope.level is HookLevel.ORG:
                covered.append(scope.name.lower())
        return hooks

    async def _find(self, name: str, forge: AsyncForge, scope: HookScope, url: str) -> list[Hook]:
        try:
            return await forge.find_hooks(scope, url)
        except (ForbiddenError, NotFoundError) as err:
            if (name, scope) not in self._unreadable:  # once per scope, not every refresh
                self._unreadable.add((name, scope))
                log.warning("cannot read hooks here: missed deliveries to a hook here are not repaired",
                            forge=name, level=scope.level.value, scope=scope.name, error=str(err))
            return []
