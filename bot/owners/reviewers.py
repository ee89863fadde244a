"""Whom to ask for review: Prow's blunderbuss (pkg/plugins/blunderbuss, getReviewers).

Prow first takes one random leaf reviewer per OWNERS file, then more leaf reviewers, then
reviewers from parent OWNERS, and falls back to approvers when reviewers run out.  Here the same
order runs round-robin over the distinct OWNERS groups of the change, so a PR touching three
directories gets someone from each before anyone's second pick, and stops at ``count``.  Random
choice is replaced by a stable per-PR rank, so recomputing never changes the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bot.owners.index import Layer, OwnersIndex, as_paths
from bot.owners.parse import norm_login
from bot.owners.rank import stable_rank


def _queues(paths: list[str], layers_of: Callable[[str], list[Layer]], seed: int,
            leaf_only: bool) -> list[list[str]]:
    """One candidate queue per distinct set of OWNERS layers (files sharing OWNERS share a queue),
    nearest OWNERS first, people in seed order within one OWNERS; the groups themselves in seed
    order, so which directory gets the first pick varies between PRs."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        layers = layers_of(path)[:1] if leaf_only else layers_of(path)
        if layers:
            key = "|".join(f"{d}:{','.join(sorted(people))}" for d, people in layers)  # one per distinct group
            groups[key] = [login for _, people in layers
                           for login in sorted(people, key=lambda login: stable_rank(login, seed))]
    return [groups[key] for key in sorted(groups, key=lambda key: stable_rank(key, seed))]


def _round_robin(queues: list[list[str]], picked: list[str], skip: set[str], count: int) -> None:
    """Take the next eligible person from each queue in turn until ``count`` or all run dry."""
    live = [iter(queue) for queue in queues]
    while live and len(picked) < count:
        for queue in list(live):
            person = next((p for p in queue if p not in skip and p not in picked), None)
            if person is None:
                live.remove(queue)
            elif len(picked) < count:
                picked.append(person)

def suggest_reviewers(index: OwnersIndex, paths: Sequence[str], author: str, count: int, seed: int = 0,
                      exclude: Iterable[str] = (), approvers_too: bool = True) -> list[str]:
    """``count`` reviewers for a change: leaf reviewers, then parent reviewers, then (unless not
    ``approvers_too``: Prow's exclude_approvers) leaf and parent approvers; never the author or
    anyone in ``exclude``.  required_reviewers are not added here (the caller requests them on top)."""
    files = as_paths(paths)
    skip = {norm_login(author)} | {norm_login(x) for x in exclude}
    picked: list[str] = []
    sources = (index.reviewer_layers, index.approver_layers) if approvers_too else (index.reviewer_layers,)
    for layers_of in sources:
        for leaf_only in (True, False):
            _round_robin(_queues(files, layers_of, seed, leaf_only), picked, skip, count)
    return picked
