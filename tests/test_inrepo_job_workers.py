"""Jobs from a repository's .prowlet.yaml on shared job workers: one real `prowlet serve` (it runs
no jobs), real `prowlet worker` processes and a real Redis.  With PROWLET_JOB_SIGNING_KEY the
job's signed spec travels in the queue entry and a worker runs it (sandboxed) and has its status
posted; an entry edited in Redis before a worker claims it is refused and nothing runs; a worker
whose own config is stricter refuses; without the key the job is refused with a status naming it.

The job proves it ran by fetching a URL of a marker server here, which writes a marker file (a
sandboxed job cannot write outside its workspace, and its network is the host's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from bot.ci.runner import BAD_SIGNATURE, NO_SIGNING_KEY
from tests.conftest import COLLAB, REPO, make_fake, seed
from tests.fakes.base import FakeForge
from tests.served import Served, Worker, forge_env, post, wait_for

KEY = "a-signing-key-of-at-least-32-characters"
FAILED = "failed"  # GitLab's one state for failure and error


class Marks:
    """GET /<name> writes the file <dir>/<name>: the job's mark that it ran."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.dir = directory

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                (directory / Path(self.path).name).write_text("ran")
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config_text(allow_network: bool = True) -> str:
    return f"""
in_repo_config:
  enabled: true
  allow: {{jobs: true, network: {str(allow_network).lower()}}}
runner: {{run_jobs: false, lease: 3, max_concurrent: 1}}
jobs:
  - {{name: unit, run: "true", clone: false, always_run: false}}
"""


def repo_file(marks: Marks) -> str:
    # No clone: the point is where the job runs, not what it checks out.
    return ("jobs:\n  - name: smoke\n    clone: false\n    always_run: false\n    network: true\n"
            f"    run: 'echo smoke ran; curl -fsS {marks.url}/smoke-$PROWLET_JOB_ID'\n")


class Cluster:
    def __init__(self, fake: FakeForge, redis_url: str, prefix: str, tmp_path: Path, *, key: str | None) -> None:
        self.fake, self.tmp_path, self.prefix = fake, tmp_path, prefix
        self.redis = redis.Redis.from_url(redis_url)
        self.marks = Marks(tmp_path / "marks")
        self.config = tmp_path / "config.yaml"
        self.config.write_text(config_text())
        self.env = {**forge_env(fake), "PROWLET_REDIS_URL": redis_url, "PROWLET_REDIS_PREFIX": prefix}
        if key is not None:
            self.env["PROWLET_JOB_SIGNING_KEY"] = key
        self.serve = Served(self.env, tmp_path, data_dir=self._dir("serve"), name="serve",
                            args=("--config", str(self.config)))
        self.workers: list[Worker] = []
        fake.set_file(REPO, ".prowlet.yaml", repo_file(self.marks))

    def _dir(self, name: str) -> Path:
        path = self.tmp_path / name
        path.mkdir()
        return path

    def start_worker(self, config: Path | None = None) -> Worker:
        name = f"worker-{len(self.workers)}"
        worker = Worker(self.env, self.tmp_path, data_dir=self._dir(name), name=name,
                        args=("--config", str(config or self.config)))
        self.workers.append(worker)
        return worker

    def test_smoke(self) -> str:
        """Open a PR, comment /test smoke; the PR head's sha."""
        number, _ = self.fake.open_pull(REPO, author=COLLAB)
        assert post(self.serve.base, self.fake.comment(REPO, number, COLLAB, "/test smoke")) == 202
        return self.fake.head_sha(REPO, number)

    def statuses(self, sha: str) -> list[tuple[str, str]]:
        return [(FAILED if state in ("failure", "error", "failed") else state, description or "")
                for ctx, state, description, _ in self.fake.statuses(REPO, sha) if ctx == "smoke"]

    def finished(self, sha: str) -> list[tuple[str, str]]:
        wait_for(lambda: self.statuses(sha)[-1:] and self.statuses(sha)[-1][0] in ("success", FAILED),
                 "the job's final status", seconds=60)
        return self.statuses(sha)

    def queued_entry(self) -> str:
        """The Redis key of the one queued job (serve runs none, so it waits for a worker)."""
        def keys() -> list[bytes]:
            return [k for k in self.redis.scan_iter(f"{self.prefix}:jobq:ev:*")
                    if self.redis.hget(k, "payload")]
        wait_for(lambda: len(keys()) == 1, "the job to be queued")
        return keys()[0].decode()

    def started_jobs(self) -> list[str]:
        return [line["job"] for w in self.workers for line in w.log_lines() if line.get("event") == "job started"]

    def stop(self) -> None:
        for process in [*self.workers, self.serve]:
            if process.proc.poll() is None:
                process.stop()
        self.marks.close()
        self.redis.close()


