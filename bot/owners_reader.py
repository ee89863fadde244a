"""OWNERS files and changed files, read through the forge and cached by commit sha.

A commit's content never changes, so a file read at a sha (or found absent there) is cached for
good, and a burst of comments on one PR costs one read per OWNERS file.  Only the branch head
itself is asked for afresh on every event, since approvals follow the base branch as it is now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from cachetools import LRUCache

from bot.events import ItemRef
from bot.forge.base import ChangedFile, ChangedFiles
from bot.forge.offloop import AsyncForge
from bot.owners import ALIASES_FILE, OwnersIndex, owners_dirs_for, owners_file_path


def changed_paths(files: Iterable[ChangedFile]) -> list[str]:
    """Every path a change touches: a renamed file answers to the OWNERS of both places."""
    paths: list[str] = []
    for f in files:
        paths.append(f.path)
        if f.previous_path and f.previous_path != f.path:
            paths.append(f.previous_path)
    return paths


class OwnersReader:
    def __init__(self, max_files: int = 50_000, max_changes: int = 2_000) -> None:
        self._files: LRUCache[tuple[str, str, str, str], str | None] = LRUCache(maxsize=max_files)
        self._changes: LRUCache[tuple[str, ItemRef, str], ChangedFiles] = LRUCache(maxsize=max_changes)

    async def read(self, forge: AsyncForge, repo: str, path: str, sha: str) -> str | None:
        key = (forge.name, repo, sha, path)
        if key not in self._files:
            self._files[key] = await forge.read_file(repo, path, sha)
        return self._files[key]

    async def index(self, forge: AsyncForge, repo: str, sha: str, paths: Iterable[str]) -> OwnersIndex:
        """The OWNERS that matter for ``paths`` at ``sha``.  Raises OwnersError for an invalid file."""
        dirs = owners_dirs_for(paths)
        texts = await asyncio.gather(*(self.read(forge, repo, owners_file_path(d), sha) for d in dirs))
        aliases = await self.read(forge, repo, ALIASES_FILE, sha)
        return OwnersIndex.build(dict(zip(dirs, texts, strict=True)), aliases)

    async def changed_files(self, forge: AsyncForge, ref: ItemRef, head_sha: str | None) -> ChangedFiles:
        """What the PR changes; cached per head sha (None: not cached, always read)."""
        key = (forge.name, ref, head_sha or "")
        if head_sha is None or key not in self._changes:
            files = await forge.changed_files(ref)
            if head_sha is None:
                return files
            self._changes[key] = files
        return self._changes[key]
