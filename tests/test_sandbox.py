"""Built-in jobs attacked from inside, on each executor this host supports, and held to their limits.

The sandbox tests FAIL when bubblewrap or user namespaces do not work here (a CI machine that cannot
sandbox must say so, not pass quietly); PROWLET_ALLOW_NO_SANDBOX=1 turns that into a skip.  The
container tests skip, with the reason, where `docker info` fails (no daemon).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.ci.executors import ContainerExecutor, Executors, ProcessExecutor, SandboxExecutor
from bot.ci.jobs import Change, JobSpec
from bot.ci.limits import Limits
from bot.ci.links import JobLinks, load_key
from bot.ci.pages import job_routes
from bot.ci.reporter import StatusReporter
from bot.ci.runner import Runner
from bot.ci.store import FileJobLogs, JobRecord, JobStore, SqliteJobRecords
from bot.forge.base import CommitStatus, GitSource
from bot.outcomes import Bus

pytestmark = pytest.mark.timeout(90)

REPO, SHA = "acme/widgets", "a" * 40
CHANGE = Change("github", REPO, 7, SHA, "main", "ann", None)
BOT_TOKEN = "ghp_BOTS0WN7OKEN0123456789abcdef"  # in the bot's environment only: must stay invisible
WEBHOOK_SECRET = "bot-webhook-secret-0123456789"
CLONE_TOKEN = "ghs_cl0neCredential0123456789XY"
CLONE_HEADER = "Authorization: Basic " + base64.b64encode(f"x-access-token:{CLONE_TOKEN}".encode()).decode()
DEPLOY_KEY = "dk/Secret+Value=42&more"  # a configured job secret: reaches its job, masked in its log
IMAGE = os.environ.get("PROWLET_TEST_IMAGE", "python:3.11-slim")


def _probe(executor: SandboxExecutor | ContainerExecutor) -> str | None:
    return asyncio.run(executor.probe())


@pytest.fixture(scope="module")
def sandbox_works() -> None:
    why = _probe(SandboxExecutor())
    if why is None:
        return
    if os.environ.get("PROWLET_ALLOW_NO_SANDBOX") == "1":
        pytest.skip(f"the sandbox cannot run here ({why}); PROWLET_ALLOW_NO_SANDBOX=1 allows skipping")
    pytest.fail(f"THE SANDBOX CANNOT RUN ON THIS HOST: {why}. Jobs would be refused in production. Install "
                "bubblewrap and allow unprivileged user namespaces, or set PROWLET_ALLOW_NO_SANDBOX=1 to skip.")


@pytest.fixture(scope="module")
def container_works() -> None:
    why = _probe(ContainerExecutor())
    if why is not None:
        pytest.skip(f"no container runtime here: {why}")


@pytest.fixture(params=["sandbox", "container"])
def executor(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue(f"{request.param}_works")
    return request.param


@dataclass
class Harness:
    root: Path  # a world-readable directory, exposed read-only to sandboxed jobs
    data: Path  # PROWLET_DATA_DIR, inside root: hidden all the same
    store: JobStore
    runner: Runner
    client: TestClient
    links: JobLinks
    posted: list[CommitStatus]
    marker: str  # in every job's command line: finds leftovers

    async def run(self, job: JobSpec, change: Change = CHANGE) -> tuple[JobRecord, str]:
        job = replace(job, run=f": {self.marker}; {job.run}")
        record = await self.runner.start(job, change)
        done = await self.runner.wait(record.id, timeout=60)
        assert done is not None and done.finished, f"job {job.name} did not finish"
        return done, self.store.log_path(done.id).read_text(errors="replace")


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def planted_bot_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("GITLAB_WEBHOOK_SECRET", WEBHOOK_SECRET)


@pytest.fixture
async def h(planted_bot_secrets: None) -> AsyncIterator[Harness]:
    # Not under /tmp: a sandboxed job's /tmp is its own, which would hide this directory anyway.
    root = Path(tempfile.mkdtemp(prefix="prowlet-exposed-", dir="/var/tmp"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir(mode=0o755)
    store = JobStore(data / "jobs.sqlite3")
    for path in data.iterdir():  # readable by anyone who can reach it: only the sandbox stops a job
        path.chmod(0o755 if path.is_dir() else 0o644)
    links = JobLinks("http://unused", load_key(data))
    (data / "job-links.key").chmod(0o644)
    sandbox = SandboxExecutor(readonly=(*SandboxExecutor().readonly, str(root)), hidden=[data])
    executors = Executors({"sandbox": sandbox, "container": ContainerExecutor(), "process": ProcessExecutor()})
    app = web.Application()
    app.add_routes(job_routes(SqliteJobRecords(store), FileJobLogs(store), links))
    posted: list[CommitStatus] = []

    class Poster:
        async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
            posted.append(status)

    bus = Bus()
    StatusReporter({"github": Poster()}).attach(bus)
    marker = f"prowlet-test-{uuid.uuid4().hex}"
    async with TestClient(TestServer(app)) as client:
        runner = Runner(SqliteJobRecords(store), FileJobLogs(store), bus, links, data / "workspaces", 2, executors=executors, kill_grace=0.5,
                        secrets={"DEPLOY_KEY": DEPLOY_KEY, "OTHER_JOBS_KEY": "other-jobs-secret-value"})
        yield Harness(root, data, store, runner, client, links, posted, marker)
        await runner.close()
    store.close()
    end = time.monotonic() + 5
    while (leaked := _processes_with(marker)) and time.monotonic() < end:
        await asyncio.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)
    assert not leaked, f"job processes outlived the test: {leaked}"


def git(cwd: Path, *args: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture
def origin(tmp_path: Path) -> GitSource:
    work = tmp_path / "origin"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "hello.txt").write_text("hello\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "base")
    git(work, "update-ref", "refs/pull/7/head", "HEAD")
    # file:// ignores the header, but git gets it exactly as for an https forge.
    return GitSource(f"file://{work}", "refs/pull/7/head", CLONE_HEADER)


def attempt(name: str, command: str) -> str:
    """A line saying whether ``command`` succeeded, for the assertions."""
    return f"if {command}; then echo 'ATTEMPT {name}: SUCCEEDED'; else echo 'ATTEMPT {name}: failed'; fi"


# -- attacks from inside the job ------------------------------------------------------------------


async def test_a_job_cannot_reach_the_bot(h: Harness, executor: str, origin: GitSource) -> None:
    bot_pid = os.getpid()
    outside = [Path(p) / f"pwned-{h.marker}" for p in ("/usr", "/etc", "/opt", "/tmp", str(h.root), str(h.data))]
    script = "; ".join([
        # the bot's environment, through /proc
        "cat /proc/*/environ 2>/dev/null | tr '\\000' '\\n' | sed 's/^/ENVIRON /'",
        attempt("read-bot-environ", f"cat /proc/{bot_pid}/environ >/dev/null 2>&1"),
        # the bot's processes
        "for f in /proc/[0-9]*/cmdline; do echo \"PROC $f $(tr '\\000' ' ' < $f)\"; done",
        attempt("signal-bot", f"kill -0 {bot_pid} 2>/dev/null"),
        # the data dir: records, logs, the link key
        attempt("list-data-dir", f"ls {h.data} 2>/dev/null | grep -q jobs"),
        attempt("read-job-db", f"head -c 15 {h.data}/jobs.sqlite3 2>/dev/null | grep -q SQLite"),
        attempt("read-link-key", f"test -s {h.data}/job-links.key"),
        # writing outside the workspace
        *(attempt(f"write-{p.parent}", f"touch {p} 2>/dev/null") for p in outside),
        attempt("write-parent-of-workspace", "touch ../escaped 2>/dev/null"),
        attempt("write-workspace", "touch inside"),
        # the clone credential: nowhere in the checkout or the environment; printed, it is masked
        attempt("credential-in-git-config", "git config --list 2>/dev/null | grep -qi authorization"),
        attempt("credential-in-env", "env | grep -qi -e authorization -e x-access-token"),
        f"echo 'PRINT raw {CLONE_TOKEN}'",
        f"printf 'PRINT split {CLONE_TOKEN[:12]}'; sleep 0.2; printf '{CLONE_TOKEN[12:]}\\n'",
        f"echo \"PRINT header $(printf %s '{CLONE_HEADER}')\"",
        # the job's own secret: present, and masked in every form
        "echo \"PRINT secret-length ${#DEPLOY_KEY}\"",
        "echo \"PRINT secret-raw $DEPLOY_KEY\"",
        "echo \"PRINT secret-base64 $(printf %s \"$DEPLOY_KEY\" | base64)\"",
        f"echo 'PRINT secret-urlencoded {quote(DEPLOY_KEY, safe='')}'",
        attempt("other-jobs-secret", "env | grep -q OTHER_JOBS_KEY"),
        "env | sed 's/^/ENV /'",
    ])
    job = JobSpec("attack", script, executor=executor, image=IMAGE if executor == "container" else "",
                  secrets=("DEPLOY_KEY",), network=False)
    record, log = await h.run(job, replace(CHANGE, source=origin))

    assert record.state == "success", log
    results = dict(line.split(": ", 1) for line in log.splitlines() if line.startswith("ATTEMPT "))
    expected = {f"ATTEMPT {name}": "failed" for name in (
        "read-bot-environ", "signal-bot", "list-data-dir", "read-job-db", "read-link-key",
        *(f"write-{p.parent}" for p in outside), "write-parent-of-workspace",
        "credential-in-git-config", "credential-in-env", "other-jobs-secret")}
    expected["ATTEMPT write-workspace"] = "SUCCEEDED"  # the control: the job did run and can work
    expected["ATTEMPT write-/tmp"] = "SUCCEEDED"  # its own /tmp: nothing reaches the host's (asserted below)
    assert results == expected, log
    assert BOT_TOKEN not in log and WEBHOOK_SECRET not in log, "the bot's environment reached the job"
    procs = [line for line in log.splitlines() if line.startswith("PROC ")]
    assert procs and not any("pytest" in line or "python -m" in line for line in procs), procs
    assert len(procs) < 10, "only the job's own processes are visible"
    for path in outside:
        assert not path.exists(), f"the job wrote {path}"
    for form in (CLONE_TOKEN, CLONE_HEADER.split()[-1], DEPLOY_KEY, quote(DEPLOY_KEY, safe=""),
                 base64.b64encode(DEPLOY_KEY.encode()).decode()):
        assert form not in log, f"unmasked: {form}"
    prints = {line.split()[1]: line.split(" ", 2)[2] for line in log.splitlines() if line.startswith("PRINT ")}
    assert prints["secret-length"] == str(len(DEPLOY_KEY)), "the job got its secret"
    for name in ("raw", "split", "secret-raw", "secret-base64", "secret-urlencoded"):
        assert prints[name].startswith("***"), (name, prints[name])
    assert "***" in prints["header"]
    env = {line[4:].split("=", 1)[0] for line in log.splitlines() if line.startswith("ENV ")}
    allowed = {"PROWLET_JOB", "PROWLET_JOB_ID", "PROWLET_FORGE", "PROWLET_REPO", "PROWLET_NUMBER",
               "PROWLET_HEAD_SHA", "PROWLET_BASE_REF", "PROWLET_AUTHOR", "CI", "DEPLOY_KEY", "HOME", "PATH",
               "LANG", "PWD", "OLDPWD", "SHLVL", "_", "HOSTNAME"}
    assert env <= allowed, env - allowed


async def test_a_job_without_network_has_none(h: Harness, sandbox_works: None) -> None:
    script = attempt("connect", "python3 -c \"import socket; socket.create_connection(('127.0.0.1', "
                     f"{h.client.port}), 2)\" 2>/dev/null")
    _, offline = await h.run(JobSpec("offline", script, clone=False, network=False))
    _, online = await h.run(JobSpec("online", script, clone=False))
    assert "ATTEMPT connect: failed" in offline
    # With network (the default) the job shares the host's network, loopback included: it can reach
    # whatever listens there, prowlet's port among them (the README's threat model says so).
    assert "ATTEMPT connect: SUCCEEDED" in online


async def test_output_is_escaped_and_other_jobs_logs_need_their_token(h: Harness, sandbox_works: None) -> None:
    mine, _ = await h.run(JobSpec("xss", "echo '<script>alert(1)</script>'", clone=False))
    other, _ = await h.run(JobSpec("other", "echo other-jobs-output", clone=False))

    async with h.client.get(h.links.path(mine.id)) as resp:
        page = await resp.text()
    assert resp.status == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert h.posted[-1].target_url.endswith(h.links.path(other.id))
    for path in (f"/jobs/{other.id}", f"/jobs/{other.id}/log", f"/jobs/{other.id}/{h.links.token(mine.id)}/log",
                 f"/jobs/{other.id}/{'0' * 32}/log", "/jobs"):
        async with h.client.get(path) as resp:
            assert resp.status == 404, path
            assert "other-jobs-output" not in await resp.text()


# -- limits ---------------------------------------------------------------------------------------

MEMORY_HOG = "python3 -c 'import time; b = [bytearray(16 << 20) for _ in range(10)]; time.sleep(60)'"
FORK_BOMB = """python3 -c '
import os, time
for i in range(300):  # bounded: at most 300 children, even where no limit holds
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    except OSError:
        time.sleep(0.01)
