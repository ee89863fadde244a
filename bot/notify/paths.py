"""What a change's files are, for routes with ``paths:`` (routing by directory, e.g. an OWNERS one).

Read through the layered forge client when an outcome is published and some route asks for paths
(cached by head commit, as for OWNERS), so outcomes carry no file lists.  ``None`` means unknown —
the forge failed, or listed only part of a huge change — and such a route then matches: better a
message too many than one lost.  ``CommandFailed`` may be about an issue (no files): it never
matches a route with ``paths``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

import structlog

from bot.events import ItemKind, ItemRef
from bot.forge.base import ForgeError, NotFoundError
from bot.forge.layered import AsyncForge
from bot.outcomes import (ApprovalComplete, HoldPlaced, JobFinished, JobStarted, MergeBlocked, MergeRefused,
                          Merged)
from bot.owners_reader import changed_paths

log = structlog.get_logger("prowlet.notify")

# Outcomes that are always about a PR/MR, whose files can be asked for.
ABOUT_A_CHANGE = (Merged, MergeRefused, MergeBlocked, ApprovalComplete, HoldPlaced, JobStarted, JobFinished)


def path_matches(paths: Iterable[str], globs: Iterable[str]) -> bool:
    """Case-sensitive fnmatch over repository paths; ``*`` also crosses ``/`` (as in repository
    globs), and a glob ending in ``/`` means everything under that directory."""
    patterns = [g + "*" if g.endswith("/") else g for g in globs]
    return any(fnmatch.fnmatchcase(path, pattern) for path in paths for pattern in patterns)


class ChangedPaths:
    def __init__(self, forges: Mapping[str, AsyncForge]) -> None:
        self._forges = forges

    async def __call__(self, outcome: object) -> list[str] | None:
        if not isinstance(outcome, ABOUT_A_CHANGE):
            return []
        o = outcome
        forge = self._forges.get(o.forge)
        if forge is None:
            return None
        try:
            files = await forge.changed_files(ItemRef(o.repo, o.number, ItemKind.PULL), getattr(o, "sha", None) or None)
        except NotFoundError:
            return []
        except ForgeError as err:
            log.warning("cannot read a change's files for notification routes; routing as if they matched",
                        forge=o.forge, repo=o.repo, number=o.number, error=str(err))
            return None
        return changed_paths(files) if files.complete else None
