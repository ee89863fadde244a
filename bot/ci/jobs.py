"""Built-in CI jobs: what to run (``JobSpec``) and what to run it against (``Change``).

Prow's presubmit vocabulary, without Kubernetes: a job is a shell command run in a fresh checkout of
the PR/MR head; its name is both the ``/test <name>`` argument and the commit-status context.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.ci.limits import Limits
from bot.events import Item
from bot.forge.base import GitSource
from bot.repo_globs import repo_matches

# A job name is a commit-status context and a /test argument: one word, no spaces or slashes-only.
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def _whole(pattern: Any, text: str) -> bool:
    """``pattern`` matches all of ``text``: a regex string (the operator's), or a compiled pattern
    (RE2, for a repository's own .prowlet.yaml, see bot.inrepo.layer)."""
    return bool(re.fullmatch(pattern, text) if isinstance(pattern, str) else pattern.fullmatch(text))


@dataclass(frozen=True)
class JobSpec:
    name: str  # /test <name>; also the commit-status context
    run: str  # shell command, run with /bin/sh -c in the workspace
    clone: bool = True  # workspace is a git checkout of the PR head; False: an empty directory
    always_run: bool = True  # start automatically on trusted PR open / push
    run_if_changed: re.Pattern[str] | None = None  # ...only when a changed path matches (re.search)
    skip_if_only_changed: re.Pattern[str] | None = None  # ...not when every changed path matches
    optional: bool = False  # a failure does not block merging
    repos: tuple[str, ...] = ("*",)  # fnmatch globs over "owner/repo" (case-insensitive)
    timeout: float = 1800.0  # seconds
    executor: str | None = None  # sandbox | container | process; None: the runner's default
    image: str = ""  # container executor: the image to run in
    network: bool = True  # False: the job gets no network (its own empty network namespace)
    secrets: tuple[str, ...] = ()  # names of prowlet's environment variables passed to this job
    limits: Limits = Limits()  # None fields: the runner's defaults
    retry_on_worker_loss: bool = False  # idempotent: queued once more when the worker running it dies
    # Prow's presubmit branch filters: regexes over the base branch, matched whole (^...$).
    branches: tuple[str, ...] = ()  # non-empty: only changes into a matching branch
    skip_branches: tuple[str, ...] = ()  # never changes into a matching branch
    context: str = ""  # the commit-status context; "": the name
    skip_report: bool = False  # run, but post no commit status
    trigger: re.Pattern[str] | None = None  # a comment matching it (re.search) runs the job too

    def __post_init__(self) -> None:
        if not JOB_NAME.fullmatch(self.name):
            raise ValueError(f"job name {self.name!r} must be one word of letters, digits, '.', '_', '-', '/'")
        if not self.run.strip():
            raise ValueError(f"job {self.name!r}: run must be a non-empty shell command")
        if self.run_if_changed is not None and self.skip_if_only_changed is not None:
            raise ValueError(f"job {self.name!r}: run_if_changed and skip_if_only_changed are mutually exclusive")
        if not self.timeout > 0:
            raise ValueError(f"job {self.name!r}: timeout must be positive")
        if self.executor == "container" and not self.image:
            raise ValueError(f"job {self.name!r}: the container executor needs an image")
        if isinstance(self.repos, str):  # ("a/b") is a str, not a tuple: a classic slip
            raise ValueError(f"job {self.name!r}: repos must be a tuple of globs")
        if self.branches and self.skip_branches:
            raise ValueError(f"job {self.name!r}: branches and skip_branches are mutually exclusive")

    @property
    def status_context(self) -> str:
        return self.context or self.name

    def could_run(self, base_ref: str) -> bool:
        """Prow's CouldRun: the job applies to changes into ``base_ref`` at all."""
        if self.branches:
            return any(_whole(b, base_ref) for b in self.branches)
        return not any(_whole(b, base_ref) for b in self.skip_branches)

    def applies_to(self, repo: str) -> bool:
        """Whether this job is configured for ``repo`` ("owner/repo", GitLab: "group/sub/project")."""
        return repo_matches(repo, self.repos)

    def should_run(self, changed_paths: Sequence[str], base_ref: str | None = None) -> bool:
        """Whether the job starts by itself for a change touching ``changed_paths`` (Prow's rules):
        never into a branch it does not apply to (``base_ref`` given); with run_if_changed, iff some
        path matches; with skip_if_only_changed, unless every path matches (so never for an empty
        change); with neither, ``always_run`` decides."""
        if base_ref is not None and not self.could_run(base_ref):
            return False
        if self.run_if_changed is not None:
            return any(self.run_if_changed.search(p) for p in changed_paths)
        if self.skip_if_only_changed is not None:
            return not all(self.skip_if_only_changed.search(p) for p in changed_paths)
        return self.always_run


@dataclass(frozen=True)
class Change:
    """What a job runs against."""

    forge: str  # a driver's name (bot.forge.drivers): picks the status poster
    repo: str
    number: int
    head_sha: str
    base_ref: str
    author: str
    source: GitSource | None  # None when a clone is impossible: a job with clone=True then errors
    # Test the head merged into the base branch as it is now (merge automation re-runs jobs this way
    # after another PR merged into the same base).  Needs base_ref.
    merge_base: bool = False
    # A config-defined command's values (name, value): PROWLET_PARAM_<NAME> in the job's environment,
    # never part of its shell command.
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, forge: str, item: Item, source: GitSource | None, merge_base: bool = False) -> Change:
        """The change a PR/MR's current head stands for."""
        return cls(forge=forge, repo=item.ref.repo, number=item.ref.number, head_sha=item.head_sha or "",
                   base_ref=item.base_ref or "", author=item.author or "", source=source, merge_base=merge_base)
