"""Who owns a file: the OWNERS files above it, read nearest first (Prow's pkg/repoowners).

A lookup walks from the file's directory up to the root, collecting one *layer* per OWNERS file
that grants something to the file (its plain lists, plus every filter whose regex matches the path
relative to that OWNERS file's directory).  The walk stops after an OWNERS file with
``no_parent_owners`` *once something has been collected*: that is Prow's entriesForFile, and it
means a no_parent_owners file that lists no approvers does not leave its files without any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.owners.parse import OwnersFile, norm_login, parse_aliases, parse_owners
from bot.owners.paths import norm_dir, owners_file_path, parent_dirs, relative_to

Layer = tuple[str, frozenset[str]]  # (directory of the OWNERS file, what it grants)
_NO_OWNERS = OwnersFile()


def as_paths(paths: Iterable[str] | str) -> list[str]:
    """Accept one path where a collection is expected, rather than iterating its characters."""
    return [paths] if isinstance(paths, str) else list(paths)


class OwnersIndex:
    def __init__(self, files: Mapping[str, OwnersFile]) -> None:
        self._files = dict(files)

    @classmethod
    def build(cls, files: Mapping[str, str | None], aliases_text: str | None) -> OwnersIndex:
        """``files``: directory -> OWNERS text (None: no OWNERS there).  Raises OwnersError for the
        first invalid file: OWNERS_ALIASES first, then directories in sorted order."""
        aliases = parse_aliases(aliases_text)
        parsed = {}
        for directory in sorted(files, key=norm_dir):
            text = files[directory]
            if text is not None:
                key = norm_dir(directory)
                parsed[key] = parse_owners(text, owners_file_path(key), aliases)
        return cls(parsed)

    def _owners(self, directory: str) -> OwnersFile:
        return self._files.get(directory, _NO_OWNERS)

    def _layers(self, path: str, role: str) -> list[Layer]:
        layers: list[Layer] = []
        for directory in parent_dirs(path):
            owners = self._owners(directory)
            relative = relative_to(path, directory)
            granted = frozenset().union(*(getattr(r, role) for r in owners.rules if r.applies_to(relative)))
            if granted:
                layers.append((directory, granted))
            if owners.no_parent_owners and layers:
                break
        return layers

    # -- per file -------------------------------------------------------------------------------

    def approver_layers(self, path: str) -> list[Layer]:
        return self._layers(path, "approvers")

    def reviewer_layers(self, path: str) -> list[Layer]:
        return self._layers(path, "reviewers")

    def approvers_for(self, path: str) -> frozenset[str]:
        """Everyone whose approval covers ``path``: the nearest approvers and those of every
        ancestor, up to and including the first no_parent_owners OWNERS that granted any."""
        return frozenset().union(*(people for _, people in self.approver_layers(path)))

    def leaf_owners_dir(self, path: str) -> str | None:
        """The directory of the nearest OWNERS that lists approvers for ``path``; None when none
        does.  (compute_approval then requires the root's approval, which nobody can give: Prow's
        FindApproverOwnersForFile answers "" and the PR stays unapproved.)"""
        layers = self.approver_layers(path)
        return layers[0][0] if layers else None

    def has_approvers(self, paths: Iterable[str] | str) -> bool:
        """Whether any OWNERS file grants approval over any of ``paths``."""
        return any(self.approver_layers(p) for p in as_paths(paths))

    def has_owners(self, paths: Iterable[str] | str) -> bool:
        """Whether any OWNERS file names approvers or reviewers for any of ``paths``."""
        return any(self.approver_layers(p) or self.reviewer_layers(p) for p in as_paths(paths))

    def reviewers_for(self, path: str) -> list[str]:
        """Reviewers nearest first, then parents; alphabetical within one OWNERS; no repeats."""
        return list(dict.fromkeys(login for _, people in self.reviewer_layers(path) for login in sorted(people)))

    def no_parent_owners(self, directory: str) -> bool:
        return self._owners(directory).no_parent_owners

    def auto_approves(self, path: str) -> bool:
        """Whether ``path`` needs no approval because it lies in a subfolder, with no approvers of
        its own, of an OWNERS that sets auto_approve_unowned_subfolders.  A file directly in that
        OWNERS file's directory still needs approval (Prow's GetOwnersSet)."""
        leaf = self.leaf_owners_dir(path)
        own_dir, *ancestors = parent_dirs(path)
        if leaf == own_dir:
            return False
        for directory in ancestors:
            if self._owners(directory).auto_approve_unowned_subfolders:
                return True
            if directory == leaf:  # the subfolder is owned from here up: not "unowned"
                return False
        return False

    # -- over a change ---------------------------------------------------------------------------

    def _granted(self, paths: Iterable[str], role: str) -> frozenset[str]:
        return frozenset().union(*(granted for p in as_paths(paths) for _, granted in self._layers(p, role)))

    def required_reviewers_for(self, paths: Iterable[str]) -> frozenset[str]:
        return self._granted(paths, "required_reviewers")

    def labels_for(self, paths: Iterable[str]) -> frozenset[str]:
        """Labels of every OWNERS that applies to any of ``paths`` (filters included)."""
        return self._granted(paths, "labels")

    def is_reviewer_or_approver(self, login: str, paths: Iterable[str]) -> bool:
        login = norm_login(login)
        return any(login in self.approvers_for(p) or login in self.reviewers_for(p) for p in as_paths(paths))
