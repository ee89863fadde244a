"""The narrow context an external plugin's handlers get (``bot.api.PluginContext``).

It forwards a fixed set of helpers to the full ``Context`` and holds nothing else: no forge
client, no config, no CI services, no store.  Built-in plugins keep the full ``Context``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.forge.base import ChangedFiles, Comment, CommitStatus, Permission
from bot.permissions import is_org_member

if TYPE_CHECKING:
    from bot.commands import Invocation
    from bot.context import Context
    from bot.events import Event, Item
    from bot.owners import OwnersIndex


class NarrowContext:
    __slots__ = ("_ctx", "event", "options", "log")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.event: Event = ctx.event
        self.options: Any = ctx.options
        self.log: Any = ctx.log

    def noun(self) -> str:
        return self._ctx.noun()

    # ---- the PR/MR or issue ----
    async def item(self, refresh: bool = False) -> Item:
        return await self._ctx.item(refresh)

    async def author(self) -> str:
        return await self._ctx.author()

    async def is_author(self, login: str) -> bool:
        return await self._ctx.is_author(login)

    # ---- labels ----
    async def repo_labels(self, wanted: Sequence[str] = ()) -> frozenset[str]:
        return await self._ctx.repo_labels(wanted)

    async def add_labels(self, labels: Sequence[str]) -> None:
        await self._ctx.add_labels(labels)

    async def remove_labels(self, labels: Sequence[str]) -> None:
        await self._ctx.remove_labels(labels)

    async def set_label(self, label: str, wanted: bool) -> None:
        await self._ctx.set_label(label, wanted)

    # ---- comments (posted once per event however often it is retried) ----
    async def reply(self, inv: Invocation | None, message: str) -> None:
        await self._ctx.reply(inv, message)

    async def note(self, message: str) -> None:
        await self._ctx.note(message)

    async def comments(self) -> list[Comment]:
        return await self._ctx.forge.list_comments(self._ctx.ref)

    # ---- people ----
    async def permission(self, login: str) -> Permission:
        return await self._ctx.permission(login)

    async def is_member(self, login: str) -> bool:
        """A member of the repository's organisation / top-level group, or a collaborator."""
        return await is_org_member(self._ctx, login)

    # ---- OWNERS and the change ----
    async def owners(self) -> OwnersIndex:
        return await self._ctx.owners()

    async def changed_files(self) -> ChangedFiles:
        return await self._ctx.changed_files()

    async def changed_paths(self) -> list[str]:
        return await self._ctx.changed_paths()

    async def statuses(self) -> list[CommitStatus]:
        """The commit statuses / checks of the PR/MR's current head (empty for an issue)."""
        sha = (await self._ctx.item()).head_sha
        if not sha:
            return []
        return await self._ctx.forge.list_statuses(self._ctx.event.repo, sha)

    # ---- effects a forge cannot make idempotent ----
    async def once(self, what: str) -> bool:
        return await self._ctx.once(what)

    async def once_per_item(self, what: str) -> bool:
        return await self._ctx.once_per_item(what)
