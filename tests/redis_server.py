"""A real ``redis-server`` for the tests that claim Redis behaviour (never an imitation).

One server per test session on a free port, with its data in a temporary directory; each test gets
its own key prefix, so tests do not see each other's keys.  ``.ci/run`` installs Debian's
``redis-server``; without it these tests fail and say how to get it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: `apt-get install redis-server` (.ci/run does it)")
        self.dir = Path(tempfile.mkdtemp(prefix="prowlet-redis-"))
        # The port is free when picked but may be taken before redis-server binds it: try again.
        for _ in range(3):
            self.port = _free_port()
            # appendfsync always: what a deployment that must lose nothing would run.
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
                 "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "yes"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._answers():
                return
            self.proc.kill()
            self.proc.wait()
        self.stop()
        raise RuntimeError("redis-server did not start")

    def _answers(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
