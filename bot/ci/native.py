"""The team's own CI, re-run from comments: GitHub Actions workflow runs, GitLab MR pipelines.

Implemented per forge (``bot.forge.github.actions``, ``bot.forge.gitlab.pipelines``) on the same SDK
client as the forge adapter; blocking like it, so callers run it off the event loop.

Each implementation only reads (what to re-run) and makes one write at a time (one ``Rerun``):
re-running a workflow or starting a pipeline creates content, so every such write goes through the
forge's write budget, metering and retry policy like any other write (``bot.ci.services``).  What
``/retest`` and ``/test NAME`` do with those pieces is written once, here (``retest``, ``run``),
for both forges.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from bot.events import ItemRef
from bot.forge.base import ForbiddenError

log = structlog.get_logger("prowlet.native-ci")


@dataclass(frozen=True)
class Rerun:
    """One write that re-runs (or starts) something: ``name`` for people and logs (a workflow's
    name, "pipeline #12"), ``target`` and ``action`` for the forge (a run id and
    "rerun-failed-jobs"; a pipeline id and "retry"; 0 and "create")."""

    name: str
    target: int
    action: str


class NativeCI(Protocol):
    name: str  # "github-actions" | "gitlab-ci"

    def to_retest(self, ref: ItemRef, head_sha: str) -> list[Rerun]:
        """Reads only: what ``/retest`` re-runs for this head.  GitHub: the failed jobs of every
        failed/cancelled workflow run for ``head_sha`` (rerun-failed-jobs).  GitLab: the MR's latest
        pipeline when it failed.  [] if nothing failed."""

    def to_run(self, ref: ItemRef, head_sha: str, name: str) -> list[Rerun]:
        """Reads only: what ``/test <name>`` (no built-in job of that name) runs.  GitHub: the
        latest run of each workflow called ``name`` (case-insensitive) for ``head_sha``, re-run
        whole.  GitLab: a new MR pipeline when ``name`` is "pipeline".  [] when nothing is so named."""

    def rerun(self, ref: ItemRef, rerun: Rerun) -> str:
        """One write: re-run or start what ``rerun`` names; returns what to report ("CI",
        "pipeline #13")."""

    def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        """What ``/test`` can name here: GitHub: workflow names with runs for ``head_sha``;
        GitLab: ["pipeline"] (a new pipeline runs whatever .gitlab-ci.yml says)."""


# How a read and a write reach the forge: (the native CI's blocking method, its arguments) → its
# answer.  ``bot.ci.services`` sends them through the forge client's layers; tests call them directly.
Perform = Callable[..., Awaitable[Any]]


async def retest(native: NativeCI, ref: ItemRef, head_sha: str, *, read: Perform, write: Perform) -> list[str]:
    """``/retest``: every re-run ``to_retest`` finds, one write each; returns what was re-run.  A
    refusal of one (GitHub's 403 for a run over 30 days old, or one still running) is logged and
    the others still go; when every one was refused, ForbiddenError says why (rather than [],
    which would mean "nothing failed")."""
    done: list[str] = []
    refused: list[tuple[str, ForbiddenError]] = []
    for step in await read(native.to_retest, ref, head_sha):
        try:
            done.append(await write(native.rerun, ref, step))
        except ForbiddenError as err:
            log.warning("not re-run", ci=native.name, ref=str(ref), what=step.name, error=str(err))
            refused.append((step.name, err))
    if refused and not done:
        names = ", ".join(name for name, _ in refused)
        raise ForbiddenError(f"{refused[0][1]} (not re-run: {names})") from refused[0][1]
    return done


async def run(native: NativeCI, ref: ItemRef, head_sha: str, name: str, *, read: Perform,
              write: Perform) -> str | None:
    """``/test <name>``: every re-run ``to_run`` finds, one write each, errors raised; returns what
    the first one reported, or None when nothing is called ``name``."""
    reported = [await write(native.rerun, ref, step) for step in await read(native.to_run, ref, head_sha, name)]
    return reported[0] if reported else None
