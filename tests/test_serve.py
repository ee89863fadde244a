"""The real entry point: `prowlet serve` as a process, configured only by the environment."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AUTHOR, COLLAB, REPO, seed
from tests.fakes.base import Delivery
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab

PROWLET = Path(sys.executable).parent / "prowlet"  # the console script installed with the package


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _post(base: str, delivery: Delivery) -> int:
    req = urllib.request.Request(base + delivery.path, data=delivery.body, headers=delivery.headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _wait_for(predicate, what: str, seconds: float = 20) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Served:
    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "prowlet.log"
        self._log = self.log_path.open("w")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_"))}
        full_env.update(env, PROWLET_LOG_FORMAT="json", PROWLET_DATA_DIR=str(tmp_path))
        self.proc = subprocess.Popen([str(PROWLET), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=full_env, stderr=self._log, stdout=self._log)

        def up() -> bool:
            try:
                _get(self.base + "/healthz")
                return True
            except OSError:
                assert self.proc.poll() is None, self.log_path.read_text()
                return False

        _wait_for(up, "prowlet to listen")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=40)
        self._log.close()
        return code

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeGitHub, FakeGitLab]]:
    with FakeGitHub() as gh, FakeGitLab() as gl:
        seed(gh)
        seed(gl)
        yield gh, gl


def test_serve_both_forges_from_the_environment(fakes: tuple[FakeGitHub, FakeGitLab], tmp_path: Path) -> None:
    gh, gl = fakes
    env = {
        "GITHUB_TOKEN": gh.token, "GITHUB_API_URL": gh.api_url, "GITHUB_WEBHOOK_SECRET": gh.webhook_secret,
        "GITLAB_TOKEN": gl.token, "GITLAB_URL": gl.api_url, "GITLAB_WEBHOOK_SECRET": gl.webhook_secret,
    }
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
