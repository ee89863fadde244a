"""Reading a repository's ``.prowlet.yaml`` for one event and laying it over the operator's config.

Per event, where in-repo config is honoured: the default branch's name (cached by the forge client
for 10 minutes), its head sha (a conditional read: a free 304 while it has not moved, shared with
OWNERS reading through ``EventScope.branch_sha``) and the file at that sha (pinned by sha in the
client's cache).  So on a warm cache an event costs no counted request, and a merged change to the
file takes effect on the next event.  Parse results and merged configs are kept per commit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from bot.ci.jobs import JobSpec
from bot.config import IN_REPO_FILE, Config, RepoConfig
from bot.events import ItemKind
from bot.forge.base import CommitStatus, ForgeError, InvalidRequestError, StatusState
from bot.forge.layered import AsyncForge
from bot.inrepo.layer import RepoLayer, parse_layer
from bot.options import ConfigProblem

if TYPE_CHECKING:
    from bot.context import EventScope

log = structlog.get_logger("prowlet.inrepo")

CACHE_SIZE = 1024  # commits whose parsed file (and merged config) are kept
_UNDECIDED = object()
STATUS_CONTEXT = "prowlet/config"  # the commit status that says whether a .prowlet.yaml is valid


class _LRU(OrderedDict):  # type: ignore[type-arg]
    def put(self, key: object, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > CACHE_SIZE:
            self.popitem(last=False)


def summary(layer: RepoLayer) -> str:
    """One line for a commit status (cut to 140 by the adapters)."""
    if not layer.problems:
        return f"{IN_REPO_FILE} is valid"
    first = str(layer.problems[0])
    more = f" (+{len(layer.problems) - 1} more)" if len(layer.problems) > 1 else ""
    return f"{IN_REPO_FILE}: {first}"[: 130 - len(more)] + more


class InRepoConfigs:
    """One per dispatcher: the in-repo layer of each repository, by commit."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._layers = _LRU()  # (forge, repo, sha) → RepoLayer
        self._configs = _LRU()  # (forge, repo, sha) → RepoConfig
        self._reported = _LRU()  # (forge, repo, sha) of default-branch files whose problems were shown

    def honoured(self, repo: str) -> bool:
        return self.config.raw.in_repo_config.applies_to(repo)

    async def layer_at(self, forge: AsyncForge, repo: str, sha: str) -> RepoLayer:
        """The file at ``sha`` checked against the limits (an empty layer when there is none)."""
        key = (forge.name, repo.lower(), sha)
        layer = self._layers.get(key)
        if layer is None:
            try:
                layer = parse_layer(await forge.read_file(repo, IN_REPO_FILE, sha), repo, self.config)
            except InvalidRequestError as err:  # unreadable at this commit (over GitHub's 1 MB): broken
                layer = RepoLayer(problems=(ConfigProblem(IN_REPO_FILE, str(err)),))
            self._layers.put(key, layer)
        return layer

    async def apply(self, scope: EventScope) -> None:
        """Lay the default branch's file over ``scope``'s config and jobs, and bind ``scope.in_repo``.
        Any failure to read it leaves the operator's config in place (logged)."""
        event = scope.event
        if not self.honoured(event.repo):
            return
        forge = scope.forge
        try:
            branch = await forge.default_branch(event.repo)
            sha = await scope.branch_sha(branch)
            layer = await self.layer_at(forge, event.repo, sha)
        except ForgeError as err:
            log.warning("cannot read the repository's config file; the operator's config applies",
                        file=IN_REPO_FILE, error=str(err))
            scope.in_repo = InRepoScope(self, scope, scope.ci.jobs_for(event.repo))
            return
        operator_jobs = scope.ci.jobs_for(event.repo)
        if layer.problems:
            await self._report(scope, sha, layer)
        if not layer.empty:
            key = (forge.name, event.repo.lower(), sha)
            merged = self._configs.get(key)
            if merged is None:
                merged = self.config.with_layer(event.repo, layer)
                self._configs.put(key, merged)
            scope.repo_config = merged
            if layer.jobs:
                scope.ci = replace(scope.ci, jobs=[*scope.ci.jobs, *layer.jobs])
        scope.in_repo = InRepoScope(self, scope, operator_jobs)

    async def _report(self, scope: EventScope, sha: str, layer: RepoLayer) -> None:
        """Once per commit: a warning, and a failing status on the default branch's head, so the
        repository's maintainers see what was refused (the PR that changed it was told as well)."""
        key = (scope.forge.name, scope.event.repo.lower(), sha)
        if key in self._reported:
            return
        log.warning("the repository's config file has problems; the operator's config applies to those keys",
                    file=IN_REPO_FILE, sha=sha, problems=[str(p) for p in layer.problems[:20]], count=len(layer.problems))
        try:
            await scope.forge.set_status(scope.event.repo, sha, CommitStatus(STATUS_CONTEXT, StatusState.FAILURE,
                                                                             summary(layer)))
        except ForgeError as err:
            log.warning("could not post the config file's status", error=str(err))
            return  # asked again on the next event
        self._reported.put(key, True)


class InRepoScope:
    """In-repo configuration as one event's handlers see it (``Context.in_repo``)."""

    def __init__(self, configs: InRepoConfigs, scope: EventScope, operator_jobs: Sequence[JobSpec]) -> None:
        self._configs = configs
        self._scope = scope
        self._operator_jobs = list(operator_jobs)
        self._head_jobs: object = _UNDECIDED

    async def layer_at(self, sha: str) -> RepoLayer:
        return await self._configs.layer_at(self._scope.forge, self._scope.event.repo, sha)

    async def changed_by_pull(self) -> bool:
        """Whether the event's PR/MR adds, changes or removes the file."""
        if self._scope.event.ref.kind is not ItemKind.PULL:
            return False
        files = await self._scope.changed_files()
        return any(IN_REPO_FILE in (f.path, f.previous_path) for f in files)

    @property
    def jobs_allowed(self) -> bool:
        return self._configs.config.raw.in_repo_config.allow.jobs

    async def head_jobs(self, trusted: Callable[[str], Awaitable[bool]]) -> list[JobSpec] | None:
        """The repository's jobs as the PR/MR's own head defines them (the operator's, and those of
        its file), when it changes the file and ``trusted(author)`` says its author may choose
        them; None: the default branch's apply.  Decided once per event."""
        if self._head_jobs is _UNDECIDED:
            self._head_jobs = None
            if self.jobs_allowed and await self.changed_by_pull():
                item = await self._scope.item()
                if item.head_sha and await trusted(item.author or ""):
                    layer = await self.layer_at(item.head_sha)
                    self._head_jobs = [*self._operator_jobs, *layer.jobs]
        return self._head_jobs  # type: ignore[return-value]
