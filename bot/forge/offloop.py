"""Off-loop execution: the bottom layer of the forge client, running the blocking adapter.

The SDKs (PyGithub, python-gitlab) are synchronous.  ``OffLoop`` runs each call on a bounded thread
pool, so the event loop keeps acknowledging webhooks while forge calls are in flight.  The pool
size also caps concurrent requests per forge (GitHub's secondary limit: 100 concurrent).

``AsyncForge`` (the client plugins see, with the other layers above this one) lives in
``bot.forge.layered``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from bot.forge.base import ForgeClient
from bot.forge.layers import Call

P = ParamSpec("P")
T = TypeVar("T")


class OffLoop:
    """Runs ``Call``s against the adapter on this forge's thread pool."""

    def __init__(self, client: ForgeClient, max_workers: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{client.name}-api")

    async def __call__(self, call: Call) -> Any:
        target = call.target or getattr(self._client, call.method)
        return await self.run(target, *call.args, **call.kwargs)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Any blocking call on this forge's pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

