"""Run a blocking ForgeClient off the event loop.

The SDKs (PyGithub, python-gitlab) are synchronous.  ``AsyncForge`` exposes the same operations as
coroutines, each executed on a bounded thread pool, so the event loop keeps acknowledging webhooks
while forge calls are in flight.  The pool size also caps concurrent requests per forge, which keeps
the bot well under GitHub's secondary limit of 100 concurrent requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import ParamSpec, TypeVar

from bot.events import Item, ItemRef
from bot.forge.base import (
    Capabilities,
    ChangedFiles,
    Comment,
    CommitStatus,
    DeliveryAttempt,
    ForgeClient,
    GitSource,
    Hook,
    HookScope,
    MergeMethod,
    Permission,
    PullState,
    Review,
)

P = ParamSpec("P")
T = TypeVar("T")


class AsyncForge:
    """Awaitable facade over a blocking ForgeClient; the only forge object plugins see."""

    def __init__(self, client: ForgeClient, max_workers: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{client.name}-api")

    @property
    def name(self) -> str:
        return self._client.name

    @property
    def capabilities(self) -> Capabilities:
        return self._client.capabilities

    async def offload(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call on this forge's pool (also used by the forge's native CI client)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    _run = offload

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def whoami(self) -> str:
        return await self._run(self._client.whoami)

    async def get_item(self, ref: ItemRef) -> Item:
        return await self._run(self._client.get_item, ref)

    async def repo_labels(self, repo: str) -> frozenset[str]:
        return await self._run(self._client.repo_labels, repo)

    async def add_labels(self, ref: ItemRef, labels: Sequence[str]) -> None:
        await self._run(self._client.add_labels, ref, list(labels))

    async def remove_label(self, ref: ItemRef, label: str) -> None:
        await self._run(self._client.remove_label, ref, label)

    async def comment(self, ref: ItemRef, body: str) -> int:
        return await self._run(self._client.comment, ref, body)

    async def edit_comment(self, ref: ItemRef, comment_id: int, body: str) -> None:
        await self._run(self._client.edit_comment, ref, comment_id, body)

    async def list_comments(self, ref: ItemRef) -> list[Comment]:
        return await self._run(self._client.list_comments, ref)

    async def add_assignees(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        return await self._run(self._client.add_assignees, ref, list(logins))

    async def remove_assignees(self, ref: ItemRef, logins: Sequence[str]) -> None:
        await self._run(self._client.remove_assignees, ref, list(logins))

    async def request_review(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        return await self._run(self._client.request_review, ref, list(logins))

    async def remove_review_request(self, ref: ItemRef, logins: Sequence[str]) -> None:
        await self._run(self._client.remove_review_request, ref, list(logins))

    async def label_added_by(self, ref: ItemRef, label: str) -> str | None:
        return await self._run(self._client.label_added_by, ref, label)

    async def pulls_by(self, repo: str, login: str, limit: int = 2) -> list[int]:
        return await self._run(self._client.pulls_by, repo, login, limit)

    async def set_open(self, ref: ItemRef, is_open: bool, *, not_planned: bool = False) -> None:
        await self._run(self._client.set_open, ref, is_open, not_planned=not_planned)

    async def set_title(self, ref: ItemRef, title: str) -> None:
        await self._run(self._client.set_title, ref, title)

    async def permission(self, repo: str, login: str) -> Permission:
        return await self._run(self._client.permission, repo, login)

    async def branch_sha(self, repo: str, branch: str) -> str:
        return await self._run(self._client.branch_sha, repo, branch)

    async def read_file(self, repo: str, path: str, sha: str) -> str | None:
        return await self._run(self._client.read_file, repo, path, sha)

    async def changed_files(self, ref: ItemRef) -> ChangedFiles:
        return await self._run(self._client.changed_files, ref)

    async def list_reviews(self, ref: ItemRef) -> list[Review]:
        return await self._run(self._client.list_reviews, ref)

    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        await self._run(self._client.set_status, repo, sha, status)

    async def list_statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        return await self._run(self._client.list_statuses, repo, sha)

    async def is_org_member(self, org: str, login: str) -> bool:
        return await self._run(self._client.is_org_member, org, login)

    async def is_team_member(self, org: str, team: str, login: str) -> bool:
        return await self._run(self._client.is_team_member, org, team, login)

    async def same_tree(self, repo: str, old_sha: str, new_sha: str) -> bool:
        return await self._run(self._client.same_tree, repo, old_sha, new_sha)

    async def git_source(self, ref: ItemRef) -> GitSource:
        return await self._run(self._client.git_source, ref)

    async def list_open_pulls(self, repo: str) -> list[PullState]:
        return await self._run(self._client.list_open_pulls, repo)

    async def mergeability(self, ref: ItemRef) -> PullState:
        return await self._run(self._client.mergeability, ref)

    async def merge(self, ref: ItemRef, sha: str, method: MergeMethod) -> None:
        await self._run(self._client.merge, ref, sha, method)

    async def open_issues_with_label(self, repo: str, label: str) -> list[int]:
        return await self._run(self._client.open_issues_with_label, repo, label)

    async def list_repos(self, globs: Sequence[str]) -> list[str]:
        return await self._run(self._client.list_repos, list(globs))

    def hook_scopes(self, repos: Sequence[str]) -> list[HookScope]:
        return self._client.hook_scopes(list(repos))  # no request: computed from the names

    async def find_hooks(self, scope: HookScope, url: str) -> list[Hook]:
        return await self._run(self._client.find_hooks, scope, url)

    async def hook_deliveries(self, hook: Hook, since: datetime) -> list[DeliveryAttempt]:
        return await self._run(self._client.hook_deliveries, hook, since)

    async def redeliver(self, hook: Hook, attempt_id: str) -> None:
        await self._run(self._client.redeliver, hook, attempt_id)
