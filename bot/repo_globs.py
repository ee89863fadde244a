"""Repository globs, as used by repo rules, jobs and merge automation: case-insensitive fnmatch
over "owner/repo" (GitLab: "group/sub/project"); "*" also crosses "/"."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def repo_matches(repo: str, globs: Iterable[str]) -> bool:
    lowered = repo.lower()
    return any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in globs)
