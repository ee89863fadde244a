"""What the trigger plugin acts through: configured jobs, the built-in runner, the forge's own CI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.ci.jobs import JobSpec
from bot.ci.native import NativeCI
from bot.ci.runner import Runner
from bot.events import ItemRef
from bot.forge.layered import AsyncForge


class AsyncNativeCI:
    """A forge's native CI, its blocking calls run on that forge's thread pool."""

    def __init__(self, native: NativeCI, forge: AsyncForge) -> None:
        self._native = native
        self._forge = forge
        self.name = native.name

    async def retest(self, ref: ItemRef, head_sha: str) -> list[str]:
        return await self._forge.offload(self._native.retest, ref, head_sha)

    async def run(self, ref: ItemRef, head_sha: str, name: str) -> str | None:
        return await self._forge.offload(self._native.run, ref, head_sha, name)

    async def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        return await self._forge.offload(self._native.names, ref, head_sha)


@dataclass
class CIServices:
    runner: Runner | None = None
    jobs: Sequence[JobSpec] = ()
    native: Mapping[str, AsyncNativeCI] = field(default_factory=dict)  # by forge name
    # How an alias's HTTP action is sent; None: bot.aliases.http.call (prowlet simulate records it).
    http_call: Callable[..., Awaitable[Any]] | None = None

    def jobs_for(self, repo: str) -> list[JobSpec]:
        return [job for job in self.jobs if job.applies_to(repo)]
