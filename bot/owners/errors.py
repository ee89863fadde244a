"""The one error this package raises: an OWNERS or OWNERS_ALIASES file that cannot be used."""

from __future__ import annotations


class OwnersError(ValueError):
    """``path`` is the file at fault ("pkg/api/OWNERS", "OWNERS_ALIASES"); ``message`` says what is
    wrong in words a contributor can act on, so callers can quote it on the PR as it is."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