time.sleep(60)'"""
SPINNER = "while :; do :; done"
FILLER = "for i in $(seq 40); do head -c 1000000 /dev/zero > f$i; done; sleep 60"
ONE_BIG_FILE = "head -c 40000000 /dev/zero > big; sleep 60"

LIMITED = Limits(memory=64 << 20, processes=32, cpu_seconds=2, workspace_bytes=8 << 20)
LIMIT_CASES = [
    ("memory-hog", MEMORY_HOG, "Job stopped: it used more than 64 MiB of memory."),
    ("fork-bomb", FORK_BOMB, "Job stopped: it reached its limit of 32 processes."),
    ("cpu-spinner", SPINNER, "Job stopped: it used more than 2s of CPU time."),
    ("workspace-filler", FILLER, "Job stopped: its workspace passed 8 MiB."),
    ("one-big-file", ONE_BIG_FILE, "Job stopped: its workspace passed 8 MiB."),
]


@pytest.mark.parametrize("run,description", [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES])
@pytest.mark.parametrize("executor_name", ["sandbox", "process"])
async def test_a_job_past_a_limit_is_stopped_whole_and_reported(
    h: Harness, request: pytest.FixtureRequest, executor_name: str, run: str, description: str
) -> None:
    if executor_name == "sandbox":
        request.getfixturevalue("sandbox_works")
    job = JobSpec("greedy", run, clone=False, executor=executor_name, limits=LIMITED, timeout=60)
    record, log = await h.run(job)
    assert (record.state, record.description) == ("error", description), log
    assert f"# prowlet: {description}" in log
    assert h.posted[-1].description == description and h.posted[-1].state.value == "error"
    assert not _processes_with(h.marker), "the job's whole tree is stopped"


