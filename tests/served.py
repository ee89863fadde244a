"""`prowlet serve` and `prowlet worker` as real processes, configured only by the environment, for
tests that need the real entry point: start-up and shutdown, crashes (SIGKILL), replicas, workers."""

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
from collections.abc import Callable
from pathlib import Path

from tests.fakes.base import Delivery, FakeForge

PROWLET = Path(sys.executable).parent / "prowlet"  # the console script installed with the package


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def get_text(url: str, token: str | None = None) -> str:
    """A page's text ("" when there is no answer yet), with ``Authorization: Bearer <token>``."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def post(base: str, delivery: Delivery, timeout: float = 5) -> int:
    """The HTTP status, or 0 when no answer came (refused, reset, timed out)."""
    req = urllib.request.Request(base + delivery.path, data=delivery.body, headers=delivery.headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def wait_for(predicate: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def forge_env(*fakes: FakeForge) -> dict[str, str]:
    """The environment that points prowlet at these fakes."""
    env: dict[str, str] = {}
    for fake in fakes:
        if fake.name == "github":
            env.update(GITHUB_TOKEN=fake.token, GITHUB_API_URL=fake.api_url, GITHUB_WEBHOOK_SECRET=fake.webhook_secret)
        else:
            env.update(GITLAB_TOKEN=fake.token, GITLAB_URL=fake.api_url, GITLAB_WEBHOOK_SECRET=fake.webhook_secret)
    return env


class _Process:
    def __init__(self, command: list[str], env: dict[str, str], tmp_path: Path, data_dir: Path | None,
                 name: str) -> None:
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self._log = self.log_path.open("w")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "PROWLET_"))}
        # Unbuffered: a process killed with SIGKILL still leaves every line it logged.
        full_env.update(PROWLET_LOG_FORMAT="json", PROWLET_DATA_DIR=str(data_dir or tmp_path), PYTHONUNBUFFERED="1")
        full_env.update(env)
        self.proc = subprocess.Popen([str(PROWLET), *command], env=full_env, stderr=self._log, stdout=self._log)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # every task's and thread's stack, into the log
            time.sleep(1)
            self.proc.kill()
            self.proc.wait()
            self._log.close()
            tail = "\n".join(self.log_path.read_text().splitlines()[-80:])
            raise AssertionError(f"{self.log_path.name} did not stop within 40 s of SIGTERM:\n{tail}") from None
        self._log.close()
        return code

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:  # the last line, being written as we read
                    continue
        return lines


class Worker(_Process):
    """`prowlet worker`: ready once it says so in its log."""

    def __init__(self, env: dict[str, str], tmp_path: Path, *, data_dir: Path, name: str = "worker",
                 args: tuple[str, ...] = ()) -> None:
        super().__init__(["worker", *args], env, tmp_path, data_dir, name)

        def ready() -> bool:
            assert self.proc.poll() is None, self.log_path.read_text()
            return any(line.get("event") == "prowlet worker ready" for line in self.log_lines())

        wait_for(ready, f"{name} to be ready")


class Served(_Process):
    PORT_TRIES = 3  # free_port() frees the port before prowlet binds it: another process may take it

    def __init__(self, env: dict[str, str], tmp_path: Path, *, data_dir: Path | None = None, name: str = "prowlet",
                 args: tuple[str, ...] = ()) -> None:
        for attempt in range(1, self.PORT_TRIES + 1):
            self.port = free_port()
            self.base = f"http://127.0.0.1:{self.port}"
            super().__init__(["serve", "--host", "127.0.0.1", "--port", str(self.port), *args], env, tmp_path,
                             data_dir, name)
            if self._came_up() or attempt == self.PORT_TRIES:
                break
            self._log.close()  # the port was taken between picking and binding: another port

        def up() -> bool:
            try:
                get_json(self.base + "/healthz")
                return True
            except OSError:
                assert self.proc.poll() is None, self.log_path.read_text()
                return False

        wait_for(up, "prowlet to listen")

    def _came_up(self) -> bool:
        """False only when the process exited because its port was taken (errno 98)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                get_json(self.base + "/healthz")
                return True
            except OSError:
                if self.proc.poll() is not None:
                    return "address already in use" not in self.log_path.read_text()
                time.sleep(0.05)
        return True  # let up() report the timeout with the log
