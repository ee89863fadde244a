"""The team's own CI, re-run from comments: GitHub Actions workflow runs, GitLab MR pipelines.

Implemented per forge (``bot.forge.github.actions``, ``bot.forge.gitlab.pipelines``) on the same SDK
client as the forge adapter; blocking like it, so callers run it off the event loop.
"""

from __future__ import annotations

from typing import Protocol

from bot.events import ItemRef


class NativeCI(Protocol):
    name: str  # "github-actions" | "gitlab-ci"

    def retest(self, ref: ItemRef, head_sha: str) -> list[str]:
        """Re-run what failed for this head.  GitHub: the failed jobs of every failed/cancelled
        workflow run for ``head_sha`` (rerun-failed-jobs).  GitLab: retry the MR's latest pipeline
        when it failed.  Returns what was re-run (workflow names / "pipeline #id"); [] if nothing failed."""

    def run(self, ref: ItemRef, head_sha: str, name: str) -> str | None:
        """``/test <name>`` with no built-in job of that name.  GitHub: re-run the latest run of the
        workflow called ``name`` (case-insensitive) for ``head_sha``; None when there is none.
        GitLab: start a new MR pipeline when ``name`` is "pipeline" (else None); returns "pipeline #id"."""

    def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        """What ``/test`` can name here: GitHub: workflow names with runs for ``head_sha``;
        GitLab: ["pipeline"] (a new pipeline runs whatever .gitlab-ci.yml says)."""
