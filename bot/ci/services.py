"""What the trigger plugin acts through: configured jobs, the built-in runner, the forge's own CI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.ci import native as native_ci
from bot.ci.jobs import JobSpec
from bot.ci.native import NativeCI
from bot.ci.runner import Runner
from bot.events import ItemRef
from bot.forge.layered import AsyncForge

T = TypeVar("T")


class AsyncNativeCI:
    """A forge's native CI through that forge's client: its reads and each of its writes go down
    the client's layers (``AsyncForge.native_ci``), so a burst of /retest keeps to the write
    budget, is metered, and a failed read is retried like any other."""

    def __init__(self, native: NativeCI, forge: AsyncForge) -> None:
        self._native = native
        self._forge = forge
        self.name = native.name

    async def retest(self, ref: ItemRef, head_sha: str) -> list[str]:
        return await native_ci.retest(self._native, ref, head_sha, read=self._read, write=self._write)

    async def run(self, ref: ItemRef, head_sha: str, name: str) -> str | None:
        return await native_ci.run(self._native, ref, head_sha, name, read=self._read, write=self._write)

    async def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        return await self._read(self._native.names, ref, head_sha)

    async def _read(self, fn: Callable[..., T], ref: ItemRef, *args: Any) -> T:
        return await self._forge.native_ci("native_ci_read", fn, ref, *args)

    async def _write(self, fn: Callable[..., T], ref: ItemRef, *args: Any) -> T:
        return await self._forge.native_ci("native_ci_rerun", fn, ref, *args)


@dataclass
class CIServices:
    runner: Runner | None = None
    jobs: Sequence[JobSpec] = ()
    native: Mapping[str, AsyncNativeCI] = field(default_factory=dict)  # by forge name
    # How an alias's HTTP action is sent; None: bot.aliases.http.call (prowlet simulate records it).
    http_call: Callable[..., Awaitable[Any]] | None = None

    def jobs_for(self, repo: str) -> list[JobSpec]:
        return [job for job in self.jobs if job.applies_to(repo)]
