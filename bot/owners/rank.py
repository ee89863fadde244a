"""A stable pseudo-random order of people for one PR.

Suggestions must not change every time the bot recomputes (people would be pinged, unpinged and
re-pinged), yet must not always land on the same person across PRs.  Hashing (seed, login) gives
both: fixed for a PR (seed = PR number), different between PRs.  hashlib, not hash(): Python
salts str hashes per process.
"""

from __future__ import annotations

import hashlib


def stable_rank(login: str, seed: int) -> tuple[int, str]:
    digest = hashlib.blake2b(f"{seed}\0{login}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big"), login  # the login breaks (astronomically rare) ties
