"""Capability links to job pages: ``/jobs/<id>/<token>``, the token an HMAC of the id.

The key is 32 random bytes in ``PROWLET_DATA_DIR/job-links.key`` (mode 0600), made at first start
(with Redis, the first process's key is shared through the store, so every replica serves every
link), so links posted to the forge keep working across restarts and nobody can make one for another job
(ids alone are not secrets: they show in logs).  Without the right token a job page is a 404,
exactly like a job that does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "job-links.key"
TOKEN_CHARS = 32  # 128 bits of the HMAC, hex


def load_key(data_dir: Path) -> bytes:
    """The data dir's link key, made (atomically, 0600) if there is none yet."""
    path = Path(data_dir) / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class JobLinks:
    def __init__(self, public_url: str, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the job link key is too short")
        self._public_url = public_url.rstrip("/")
        self._key = key

    def use_key(self, key: bytes) -> None:
        """From now on, links made with this key (replicas share one: ``bot.ci.workers``)."""
        if len(key) < 16:
            raise ValueError("the job link key is too short")
        self._key = key

    def token(self, job_id: str) -> str:
        return hmac.new(self._key, job_id.encode(), hashlib.sha256).hexdigest()[:TOKEN_CHARS]

    def valid(self, job_id: str, token: str) -> bool:
        return hmac.compare_digest(self.token(job_id), token)

    def path(self, job_id: str) -> str:
        return f"/jobs/{job_id}/{self.token(job_id)}"

    def url(self, job_id: str) -> str:
        return self._public_url + self.path(job_id)


__all__ = ["JobLinks", "load_key"]
