"""`prowlet serve` starting up, as a real process: what it says, and how it refuses to start."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.fakes.github import FakeGitHub
from tests.served import PROWLET, Served, forge_env, free_port, get_json


def run_serve(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`prowlet serve` expected to refuse to start (a hang fails the test by its timeout)."""
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "PROWLET_"))}
    full_env.update(PROWLET_LOG_FORMAT="json", PROWLET_DATA_DIR=str(tmp_path / "data"))
    full_env.update(env)
    return subprocess.run([str(PROWLET), "serve", "--host", "127.0.0.1", *args], env=full_env,
                          capture_output=True, text=True, timeout=60)


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    lines = []
    for line in proc.stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if entry.get("level") == "error":
            lines.append(entry["event"])
    return lines


@pytest.fixture
def github() -> FakeGitHub:
    with FakeGitHub() as fake:
        yield fake


def test_start_up_says_what_runs_and_hides_url_credentials(github: FakeGitHub, tmp_path: Path) -> None:
    env = forge_env(github)
    env["GITHUB_API_URL"] = env["GITHUB_API_URL"].replace("http://", "http://bot:hunter2@")
    served = Served(env, tmp_path)
    try:
        assert get_json(served.base + "/healthz")["forges"] == ["github"]
    finally:
        assert served.stop() == 0
    starting = [line for line in served.log_lines() if line.get("event") == "prowlet starting"]
    assert len(starting) == 1
    line = starting[0]
    assert line["listen"] == f"127.0.0.1:{served.port}"
    assert line["forges"]["github"].startswith("http://bot:***@127.0.0.1")
    assert "lgtm" in line["plugins"] and line["merge"] is False and line["jobs"] == []
    assert "hunter2" not in served.log_path.read_text()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_serve({}, tmp_path, "--port", str(port))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert [line for line in error_lines(proc) if "cannot listen" in line] == [
        f"prowlet: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_an_unwritable_data_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where a directory must be: unwritable even for root
    proc = run_serve({"PROWLET_DATA_DIR": str(blocker / "data")}, tmp_path, "--port", str(free_port()))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert error_lines(proc) == [f"prowlet: PROWLET_DATA_DIR {blocker / 'data'} is not writable: Not a directory"]


def test_a_malformed_app_key_is_refused_at_start_up(tmp_path: Path) -> None:
    proc = run_serve({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "not-a-key", "GITHUB_WEBHOOK_SECRET": "s"},
                     tmp_path, "--port", str(free_port()))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "prowlet: GITHUB_APP_PRIVATE_KEY(_FILE) is not a PEM-encoded private key without a passphrase "
        "(the .pem file from the GitHub App's settings)"]


def test_version() -> None:
    from bot import __version__

    proc = subprocess.run([str(PROWLET), "--version"], capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"prowlet {__version__}")