async def test_within_its_limits_a_job_runs_normally(h: Harness, sandbox_works: None) -> None:
    script = "head -c 1000000 /dev/zero > f; for i in 1 2 3 4; do sleep 0.1 & done; wait; echo fine"
    record, log = await h.run(JobSpec("modest", script, clone=False, limits=LIMITED))
    assert (record.state, record.description) == ("success", "Job succeeded."), log


# -- refusals -------------------------------------------------------------------------------------


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    yield


async def test_without_bubblewrap_jobs_are_refused_never_run_unsandboxed(h: Harness, no_bwrap: None) -> None:
    marker = h.root / "ran"
    record, log = await h.run(JobSpec("unit", f"touch {marker}", clone=False))
    assert record.state == "error"
    assert record.description == ("Refused: the sandbox executor cannot run jobs on this host (bwrap is not "
                                  "installed (Debian: apt-get install bubblewrap)).")
    assert h.posted[-1].description == record.description
    assert not marker.exists()
    assert record.description in log


async def test_a_job_whose_secret_is_not_set_is_refused(h: Harness, sandbox_works: None) -> None:
    record, _ = await h.run(JobSpec("deploy", "echo should-not-run", clone=False, secrets=("NOT_SET_ANYWHERE",)))
    assert (record.state, record.description) == (
        "error", "Refused: the secret NOT_SET_ANYWHERE is not set in prowlet's environment.")


