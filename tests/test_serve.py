"""The real entry point: `prowlet serve` as a process, configured only by the environment."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AUTHOR, COLLAB, REPO, seed
from tests.fakes.base import Delivery
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.served import PROWLET, Served, forge_env
from tests.served import get_json as _get
from tests.served import post as _post
from tests.served import wait_for as _wait_for


@pytest.fixture
def fakes() -> Iterator[tuple[FakeGitHub, FakeGitLab]]:
    with FakeGitHub() as gh, FakeGitLab() as gl:
        seed(gh)
        seed(gl)
        yield gh, gl


def test_serve_both_forges_from_the_environment(fakes: tuple[FakeGitHub, FakeGitLab], tmp_path: Path) -> None:
    gh, gl = fakes
    env = forge_env(gh, gl)
    served = Served(env, tmp_path)
    try:
        assert _get(served.base + "/healthz")["forges"] == ["github", "gitlab"]
        for fake in (gh, gl):
            number, opened = fake.open_pull(REPO, author=AUTHOR)
            assert _post(served.base, opened) in (200, 202)
            assert _post(served.base, fake.comment(REPO, number, COLLAB, "/hold\n/kind bug")) == 202
            _wait_for(lambda: fake.labels(REPO, number) == {"do-not-merge/hold", "kind/bug"}, f"{fake.name} labels")
    finally:
        code = served.stop()
    assert code == 0
    lines = served.log_lines()
    text = served.log_path.read_text()
    for secret in env.values():
        if secret.startswith("http"):
            continue
        assert secret not in text
    assert {(line.get("event"), line.get("forge")) for line in lines} >= {("forge enabled", "github"), ("forge enabled", "gitlab")}
    commands = [line for line in lines if line.get("event") == "command"]
    assert {(c["forge"], c["command"], c["plugin"]) for c in commands} >= {("github", "hold", "hold"), ("gitlab", "kind", "label")}
    assert all(c["delivery"] and c["repo"] == REPO and c["number"] for c in commands)


def test_serve_without_credentials_disables_forges_clearly(tmp_path: Path) -> None:
    served = Served({}, tmp_path)
    try:
        assert _get(served.base + "/healthz")["forges"] == []
        assert _post(served.base, Delivery("/hook/github", {"X-GitHub-Event": "ping"}, b"{}")) == 503
    finally:
        assert served.stop() == 0
    disabled = {line["forge"]: line["reason"] for line in served.log_lines() if line.get("event") == "forge disabled"}
    assert "GITHUB_TOKEN" in disabled["github"] and "GITLAB_TOKEN" in disabled["gitlab"]


def test_serve_refuses_a_bad_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("plugins:\n  enabled: [nope]\n")
    proc = subprocess.run([str(PROWLET), "serve", "--config", str(bad)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "plugins.enabled[0]: unknown plugin 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
