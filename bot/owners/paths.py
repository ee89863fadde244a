"""Path arithmetic for OWNERS lookups.

Paths are repo-relative with "/" separators; a directory is written without a trailing "/" and
the root is "" (Prow's baseDirConvention), so "" is also every directory's last ancestor.
"""

from __future__ import annotations

from collections.abc import Iterable

OWNERS_FILE = "OWNERS"
ALIASES_FILE = "OWNERS_ALIASES"


def parent_dirs(path: str) -> list[str]:
    """The directories containing ``path``, nearest first: "a/b/c.go" -> ["a/b", "a", ""]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def parent_dir(directory: str) -> str:
    """The directory above ``directory`` ("a/b" -> "a", "a" -> ""); the root has none, so "" -> ""."""
    return directory.rpartition("/")[0]


def owners_dirs_for(paths: Iterable[str]) -> list[str]:
    """Every directory whose OWNERS file could matter for ``paths``, sorted (the root first)."""
    return sorted({d for path in paths for d in parent_dirs(path)})


def owners_file_path(directory: str) -> str:
    return f"{directory}/{OWNERS_FILE}" if directory else OWNERS_FILE


def relative_to(path: str, directory: str) -> str:
    """``path`` as seen from ``directory``: what filter regexes are matched against (Prow uses
    filepath.Rel(ownersDir, file))."""
    return path[len(directory) + 1:] if directory else path


def norm_dir(directory: str) -> str:
    """Tolerate "pkg/", "./pkg" and "." from callers; the index is keyed by the canonical form."""
    directory = directory.strip("/")
    while directory.startswith("./"):
        directory = directory[2:]
    return "" if directory == "." else directory