# -- how each executor is started: pure ----------------------------------------------------------

JOB_RUN_ENV = {"PROWLET_JOB": "unit", "CI": "true", "DEPLOY_KEY": DEPLOY_KEY}


@pytest.mark.parametrize("executor_name", ["sandbox", "container", "process"])
def test_secrets_travel_in_the_environment_never_in_argv(executor_name: str, tmp_path: Path) -> None:
    from bot.ci.executors import JobRun

    executor = {"sandbox": SandboxExecutor(), "container": ContainerExecutor(), "process": ProcessExecutor()}[executor_name]
    launch = executor.launch(JobRun("0" * 32, "make test", JOB_RUN_ENV, tmp_path, LIMITED, image=IMAGE))
    assert not any(DEPLOY_KEY in arg for arg in launch.argv), launch.argv  # any local user can read argv
    assert launch.env["DEPLOY_KEY"] == DEPLOY_KEY
    assert not {"GITHUB_TOKEN", "GITLAB_WEBHOOK_SECRET"} & set(launch.env)


CONTAINER_FLAGS = [
    ("no capabilities", ["--cap-drop", "ALL"]),
    ("no new privileges", ["--security-opt", "no-new-privileges"]),
    ("read-only root", ["--read-only"]),
    ("memory", ["--memory", str(64 << 20)]),
    ("processes", ["--pids-limit", "32"]),
    ("cpu time", ["--ulimit", "cpu=2:7"]),
    ("workspace mount", ["-w", "/workspace"]),
    ("secret by name only", ["-e", "DEPLOY_KEY"]),
    ("no network", ["--network", "none"]),
]


