"""Job workers: one real `prowlet serve` (it runs no jobs: `runner.run_jobs: false`) and two real
`prowlet worker` processes on one real Redis.  Jobs spread across the workers, their statuses are
posted once by serve, their log pages are served by serve, /retest sees what a worker ran, a new
run supersedes one running on another worker, and a worker killed with SIGKILL mid-job has its job
reported `error` (and queued again when the job says it may be).  Serve's notifier hears of each
job a worker ran once (a webhook channel, received here)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import COLLAB, REPO, make_fake, seed
from tests.fakes.base import FakeForge
from tests.served import Served, Worker, forge_env, post, wait_for

FAILED = "failed"
LEASE = 3  # seconds: a killed worker's job is reported lost after about this long


@pytest.fixture(params=["github", "gitlab"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    with make_fake(request.param) as f:
        seed(f)
        yield f


def config_file(tmp_path: Path, marks: Path) -> Path:
    marks.mkdir()
    # The process executor: these tests are about where jobs run, not about the sandbox (and a job
    # leaves marks outside its workspace to say it ran).
    path = tmp_path / "config.yaml"
    path.write_text(f"""
queue: {{lease: {LEASE}}}
notify:
  channels: {{hook: {{kind: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET}}}}
  routes: [{{outcomes: [JobFinished], channels: [hook]}}]
  retry_after: 0.2
runner: {{executor: process, run_jobs: false, lease: {LEASE}, max_concurrent: 1}}
jobs:
  - {{name: unit, run: "echo unit ran as $PROWLET_JOB_ID; sleep 1", clone: false, always_run: false}}
  - name: flaky
    run: "test -e {marks}/flaky && exit 0; touch {marks}/flaky; exit 1"
    clone: false
    always_run: false
  - name: slow
    run: "test -e {marks}/slow && exit 0; touch {marks}/slow; sleep 120"
    clone: false
    always_run: false
    retry_on_worker_loss: true
  - {{name: hang, run: "echo $PROWLET_HEAD_SHA > {marks}/hang-$PROWLET_JOB_ID; sleep 120", clone: false, always_run: false}}
