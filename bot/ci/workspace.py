"""A git workspace: a fresh directory holding a checkout of a change, fetched with the bot's
credential (Prow's clonerefs).  Used by the job runner; cherry-pick can reuse ``GitWorkspace``.

The credential header reaches ``git fetch`` only through ``GIT_CONFIG_*`` environment variables
(never argv, which other local users can read in ``ps``), git never sees prowlet's own environment,
and everything git prints goes to a ``LogSink`` that masks secrets before anything is stored.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.ci import process
from bot.forge.base import GitSource

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
FETCH_DEPTH = 50
SHA = re.compile(r"[0-9a-fA-F]{4,64}")


class LogSink(Protocol):
    def write(self, data: bytes) -> None: ...

    def note(self, text: str) -> None: ...


class CheckoutFailed(Exception):
    """The checkout did not happen; the message says why, for a commit status."""


class GitTimedOut(Exception):
    """The deadline passed while git was running."""


def safe_url(url: str) -> str:
    """The URL without any user:password@ part, for the log."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def git_env(home: Path) -> dict[str, str]:
    # No prompts (a failing fetch must fail, not hang) and no system or user git config.
    return {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "HOME": str(home), "LANG": "C.UTF-8",
            "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


class GitWorkspace:
    def __init__(self, path: Path, source: GitSource, out: LogSink, deadline: float,
                 kill_grace: float = process.KILL_GRACE) -> None:
        self.path = path
        self.source = source
        self._out = out
        self._deadline = deadline  # event-loop time
        self._grace = kill_grace
        self._env = git_env(path)
        self._fetch_env = dict(self._env)
        if source.header:
            # git >= 2.31; the same as `git -c http.extraHeader=...` without the header in argv.
            self._fetch_env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                                   GIT_CONFIG_VALUE_0=source.header)

    async def git(self, *args: str, auth: bool = False, quiet: bool = False) -> int:
        """Run git in the workspace (``auth``: with the credential), its output into the log."""
        if not quiet:
            self._out.note("git " + " ".join(safe_url(a) if "://" in a else a for a in args))
        proc = await process.spawn(
            "git", *args, cwd=self.path, env=self._fetch_env if auth else self._env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            remaining = max(self._deadline - asyncio.get_running_loop().time(), 0.001)
            try:
                output, _ = await asyncio.wait_for(proc.communicate(), remaining)
            except TimeoutError:
                await process.terminate(proc, self._grace)
                self._out.note("git did not finish before the job's timeout")
                raise GitTimedOut from None
        finally:
            await process.reap(proc, self._grace)
        if not quiet:
            self._out.write(output)
        assert proc.returncode is not None
        return proc.returncode

    async def fetch(self, ref: str) -> int:
        return await self.git("fetch", "--", self.source.url, ref, auth=True)

    async def checkout(self, head_sha: str, base_ref: str = "", merge_base: bool = False) -> None:
        """``head_sha`` of ``source.ref`` (falling back to the ref's tip when that sha is not in
        its recent history), merged into ``base_ref`` as it is now when ``merge_base``."""
        short = head_sha[:7]
        if code := await self.git("init", "-q", "."):
            raise CheckoutFailed(f"Could not check out {short}: git init failed (exit {code}).")
        if code := await self.git("fetch", f"--depth={FETCH_DEPTH}", "--", self.source.url, self.source.ref, auth=True):
            raise CheckoutFailed(f"Could not check out {short}: git fetch failed (exit {code}).")
        target = head_sha
        if not SHA.fullmatch(target) or await self.git("cat-file", "-e", f"{target}^{{commit}}", quiet=True):
            self._out.note(f"{head_sha} is not in the fetched history of {self.source.ref}; checking out FETCH_HEAD instead")
            target = "FETCH_HEAD"
        if code := await self.git("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", target):
            raise CheckoutFailed(f"Could not check out {short}: git checkout failed (exit {code}).")
        if merge_base and base_ref:
            # Full history of the base: a shallow fetch may not reach the merge base.
            if code := await self.fetch(f"refs/heads/{base_ref}"):
                raise CheckoutFailed(f"Could not fetch the base branch {base_ref} (exit {code}).")
            if await self.git("-c", "user.name=prowlet", "-c", "user.email=prowlet@localhost",
                              "merge", "-q", "--no-edit", "--no-ff", "FETCH_HEAD"):
                raise CheckoutFailed(f"{short} does not merge cleanly into {base_ref}.")
        await self.git("log", "-1", "--format=HEAD is now %H %s")


__all__ = ["CheckoutFailed", "GitTimedOut", "GitWorkspace", "LogSink", "git_env", "safe_url"]