@pytest.mark.parametrize("flags", [c[1] for c in CONTAINER_FLAGS], ids=[c[0] for c in CONTAINER_FLAGS])
def test_container_run_flags(flags: list[str], tmp_path: Path) -> None:
    from bot.ci.executors import JobRun

    argv = ContainerExecutor().launch(JobRun("0" * 32, "make", JOB_RUN_ENV, tmp_path, LIMITED, network=False,
                                             image=IMAGE)).argv
    assert any(argv[i:i + len(flags)] == flags for i in range(len(argv))), argv
    assert argv[-4:] == [IMAGE, "/bin/sh", "-c", "make"]


SANDBOX_FLAGS = [
    ("every namespace", ["--unshare-all", "--unshare-user"], True),
    ("no nested user namespaces", ["--disable-userns"], True),
    ("dies with prowlet", ["--die-with-parent"], True),
    ("shares the network when asked", ["--share-net"], True),
    ("private /tmp capped at the workspace size", ["--size", str(8 << 20), "--tmpfs", "/tmp"], True),
    ("root read-only", ["--remount-ro", "/"], True),
]


@pytest.mark.parametrize("flags,present", [c[1:] for c in SANDBOX_FLAGS], ids=[c[0] for c in SANDBOX_FLAGS])
def test_sandbox_flags(flags: list[str], present: bool, tmp_path: Path) -> None:
    from bot.ci.executors import JobRun

    argv = SandboxExecutor().launch(JobRun("0" * 32, "make", JOB_RUN_ENV, tmp_path, LIMITED)).argv
    assert any(argv[i:i + len(flags)] == flags for i in range(len(argv))) is present, argv
    offline = SandboxExecutor().launch(JobRun("0" * 32, "make", JOB_RUN_ENV, tmp_path, LIMITED, network=False)).argv
    assert "--share-net" not in offline
