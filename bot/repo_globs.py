"""Repository globs, as used by repo rules, jobs and merge automation: case-insensitive fnmatch
over "owner/repo" (GitLab: "group/sub/project"); "*" also crosses "/"."""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable
from dataclasses import dataclass


def repo_matches(repo: str, globs: Iterable[str]) -> bool:
    lowered = repo.lower()
    return any(fnmatch.fnmatchcase(lowered, glob.lower()) for glob in globs)


_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True)
class ListingPlan:
    """Which listings find every repository some globs can match, with as few requests as possible.

    ``everything``: one listing of all the account can see (a glob whose first segment is not
    literal, e.g. ``*`` or ``ac*/x``); it makes the rest redundant.  ``namespaces``: list these
    owners' / groups' repositories (the literal leading segments of a glob: ``acme/*`` → ``acme``;
    with ``nested``, as GitLab groups nest, ``group/sub/*`` → ``group/sub``).  ``exact``: globs
    without wildcards name their repository outright and cost no listing."""

    everything: bool = False
    namespaces: frozenset[str] = frozenset()
    exact: frozenset[str] = frozenset()


def listing_plan(globs: Iterable[str], *, nested: bool) -> ListingPlan:
    namespaces: set[str] = set()
    exact: set[str] = set()
    for glob in globs:
        segments = glob.strip().strip("/").split("/")
        if not any(_WILDCARDS & set(segment) for segment in segments):
            exact.add("/".join(segments))
            continue
        literal = list(itertools.takewhile(lambda segment: not _WILDCARDS & set(segment), segments))
        if not literal:
            return ListingPlan(everything=True)
        namespaces.add("/".join(literal if nested else literal[:1]).lower())
    # a namespace inside another one is listed with it (GitLab lists subgroups with their group)
    outer = {ns for ns in namespaces if not any(ns.startswith(f"{other}/") for other in namespaces)}
    covered = {repo for repo in exact if any(repo.lower().startswith(f"{ns}/") for ns in outer)}
    return ListingPlan(namespaces=frozenset(outer), exact=frozenset(exact - covered))
