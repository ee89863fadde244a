"""OWNERS files and changed files, read through the forge.

A commit's content never changes, so the forge client pins a file read at a sha (or found absent
there) and a PR's files at a head sha for good (``bot.forge.policy``: PINNED), and a burst of
comments on one PR costs one read per OWNERS file.  Only the branch head itself is asked for
afresh on every event, since approvals follow the base branch as it is now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.events import ItemRef
from bot.forge.base import ChangedFile, ChangedFiles
from bot.forge.layered import AsyncForge
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
    async def read(self, forge: AsyncForge, repo: str, path: str, sha: str) -> str | None:
        return await forge.read_file(repo, path, sha)

    async def index(self, forge: AsyncForge, repo: str, sha: str, paths: Iterable[str]) -> OwnersIndex:
        """The OWNERS that matter for ``paths`` at ``sha``.  Raises OwnersError for an invalid file."""
        dirs = owners_dirs_for(paths)
        texts = await asyncio.gather(*(self.read(forge, repo, owners_file_path(d), sha) for d in dirs))
        aliases = await self.read(forge, repo, ALIASES_FILE, sha)
        return OwnersIndex.build(dict(zip(dirs, texts, strict=True)), aliases)

    async def changed_files(self, forge: AsyncForge, ref: ItemRef, head_sha: str | None) -> ChangedFiles:
        """What the PR changes; pinned to ``head_sha`` by the client (None: always read)."""
        return await forge.changed_files(ref, head_sha)
