"""bot/cherrypick.py against a real repository on disk, one case per way the change reached its
base branch: what lands on the new branch is exactly the change's commits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.cherrypick import Conflict, PickFailed, pick
from bot.forge.base import GitSource

ENV = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com"}

# Shell steps in a work tree whose "origin" is the bare repository the bot talks to.  Every case
# starts with main (README), release-1.0 from it (notes.txt), main moving on (later.txt) and the
# change on topic (feature.txt in two commits, and main merged into it midway).
COMMON = """
git init -q -b main . && echo hi > README && git add . && git commit -qm init
git checkout -qb release-1.0 && echo notes > notes.txt && git add . && git commit -qm notes
git checkout -q main && git checkout -qb topic && echo one > feature.txt && git add . && git commit -qm one
git checkout -q main && echo later > later.txt && git add . && git commit -qm later
git checkout -q topic && git merge -q --no-edit main && echo two >> feature.txt && git commit -qam two
git checkout -q main
"""
MERGED = {
    "unmerged": "",
    "squashed": "git merge -q --squash topic && git commit -qm squashed",
    "merge-commit": "echo more > more.txt && git add . && git commit -qm more && git merge -q --no-ff --no-edit topic",
}


def _repo(tmp_path: Path, merged: str, extra: str = "") -> str:
    work, bare = tmp_path / "work", tmp_path / "origin.git"
    work.mkdir()
    script = f"{COMMON}\n{merged}\n{extra}\ngit clone -q --bare . {bare}\ngit -C {bare} update-ref refs/pull/1/head topic"
    subprocess.run(["bash", "-euc", script], cwd=work, env=ENV, check=True, capture_output=True)
    return f"file://{bare}"


def _tree(url: str, ref: str) -> dict[str, str]:
    bare = url.removeprefix("file://")
    names = subprocess.run(["git", "-C", bare, "ls-tree", "-r", "--name-only", ref], env=ENV, check=True,
                           capture_output=True, text=True).stdout.split()
    return {n: subprocess.run(["git", "-C", bare, "show", f"{ref}:{n}"], env=ENV, check=True, capture_output=True,
                              text=True).stdout for n in names}


@pytest.mark.parametrize("merged", list(MERGED), ids=list(MERGED))
async def test_the_change_alone_lands_on_the_target(tmp_path: Path, merged: str) -> None:
    url = _repo(tmp_path, MERGED[merged])
    await pick(GitSource(url, "refs/pull/1/head"), "main", "release-1.0", "cherry-pick-1-to-release-1.0")
    # The feature (both commits), the release's own file, nothing main had besides (later.txt, more.txt).
    assert _tree(url, "cherry-pick-1-to-release-1.0") == {
        "README": "hi\n", "notes.txt": "notes\n", "feature.txt": "one\ntwo\n"}
    log = subprocess.run(["git", "-C", url.removeprefix("file://"), "log", "--format=%s%n%b",
                          "release-1.0..cherry-pick-1-to-release-1.0"], env=ENV, capture_output=True, text=True).stdout
    assert log.count("(cherry picked from commit") == 2  # -x, one per commit


async def test_conflict_names_the_files(tmp_path: Path) -> None:
    extra = "git checkout -q release-1.0 && echo other > feature.txt && git add . && git commit -qm other && git checkout -q main"
    url = _repo(tmp_path, MERGED["squashed"], extra)
    with pytest.raises(Conflict) as raised:
        await pick(GitSource(url, "refs/pull/1/head"), "main", "release-1.0", "cherry-pick-1-to-release-1.0")
    assert raised.value.files == ["feature.txt"]


@pytest.mark.parametrize(
    ("merged", "target", "message"),
    [
        pytest.param("", "release-9", "could not fetch the branch release-9", id="unknown-target"),
        pytest.param("git merge -q --ff-only topic", "release-1.0", "could not tell which commits", id="fast-forwarded"),
    ],
)
async def test_refused(tmp_path: Path, merged: str, target: str, message: str) -> None:
    url = _repo(tmp_path, merged)
    with pytest.raises(PickFailed, match=message):
        await pick(GitSource(url, "refs/pull/1/head"), "main", target, "cherry-pick-1-to-x")
