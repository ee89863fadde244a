"""OWNERS support, pure: parse OWNERS/OWNERS_ALIASES text (Prow's format), answer who owns a file,
decide whether a change is approved, and pick reviewers.  No I/O: the caller reads the files
(owners_dirs_for says which) through the forge and passes their text to OwnersIndex.build.

Modules: paths (directory arithmetic), parse (YAML -> validated rules), index (lookups per file),
approval (Prow's approve plugin), reviewers (Prow's blunderbuss), rank (stable per-PR order).
"""

from bot.owners.approval import ApprovalState, compute_approval
from bot.owners.errors import OwnersError
from bot.owners.index import OwnersIndex
from bot.owners.paths import ALIASES_FILE, OWNERS_FILE, owners_dirs_for, owners_file_path, parent_dirs
from bot.owners.reviewers import suggest_reviewers

__all__ = [
    "ALIASES_FILE",
    "OWNERS_FILE",
    "ApprovalState",
    "OwnersError",
    "OwnersIndex",
    "compute_approval",
    "owners_dirs_for",
    "owners_file_path",
    "parent_dirs",
    "suggest_reviewers",
]
