"""The git half of /cherrypick: put a PR/MR's commits on top of another branch and push that as a
new branch of the same repository (Prow's cherrypicker, with git instead of ``git am`` of a patch).

``GitWorkspace`` runs git with the bot's credential only in git's environment.  The commits picked
are those of the change's head that its base branch did not have (``_excluded``): for a squashed
change, those not in the base branch; for one merged with a merge commit, those not in that
merge's first parent.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.ci.workspace import GitTimedOut, GitWorkspace
from bot.forge.base import GitSource

TIMEOUT = 300.0  # seconds for the whole pick: clone, pick, push
_IDENTITY = ("-c", "user.name=prowlet", "-c", "user.email=prowlet@localhost")
_HEAD, _BASE, _TARGET = "refs/prowlet/head", "refs/prowlet/base", "refs/prowlet/target"


class PickFailed(Exception):
    """The pick did not happen; the message says why, in words for the person who asked."""


class Conflict(PickFailed):
    def __init__(self, files: list[str]) -> None:
        super().__init__(", ".join(files))
        self.files = files


def branch_name(number: int, target: str) -> str:
    return f"cherry-pick-{number}-to-{target}"


class _Quiet:
    """git's output is not kept (the reply says what failed in plain words)."""

    def write(self, data: bytes) -> None:
        pass

    def note(self, text: str) -> None:
        pass


async def pick(source: GitSource, base_ref: str, target: str, new_branch: str, *, timeout: float = TIMEOUT) -> None:
    """Push ``new_branch``: ``target`` with the change ``source`` names (its head ref, made against
    ``base_ref``) picked on top with ``git cherry-pick -x``.  PickFailed (or Conflict) otherwise."""
    with tempfile.TemporaryDirectory(prefix="prowlet-cherrypick-") as tmp:
        deadline = asyncio.get_running_loop().time() + timeout
        ws = GitWorkspace(Path(tmp), source, _Quiet(), deadline)
        collected = _Collect()
        reader = _Reader(GitWorkspace(Path(tmp), source, collected, deadline), collected)
        try:
            await _pick(ws, reader, source, base_ref, target, new_branch)
        except GitTimedOut:
            raise PickFailed("git did not finish in time") from None


async def _pick(ws: GitWorkspace, reader: _Reader, source: GitSource, base_ref: str, target: str, new_branch: str) -> None:
    if await ws.git("init", "-q", "."):
        raise PickFailed("git init failed")
    if await ws.git("fetch", "-q", "--", source.url, f"+refs/heads/{target}:{_TARGET}", auth=True):
        raise PickFailed(f"could not fetch the branch {target}")
    if await ws.git("fetch", "-q", "--", source.url, f"+{source.ref}:{_HEAD}", f"+refs/heads/{base_ref}:{_BASE}",
                    auth=True):
        raise PickFailed("could not fetch the change")
    since = await _excluded(ws, reader)
    if since is None:
        raise PickFailed(f"could not tell which commits the change added to {base_ref}")
    if await ws.git("checkout", "-q", "-b", new_branch, _TARGET):
        raise PickFailed("git checkout failed")
    # --no-merges: a merge of the base into the change brings nothing of the change's own.
    if await ws.git(*_IDENTITY, "cherry-pick", "-x", "--allow-empty", "--no-merges", f"{since}..{_HEAD}"):
        files = await reader.lines("diff", "--name-only", "--diff-filter=U")
        await ws.git("cherry-pick", "--abort")
        if files:
            raise Conflict(files)
        raise PickFailed("git cherry-pick failed")
    # --force: a branch left by an earlier attempt is replaced (the PR/MR is looked up, not doubled).
    if await ws.git("push", "-q", "--force", "--", source.url, f"HEAD:refs/heads/{new_branch}", auth=True):
        raise PickFailed(f"could not push the branch {new_branch}")


async def _excluded(ws: GitWorkspace, reader: _Reader) -> str | None:
    """What the change's commits are counted from: ``<this>..head``.  Unmerged or squashed, the
    base branch itself (commits of the base merged into the change stay out too); merged with a
    merge commit, that merge's first parent (the base just before); fast-forwarded: None."""
    if await ws.git("merge-base", "--is-ancestor", _HEAD, _BASE, quiet=True) != 0:
        return _BASE
    # The oldest merge on the base's first-parent line that brought the head in.
    merges = await reader.lines("rev-list", "--first-parent", "--merges", "--reverse", f"{_HEAD}..{_BASE}")
    for merge in merges:
        if await ws.git("merge-base", "--is-ancestor", _HEAD, merge, quiet=True) == 0:
            return f"{merge}^1"
    return None


class _Reader:
    """Runs git commands whose output is wanted."""

    def __init__(self, ws: GitWorkspace, sink: _Collect) -> None:
        self._ws = ws
        self._sink = sink

    async def lines(self, *args: str) -> list[str]:
        """What git prints, line by line ([] when it fails)."""
        self._sink.data = b""
        if await self._ws.git(*args) != 0:
            return []
        return [line for line in self._sink.data.decode(errors="replace").splitlines() if line.strip()]


class _Collect:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def note(self, text: str) -> None:
        pass


__all__ = ["Conflict", "PickFailed", "branch_name", "pick"]
