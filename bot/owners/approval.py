"""Is a change approved, and by whom?  Prow's approve plugin (pkg/plugins/approve/approvers).

1. Files under an ``auto_approve_unowned_subfolders`` OWNERS that have no approvers of their own
   need no approval (GetOwnersSet).
2. Every other file needs the approval of its nearest OWNERS with approvers (its *leaf*), or of
   the root when no OWNERS lists approvers for it (FindApproverOwnersForFile answers "").
3. A leaf is dropped when one of its ancestors is also needed, unless a no_parent_owners OWNERS
   lies between (removeSubdirs): the ancestor's approvers approve the subdirectory too.  Its
   files are then answered for by that ancestor.
4. A needed directory is approved when each of its files has an approver in approvers_for(file).
   Without filters this is exactly Prow's UnapprovedFiles; with filters it is stricter, as Prow
   skips the files of dropped subdirectories, letting an approver of only "\\.go$" files approve
   a subdirectory's README.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from bot.owners.index import Layer, OwnersIndex, as_paths
from bot.owners.parse import norm_login
from bot.owners.paths import parent_dir
from bot.owners.rank import stable_rank


@dataclass(frozen=True)
class ApprovalState:
    needed: tuple[str, ...]                     # OWNERS directories whose approval is needed
    approved_dirs: dict[str, tuple[str, ...]]   # approved needed dir -> current approvers covering it
    unapproved: tuple[str, ...]                 # needed dirs still lacking approval
    auto_approved: tuple[str, ...]              # paths needing none (auto_approve_unowned_subfolders)
    counted: tuple[str, ...]                    # approving people who approve at least one file
    ignored: tuple[str, ...]                    # approvals from people who approve none of the files
    suggested: tuple[str, ...]                  # who to ask, together covering `unapproved`

    @property
    def approved(self) -> bool:
        """A change with no files is not approved, as in Prow (AreFilesApproved): there is nothing
        an approver could have approved.  One whose files are all auto-approved is."""
        return bool(self.needed or self.auto_approved) and not self.unapproved


def _ancestors_sharing_approvers(index: OwnersIndex, directory: str) -> Iterator[str]:
    """Ancestors whose approvers also approve here: up to the first no_parent_owners OWNERS."""
    while directory and not index.no_parent_owners(directory):
        directory = parent_dir(directory)
        yield directory


def _outermost(index: OwnersIndex, dirs: set[str]) -> set[str]:
    return {d for d in dirs if not any(a in dirs for a in _ancestors_sharing_approvers(index, d))}


def compute_approval(index: OwnersIndex, paths: Sequence[str], approvers: Iterable[str], author: str,
                     require_self_approval: bool = False, seed: int = 0) -> ApprovalState:
    """``approvers``: who approves now (already resolved from /approve, cancels and reviews).  The
    author implicitly approves what they own unless ``require_self_approval``."""
    author = norm_login(author)
    given = {norm_login(a) for a in approvers} - {""}
    current = given | ({author} if author and not require_self_approval else set())

    # Steps 1-3 of the module docstring: which files need approval, and from which directory.
    files = as_paths(paths)  # duplicates are harmless: everything below is keyed by path
    auto = {p for p in files if index.auto_approves(p)}
    layers = {p: index.approver_layers(p) for p in files if p not in auto}
    leaf = {p: ls[0][0] if ls else "" for p, ls in layers.items()}
    needed = _outermost(index, set(leaf.values()))
    owner = {p: next(d for d in (leaf[p], *_ancestors_sharing_approvers(index, leaf[p])) if d in needed)
             for p in layers}
    can = {p: frozenset().union(*(people for _, people in ls)) for p, ls in layers.items()}

    # Step 4: who approves which file, and so which directories are done.

    approving = {p: can[p] & current for p in layers}
    pending = {p for p in layers if not approving[p]}
    unapproved = {owner[p] for p in pending}
    approved_dirs = {d: tuple(sorted(set().union(*(approving[p] for p in layers if owner[p] == d))))
                     for d in sorted(needed - unapproved)}
    counted = set().union(*approving.values())
    # Prow's leaf approvers of each needed directory, whom suggestions favour (GetLeafApprovers).
    nearest = {d: frozenset().union(*(layers[p][0][1] for p in layers if leaf[p] == d and layers[p]))
               for d in needed}
    return ApprovalState(
        needed=tuple(sorted(needed)),
        approved_dirs=approved_dirs,
        unapproved=tuple(sorted(unapproved)),
        auto_approved=tuple(sorted(auto)),
        counted=tuple(sorted(counted)),
        ignored=tuple(sorted(given - counted)),
        suggested=_suggest({p: layers[p] for p in pending}, owner, nearest, author, seed),
    )


def _suggest(pending: dict[str, list[Layer]], owner: dict[str, str], nearest: dict[str, frozenset[str]],
             author: str, seed: int) -> tuple[str, ...]:
    """Greedy set cover of the pending files.  Each round picks whoever is a leaf approver of the
    most unapproved dirs (Prow suggests from leaf approvers, sparing root approvers), then covers
    the most dirs, then sits in the nearest OWNERS, then ranks first for this PR's seed."""
    depth: dict[str, dict[str, int]] = {}  # file -> approver -> how many OWNERS up (0: its leaf)
    for path, layers in pending.items():
        depth[path] = {}
        for level, (_, people) in enumerate(layers):
            for login in people:
                depth[path].setdefault(login, level)

    def score(login: str) -> tuple[int, int, int, tuple[int, str]]:
        files = [p for p in remaining if login in depth[p]]
        dirs = {owner[p] for p in files}
        leaf_dirs = {d for d in dirs if login in nearest[d]}
        return -len(leaf_dirs), -len(dirs), min(depth[p][login] for p in files), stable_rank(login, seed)

    chosen: list[str] = []
    remaining = set(pending)
    while remaining:
        candidates = {login for p in remaining for login in depth[p]} - {author}
        if not candidates:
            break  # what is left has no approver but the author, or none at all
        best = min(candidates, key=score)
        chosen.append(best)
        remaining = {p for p in remaining if best not in depth[p]}
    return tuple(chosen)
