"""Liveness and readiness.

``/healthz`` (bot/intake.py) says the process answers: a restart would not help otherwise.
``/readyz`` says whether this replica should get traffic: at least one forge enabled, each enabled
forge's credentials accepted (``whoami``, at start-up and every CHECK_EVERY seconds, off the request
path) and the store reachable (its stats, read on each probe: one cheap query).  503 with a JSON body
that says what is wrong, so an operator reading the probe's failure knows where to look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

import orjson
import structlog
from aiohttp import web

from bot.forge.base import ForgeError
from bot.store import StoreUnavailable

if TYPE_CHECKING:
    from bot.forge.layered import AsyncForge
    from bot.store.base import EventQueue

log = structlog.get_logger("prowlet.ready")

CHECK_EVERY = 300.0  # s between credential checks (one cheap call per forge)
CHECK_TIMEOUT = 15.0  # s a check may take before it counts as failed
NOT_CHECKED = "credentials not checked yet"


class Readiness:
    def __init__(self, forges: Mapping[str, AsyncForge], events: EventQueue) -> None:
        self._forges = forges
        self._events = events
        # forge → None when its credentials were accepted, else what is wrong
        self.credentials: dict[str, str | None] = {name: NOT_CHECKED for name in forges}

    async def check_credentials(self) -> None:
        for name, forge in self._forges.items():
            forge.forget("whoami")  # cached for ever otherwise; the check must ask the forge
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    login = await forge.whoami()
            except (ForgeError, TimeoutError) as err:
                problem = f"credentials check failed: {type(err).__name__}: {err}"
                if self.credentials.get(name) != problem:
                    log.error("forge credentials check failed", forge=name, error=str(err) or type(err).__name__)
                self.credentials[name] = problem
                continue
            if self.credentials.get(name) is not None:
                log.info("forge credentials accepted", forge=name, login=login)
            self.credentials[name] = None

    async def check_forever(self) -> None:
        while True:
            await self.check_credentials()
            await asyncio.sleep(CHECK_EVERY)

    async def problems(self) -> list[str]:
        found = [] if self._forges else ["no forge is enabled (see the start-up log for what is missing)"]
        found += [f"{name}: {problem}" for name, problem in sorted(self.credentials.items()) if problem]
        try:
            await self._events.stats(0)
        except StoreUnavailable as err:
            found.append(f"store unavailable: {err}")
        return found

    async def readyz(self, request: web.Request) -> web.Response:
        problems = await self.problems()
        body = {"ready": not problems, "problems": problems,
                "forges": {name: problem or "ok" for name, problem in sorted(self.credentials.items())}}
        return web.Response(status=503 if problems else 200, body=orjson.dumps(body), content_type="application/json")
