"""A ``NativeCI`` driven as the trigger plugin drives it (``bot.ci.native.retest`` / ``run``), each
read and write made directly on the calling thread: the adapter-level tests of GitHub Actions and
GitLab pipelines, without the forge client's layers (``AsyncNativeCI`` adds them)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.ci import native as native_ci
from bot.ci.native import NativeCI
from bot.events import ItemRef


async def _directly(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class Direct:
    def __init__(self, native: NativeCI) -> None:
        self.native = native
        self.name = native.name

    def retest(self, ref: ItemRef, head_sha: str) -> list[str]:
        return asyncio.run(native_ci.retest(self.native, ref, head_sha, read=_directly, write=_directly))

    def run(self, ref: ItemRef, head_sha: str, name: str) -> str | None:
        return asyncio.run(native_ci.run(self.native, ref, head_sha, name, read=_directly, write=_directly))

    def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        return self.native.names(ref, head_sha)
