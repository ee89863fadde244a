"""A real git repository behind a fake forge's repository, served over git's smart HTTP protocol
by ``git http-backend`` (fetch and push), so that code which runs git against the forge works.

The fakes keep commits as trees (path → text) under made-up shas.  ``GitMirror.export`` writes
those commits into a bare repository (memoised, so each fake commit becomes one git commit) and
points the refs the forge serves (``refs/heads/*``, ``refs/pull/N/head`` …) at them; after a push,
``pushed`` gives each branch that now names a commit the fake does not know, with its tree, for
the fake to adopt.  Git's shas are not the fake's: code under test reaches commits by ref.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiohttp import web

# Fixed identity and dates: the same fake commit always becomes the same git commit.
_ENV = {"GIT_AUTHOR_NAME": "fake", "GIT_AUTHOR_EMAIL": "fake@example.com", "GIT_AUTHOR_DATE": "1700000000 +0000",
        "GIT_COMMITTER_NAME": "fake", "GIT_COMMITTER_EMAIL": "fake@example.com",
        "GIT_COMMITTER_DATE": "1700000000 +0000", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


class GitMirror:
    def __init__(self, root: Path, repo: str) -> None:
        self.root = root
        self.bare = root / f"{repo}.git"
        self.bare.mkdir(parents=True)
        self._git("init", "-q", "--bare", ".")
        self._git_of: dict[str, str] = {}  # fake sha → git sha
        self._fake_of: dict[str, str] = {}

    def _git(self, *args: str, data: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        full_env = {"PATH": os.environ["PATH"], **_ENV, **(env or {})}
        done = subprocess.run(["git", *args], cwd=self.bare, input=data, capture_output=True, env=full_env, check=True)
        return done.stdout.decode()

    def export(self, refs: Mapping[str, str], commits: Mapping[str, Mapping[str, str]],
               parents: Mapping[str, Sequence[str]]) -> None:
        """Point each ref at the git commit of the fake commit it names (written when new)."""
        for ref, sha in refs.items():
            self._git("update-ref", ref, self._commit(sha, commits, parents))

    def _commit(self, sha: str, commits: Mapping[str, Mapping[str, str]], parents: Mapping[str, Sequence[str]]) -> str:
        if sha in self._git_of:
            return self._git_of[sha]
        parent_args = [a for p in parents.get(sha, ()) if p in commits for a in ("-p", self._commit(p, commits, parents))]
        tree = self._tree(commits[sha])
        git_sha = self._git("commit-tree", tree, *parent_args, "-m", f"fake commit {sha[:12]}").strip()
        self.adopt(sha, git_sha)
        return git_sha

    def _tree(self, files: Mapping[str, str]) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            lines = []
            for path, text in sorted(files.items()):
                blob = self._git("hash-object", "-w", "--stdin", data=text.encode()).strip()
                lines.append(f"100644 {blob}\t{path}\n")
            self._git("update-index", "--add", "--index-info", data="".join(lines).encode(), env=env)
            return self._git("write-tree", env=env).strip()

    def adopt(self, fake_sha: str, git_sha: str) -> None:
        self._git_of[fake_sha] = git_sha
        self._fake_of[git_sha] = fake_sha

    def pushed(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Branches whose commit the fake does not know: name → (git sha, its tree)."""
        found = {}
        for line in self._git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/").splitlines():
            git_sha, ref = line.split(" ", 1)
            if git_sha in self._fake_of:
                continue
            tree = {}
            for entry in self._git("ls-tree", "-r", "--name-only", "-z", git_sha).split("\0"):
                if entry:
                    tree[entry] = self._git("cat-file", "blob", f"{git_sha}:{entry}")
            found[ref.removeprefix("refs/heads/")] = (git_sha, tree)
        return found


def basic_password(header: str) -> str | None:
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(credential).decode().partition(":")[2]
    except ValueError:
        return None


def serve(request: web.Request, body: bytes, root: Path, token: str) -> web.Response:
    """Answer one smart-HTTP request with ``git http-backend`` over the repositories under ``root``;
    only the bot's token (as a Basic password, any user name) may fetch or push."""
    password = basic_password(request.headers.get("Authorization", ""))
    if password is None or not secrets.compare_digest(password, token):
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
    env = {
        "PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": request.path, "QUERY_STRING": request.query_string, "REQUEST_METHOD": request.method,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_USER": "bot", "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
    }
    out = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env, check=False).stdout
    head, _, payload = out.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
    status = int(headers.pop("Status", "200").split()[0])
    return web.Response(status=status, body=payload, headers=headers)


def is_git_path(path: str) -> bool:
    return ".git/" in path and (path.endswith("/info/refs") or path.endswith("/git-upload-pack")
                                or path.endswith("/git-receive-pack"))


def repo_of(path: str) -> str:
    return path.lstrip("/").split(".git/", 1)[0]


__all__ = ["GitMirror", "is_git_path", "repo_of", "serve"]