""")
    return path


class HookReceiver:
    """The notification channel: records each post's delivery key and JSON body."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((self.headers.get("X-Prowlet-Delivery", ""), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def finished_jobs(self) -> list[str]:
        return [body["outcome"]["job_id"] for _, body in self.posts if body.get("type") == "JobFinished"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    def __init__(self, fake: FakeForge, redis_url: str, prefix: str, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.marks = tmp_path / "marks"
        self.config = config_file(tmp_path, self.marks)
        self.hook = HookReceiver()
        self.env = {**forge_env(fake), "PROWLET_REDIS_URL": redis_url, "PROWLET_REDIS_PREFIX": prefix,
                    "HOOK_URL": self.hook.url, "HOOK_SECRET": "hook-secret"}
        self.serve = Served(self.env, tmp_path, data_dir=self._dir("serve"), name="serve",
                            args=("--config", str(self.config)))
        self.workers = [self.start_worker(f"worker-{i}") for i in range(2)]

    def _dir(self, name: str) -> Path:
        path = self.tmp_path / name
        path.mkdir()
        return path

    def start_worker(self, name: str) -> Worker:
        return Worker(self.env, self.tmp_path, data_dir=self._dir(name), name=name, args=("--config", str(self.config)))

    def command(self, number: int, body: str) -> None:
        assert post(self.serve.base, self.fake.comment(REPO, number, COLLAB, body)) == 202

    def statuses(self, sha: str, context: str) -> list[tuple[str, str | None, str | None]]:
        return [(state, description, url) for ctx, state, description, url in self.fake.statuses(REPO, sha)
                if ctx == context]

    def states(self, sha: str, context: str) -> list[str]:
        """The states posted, with GitLab's one "failed" for failure and error (descriptions differ)."""
        return [FAILED if state in ("failure", "error", "failed") else state for state, _, _ in self.statuses(sha, context)]

    def ran_by(self, worker: Worker) -> dict[str, str]:
        """job id → job name, of the jobs this worker started."""
        return {line["job_id"]: line["job"] for line in worker.log_lines() if line.get("event") == "job started"}

    def runner_of(self, job: str) -> Worker:
        found = [w for w in self.workers if job in self.ran_by(w).values()]
        assert len(found) == 1, f"{job} ran on {len(found)} workers"
        return found[0]

    def stop(self) -> None:
        for process in [*self.workers, self.serve]:
            if process.proc.poll() is None:
                process.stop()
        self.hook.close()


@pytest.fixture
def cluster(fake: FakeForge, redis_server: Any, redis_prefix: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(fake, redis_server.url, redis_prefix, tmp_path)
    try:
        yield c
    finally:
        c.stop()


def final(states: list[str]) -> bool:
    return bool(states) and states[-1] in ("success", FAILED)


def read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_jobs_spread_across_workers_and_serve_reports_and_shows_them(cluster: Cluster) -> None:
    fake = cluster.fake
    numbers = [fake.open_pull(REPO, author=COLLAB)[0] for _ in range(4)]
    for number in numbers:
        cluster.command(number, "/test unit")
    shas = [fake.head_sha(REPO, n) for n in numbers]
    wait_for(lambda: all(final(cluster.states(sha, "unit")) for sha in shas), "every job to finish", seconds=60)
    assert [cluster.states(sha, "unit") for sha in shas] == [["pending", "success"]] * 4
    ran = [cluster.ran_by(w) for w in cluster.workers]
    assert all(ran), f"a worker ran nothing: {ran}"  # one job at a time each, so both took some
    assert sum(len(r) for r in ran) == 4
    # The link in the status is to serve (which ran nothing), and shows the worker's log.
    _, _, url = cluster.statuses(shas[0], "unit")[-1]
    assert url is not None
    page = cluster.serve.base + urlsplit(url).path
    job_id = urlsplit(url).path.split("/")[2]
    assert f"unit ran as {job_id}" in read(page + "/log")
    assert "success" in read(page)
    # Serve's notifier heard of each job a worker ran, once.
    ran_ids = sorted(job for r in ran for job in r)
    wait_for(lambda: len(cluster.hook.finished_jobs()) >= 4, "the job notifications")
    cluster.serve.stop()  # stopped: every post serve was going to make is made
    assert sorted(cluster.hook.finished_jobs()) == ran_ids


def test_retest_on_serve_sees_the_failure_a_worker_recorded(cluster: Cluster) -> None:
    number, _ = cluster.fake.open_pull(REPO, author=COLLAB)
    sha = cluster.fake.head_sha(REPO, number)
    cluster.command(number, "/test flaky")
    wait_for(lambda: final(cluster.states(sha, "flaky")), "the first run to fail", seconds=30)
    cluster.command(number, "/retest")  # `latest` in serve must see the worker's failed record
    wait_for(lambda: cluster.states(sha, "flaky")[-1:] == ["success"], "the rerun to pass", seconds=30)
    assert cluster.states(sha, "flaky") == ["pending", FAILED, "pending", "success"]


def test_a_new_run_supersedes_the_one_running_on_another_worker(cluster: Cluster) -> None:
    fake = cluster.fake
    number, _ = fake.open_pull(REPO, author=COLLAB)
    old_sha = fake.head_sha(REPO, number)
    cluster.command(number, "/test hang")
    wait_for(lambda: any("hang" in cluster.ran_by(w).values() for w in cluster.workers), "the job to run")
    old_worker = cluster.runner_of("hang")
    assert post(cluster.serve.base, fake.push(REPO, number, COLLAB)) == 202
    new_sha = fake.head_sha(REPO, number)
    cluster.command(number, "/test hang")
    wait_for(lambda: final(cluster.states(old_sha, "hang")), "the old run to stop", seconds=30)
    assert (cluster.statuses(old_sha, "hang")[-1][1] or "").endswith("Superseded.")  # GitLab: "error: ..."
    assert cluster.states(old_sha, "hang") == ["pending", FAILED]
    # The new head runs, on the worker that is free.
    wait_for(lambda: len([m for m in cluster.marks.glob("hang-*") if new_sha in m.read_text()]) == 1,
             "the new run to start")
    assert cluster.states(new_sha, "hang") == ["pending"]
    stopped = [line for line in old_worker.log_lines() if line.get("event") == "job finished"]
    assert [(line["state"], line["description"]) for line in stopped] == [("error", "Superseded.")]


def test_a_worker_killed_mid_job_has_its_job_reported_and_the_idempotent_one_queued_again(cluster: Cluster) -> None:
    fake = cluster.fake
    number, _ = fake.open_pull(REPO, author=COLLAB)
    sha = fake.head_sha(REPO, number)
    cluster.command(number, "/test slow hang")

    def running() -> bool:
        return {"slow", "hang"} <= {job for w in cluster.workers for job in cluster.ran_by(w).values()}

    wait_for(running, "both jobs to run")
    victims = {cluster.runner_of("slow"), cluster.runner_of("hang")}
    for worker in victims:
        worker.kill()
    cluster.workers = [w for w in cluster.workers if w not in victims]
    if not cluster.workers:  # both ran on one worker: somebody must take the jobs over
        cluster.workers.append(cluster.start_worker("worker-2"))
    wait_for(lambda: final(cluster.states(sha, "hang")), "the lost job to be reported", seconds=30)
    assert (cluster.statuses(sha, "hang")[-1][1] or "").endswith(
        "Worker lost: the process running this job stopped answering.")
    assert cluster.states(sha, "hang") == ["pending", FAILED]
    # slow may be retried: lost, queued again, and run to success by the survivor.
    wait_for(lambda: cluster.states(sha, "slow")[-1:] == ["success"], "the retry to pass", seconds=30)
    slow = cluster.statuses(sha, "slow")
    assert cluster.states(sha, "slow") == ["pending", FAILED, "pending", "success"]
    assert (slow[1][1] or "").endswith("Worker lost: the process running this job stopped answering. Queued again.")
    assert slow[1][2] != slow[3][2]  # the retry is a run of its own, with its own page