@pytest.fixture
def cluster_for(redis_server: Any, redis_prefix: str, tmp_path: Path) -> Iterator[Any]:
    made: list[tuple[Cluster, Any]] = []

    def make(forge: str = "github", key: str | None = KEY) -> Cluster:
        context = make_fake(forge)
        fake = context.__enter__()
        seed(fake)
        cluster = Cluster(fake, redis_server.url, redis_prefix, tmp_path, key=key)
        made.append((cluster, context))
        return cluster

    yield make
    for cluster, context in made:
        try:
            cluster.stop()
        finally:
            context.__exit__(None, None, None)


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_a_job_from_the_file_runs_on_a_worker_and_reports(cluster_for: Any, forge: str) -> None:
    cluster = cluster_for(forge)
    cluster.start_worker()
    sha = cluster.test_smoke()
    assert [s for s, _ in cluster.finished(sha)] == ["pending", "success"]
    assert cluster.started_jobs() == ["smoke"]  # on the worker: serve runs no jobs
    (mark,) = cluster.marks.names()
    assert mark.startswith("smoke-")


def _change_command(entry: dict[str, Any], marks: Marks) -> None:
    entry["spec"]["run"] = f"curl -fsS {marks.url}/tampered"


def _drop_signature(entry: dict[str, Any], marks: Marks) -> None:
    entry["spec"]["run"] = f"curl -fsS {marks.url}/tampered"
    del entry["sig"]


@pytest.mark.parametrize("tamper", [_change_command, _drop_signature],
                         ids=["command changed, signature kept", "command changed, signature removed"])
def test_an_entry_changed_in_redis_is_refused_and_nothing_runs(cluster_for: Any, tamper: Any) -> None:
    cluster = cluster_for()
    sha = cluster.test_smoke()
    key = cluster.queued_entry()  # no worker yet: the entry waits
    entry = orjson.loads(cluster.redis.hget(key, "payload"))
    assert entry["spec"]["name"] == "smoke" and entry["sig"]
    tamper(entry, cluster.marks)
    cluster.redis.hset(key, "payload", orjson.dumps(entry))
    cluster.start_worker()
    states = cluster.finished(sha)
    assert [s for s, _ in states] == ["pending", FAILED]
    assert states[-1][1].endswith(BAD_SIGNATURE)
    assert cluster.marks.names() == [] and cluster.started_jobs() == []


def test_a_worker_with_a_stricter_config_refuses(cluster_for: Any) -> None:
    cluster = cluster_for()
    strict = cluster.tmp_path / "strict.yaml"
    strict.write_text(config_text(allow_network=False))
    cluster.start_worker(strict)
    sha = cluster.test_smoke()
    states = cluster.finished(sha)
    assert [s for s, _ in states] == ["pending", FAILED]
    assert states[-1][1].endswith("Refused: jobs from .prowlet.yaml get no network here.")
    assert cluster.marks.names() == [] and cluster.started_jobs() == []


def test_without_a_signing_key_the_job_is_refused_naming_the_variable(cluster_for: Any) -> None:
    cluster = cluster_for(key=None)
    cluster.start_worker()
    sha = cluster.test_smoke()
    states = cluster.finished(sha)
    assert [s for s, _ in states] == ["pending", FAILED]
    assert states[-1][1].endswith(NO_SIGNING_KEY) and "PROWLET_JOB_SIGNING_KEY" in states[-1][1]
    assert cluster.marks.names() == [] and cluster.started_jobs() == []
