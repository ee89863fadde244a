"""The built-in CI runner: real subprocesses, real git, a recording status poster, real job pages."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.ci.jobs import Change, JobSpec
from bot.ci.links import JobLinks
from bot.ci.pages import job_routes
from bot.ci.reporter import StatusReporter
from bot.ci.runner import Runner, format_duration
from bot.ci.store import FileJobLogs, JobRecord, JobStore, SqliteJobRecords
from bot.forge.base import CommitStatus, ForgeUnavailableError, GitSource, StatusState
from bot.outcomes import Bus

pytestmark = pytest.mark.timeout(30)

REPO = "acme/widgets"
SHA = "a" * 40
CHANGE = Change("github", REPO, 7, SHA, "main", "ann", None)
PENDING, SUCCESS, FAILURE, ERROR = StatusState.PENDING, StatusState.SUCCESS, StatusState.FAILURE, StatusState.ERROR


class RecordingPoster:
    """A StatusPoster that remembers every status, in order; optionally fails every call."""

    def __init__(self, fail: bool = False) -> None:
        self.posted: list[tuple[str, str, CommitStatus]] = []
        self.fail = fail

    async def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        self.posted.append((repo, sha, status))
        if self.fail:
            raise ForgeUnavailableError("503 from the forge")

    def states(self, sha: str = SHA, context: str | None = None) -> list[tuple[StatusState, str]]:
        return [(s.state, s.description) for _, h, s in self.posted if h == sha and context in (None, s.context)]


KEY = b"k" * 32


@dataclass
class Harness:
    tmp: Path
    store: JobStore
    poster: RecordingPoster
    runner: Runner
    client: TestClient
    base_url: str
    links: JobLinks

    async def run(self, job: JobSpec, change: Change = CHANGE) -> JobRecord:
        record = await self.runner.start(job, change)
        done = await self.runner.wait(record.id, timeout=20)
        assert done is not None and done.finished, f"job {job.name} did not finish"
        return done

    def log(self, job_id: str) -> str:
        return self.store.log_path(job_id).read_text(errors="replace")

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 10) -> None:
        end = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            await asyncio.sleep(0.01)


async def make_harness(
    tmp: Path, max_concurrent: int = 2, poster: RecordingPoster | None = None, max_log_bytes: int = 50 * 1024 * 1024
) -> AsyncIterator[Harness]:
    store = JobStore(tmp / "data" / "jobs.sqlite3")
    app = web.Application()
    app.add_routes(job_routes(SqliteJobRecords(store), FileJobLogs(store), JobLinks("http://unused", KEY)))  # pages check tokens, not URLs
    async with TestClient(TestServer(app)) as client:
        base_url = str(client.make_url("")).rstrip("/")
        links = JobLinks(base_url + "/", KEY)
        poster = poster or RecordingPoster()
        bus = Bus()
        StatusReporter({"github": poster}).attach(bus)
        # These tests are about process control, so they run jobs as plain processes (they watch
        # pid files outside the workspace); tests/test_sandbox.py runs jobs in the sandbox.
        runner = Runner(SqliteJobRecords(store), FileJobLogs(store), bus, links, tmp / "work", max_concurrent,
                        default_executor="process",
                        kill_grace=0.3, max_log_bytes=max_log_bytes)
        yield Harness(tmp, store, poster, runner, client, base_url, links)
        await runner.close()
    store.close()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in make_harness(tmp_path):
        yield harness


def alive(pid: int) -> bool:
    """Running and not a zombie (in a container nobody may reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def processes_under(root: Path) -> list[int]:
    """Live processes whose working directory is (or was, before deletion) under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(f"{root}/"):
                found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_leaked_processes(tmp_path: Path) -> Iterator[None]:
    """Every test: nothing a job started outlives it (jobs run in workspaces under tmp_path)."""
    yield
    end = time.monotonic() + 2
    while (leaked := processes_under(tmp_path)) and time.monotonic() < end:
        time.sleep(0.02)
    for pid in leaked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    assert not leaked, f"processes outlived the test: {leaked}"


def pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


# -- outcomes and statuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "state", "status", "description", "exit_code"),
    [
        ("echo hello", "success", SUCCESS, "Job succeeded.", 0),
        ("exit 2", "failure", FAILURE, "Job failed (exit 2).", 2),
        ("echo partial; false", "failure", FAILURE, "Job failed (exit 1).", 1),
        ("kill -9 $$", "failure", FAILURE, "Job failed (killed by signal 9).", -9),
    ],
)
async def test_outcome_becomes_status_with_working_link(
    h: Harness, run: str, state: str, status: StatusState, description: str, exit_code: int
) -> None:
    record = await h.run(JobSpec("unit", run, clone=False))

    assert (record.state, record.description, record.exit_code) == (state, description, exit_code)
    assert record.finished_at is not None and record.finished_at >= record.started_at
    assert h.poster.states() == [(PENDING, "Job triggered."), (status, description)]
    for repo, sha, posted in h.poster.posted:
        assert (repo, sha, posted.context) == (REPO, SHA, "unit")
        assert posted.target_url == f"{h.base_url}/jobs/{record.id}/{h.links.token(record.id)}"
        async with h.client.session.get(posted.target_url) as resp:  # the "Details" link works
            assert resp.status == 200
            assert "unit" in await resp.text()
    assert not (h.tmp / "work" / record.id).exists(), "workspace must be deleted after the job"
    assert await h.runner.latest("github", REPO, SHA) == {"unit": record}


@pytest.mark.parametrize(
    ("prelude", "graceful"),
    [
        pytest.param("", True, id="dies-on-sigterm"),
        pytest.param("trap '' TERM; ", False, id="ignores-sigterm-needs-sigkill"),
    ],
)
async def test_timeout_kills_the_whole_process_tree(h: Harness, prelude: str, graceful: bool) -> None:
    pids, termed = h.tmp / "pids", h.tmp / "termed"
    # A background child that cleans up on SIGTERM: the whole group gets SIGTERM before any SIGKILL.
    cleaner = f"sh -c 'trap \"echo cleaned > {termed}; exit 0\" TERM; echo $$ >> {pids}; while :; do sleep 0.05; done' &"
    run = (
        f"{prelude}echo $$ >> {pids}; sleep 30 & echo $! >> {pids}; {cleaner} "
        f"sh -c 'echo $$ >> {pids}; exec sleep 30'"
    )
    began = time.monotonic()
    record = await h.run(JobSpec("slow", run, clone=False, timeout=0.5))

    assert time.monotonic() - began < 5
    assert (record.state, record.description) == ("error", "Job timed out after 0.5s.")
    assert h.poster.states() == [(PENDING, "Job triggered."), (ERROR, "Job timed out after 0.5s.")]
    started = pids_in(pids)
    assert len(started) == 4, "the shell, a background sleep, a cleaner and a nested sleep"
    await h.until(lambda: not any(alive(p) for p in started), "every process of the job to be gone", 3)
    assert termed.exists() is graceful


async def test_background_leftovers_are_stopped_when_the_job_ends(h: Harness) -> None:
    pid, cleaned = h.tmp / "pid", h.tmp / "cleaned"
    leftover = f"sh -c 'trap \"echo yes > {cleaned}; exit 0\" TERM; echo $$ > {pid}; while :; do sleep 0.05; done' &"
    run = f"{leftover} until [ -s {pid} ]; do sleep 0.01; done; exit 0"  # exits once the leftover is set up
    record = await h.run(JobSpec("leaky", run, clone=False))

    assert (record.state, record.description) == ("success", "Job succeeded.")
    await h.until(lambda: pid.exists() and not alive(int(pid.read_text())), "the leftover to be gone", 3)
    assert cleaned.exists(), "leftovers get SIGTERM (and a grace period) before SIGKILL"


@pytest.mark.parametrize(
    ("seconds", "text"), [(1800, "30m"), (3600, "1h"), (7200, "2h"), (90, "90s"), (0.5, "0.5s"), (60, "1m")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


async def test_output_is_logged_and_served_escaped(h: Harness) -> None:
    record = await h.run(JobSpec("xss", "echo '<script>alert(1)</script>'; echo to-stderr >&2", clone=False))

    log = h.log(record.id)
    assert "<script>alert(1)</script>" in log and "to-stderr" in log
    async with h.client.get(h.links.path(record.id)) as resp:
        page = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>" not in page
        assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'none' covers it
    async with h.client.get(h.links.path(record.id) + "/log") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script>alert(1)</script>" in await resp.text()


async def test_job_environment_is_minimal_and_holds_no_secrets(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_planted_secret_0123456789")
    monkeypatch.setenv("GITLAB_WEBHOOK_SECRET", "planted-webhook-secret")
    change = Change("github", REPO, 7, SHA, "release-1.2", "ann", None)
    record = await h.run(JobSpec("env", "env; echo files=$(ls -A | wc -l); echo cwd=$(pwd)", clone=False), change)

    assert record.state == "success"
    log = h.log(record.id)
    assert "ghp_planted_secret" not in log and "planted-webhook-secret" not in log
    env = dict(line.split("=", 1) for line in log.splitlines() if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", line))
    workspace = str(h.tmp / "work" / record.id)
    expected = {
        "PROWLET_JOB": "env",
        "PROWLET_JOB_ID": record.id,
        "PROWLET_FORGE": "github",
        "PROWLET_REPO": REPO,
        "PROWLET_NUMBER": "7",
        "PROWLET_HEAD_SHA": SHA,
        "PROWLET_BASE_REF": "release-1.2",
        "PROWLET_AUTHOR": "ann",
        "CI": "true",
        "HOME": workspace,
        "LANG": "C.UTF-8",
        "PATH": os.environ["PATH"],
        "files": "0",  # clone: false gives an empty directory
        "cwd": workspace,
    }
    assert {k: env.get(k) for k in expected} == expected
    shell_own = {"PWD", "OLDPWD", "SHLVL", "_"}
    assert set(env) - set(expected) - shell_own == set(), "nothing of prowlet's own environment reaches a job"


# -- git checkout ---------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class Origin:
    bare: Path
    base: str  # commit on main
    first: str  # first commit of the PR
    head: str  # PR head (refs/pull/1/head)
    other: str  # a commit on another branch, not reachable from the PR ref


def _start_origin(root: Path, name: str) -> tuple[Path, Path]:
    """A bare repository and a work tree whose "main" holds hello.txt ("base"), pushed."""
    bare, work = root / f"{name}.git", root / f"{name}-work"
    bare.mkdir()
    work.mkdir()
    git(bare, "init", "-q", "--bare")
    git(work, "init", "-q", "-b", "main")
    (work / "hello.txt").write_text("base\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "base")
    git(work, "push", "-q", str(bare), "main")
    return bare, work


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Origin:
    bare, work = _start_origin(tmp_path_factory.mktemp("origin"), "origin")
    base = git(work, "rev-parse", "HEAD")
    (work / "hello.txt").write_text("first\n")
    git(work, "commit", "-q", "-am", "first")
    first = git(work, "rev-parse", "HEAD")
    (work / "hello.txt").write_text("from the PR\n")
    git(work, "commit", "-q", "-am", "head")
    head = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", str(bare), "HEAD:refs/pull/1/head")
    git(work, "checkout", "-q", "-b", "other", base)
    git(work, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    other = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", str(bare), "other")
    git(bare, "update-server-info")
    return Origin(bare, base, first, head, other)


CHECK = "echo HEAD=$(git rev-parse HEAD); echo CONTENT=$(cat hello.txt)"


@pytest.mark.parametrize(
    ("which", "expect_head", "content", "fallback"),
    [
        pytest.param("head", "head", "from the PR", False, id="at-the-head"),
        pytest.param("first", "first", "first", False, id="older-sha-within-depth"),
        pytest.param("other", "head", "from the PR", True, id="sha-not-fetched-falls-back"),
        pytest.param("nonsense", "head", "from the PR", True, id="not-a-sha-falls-back"),
    ],
)
async def test_clone_checks_out_the_pr_head(
    h: Harness, origin: Origin, which: str, expect_head: str, content: str, fallback: bool
) -> None:
    sha = getattr(origin, which) if which != "nonsense" else "--upload-pack=false"
    source = GitSource(f"file://{origin.bare}", "refs/pull/1/head")
    record = await h.run(JobSpec("build", CHECK), replace(CHANGE, head_sha=sha, source=source))

    log = h.log(record.id)
    assert record.state == "success", log
    assert f"HEAD={getattr(origin, expect_head)}" in log
    assert f"CONTENT={content}" in log
    assert ("checking out FETCH_HEAD instead" in log) is fallback
    assert not (h.tmp / "work" / record.id).exists()


@pytest.mark.parametrize(
    ("source", "description"),
    [
        pytest.param(None, "Could not check out {short}: no git source for this change.", id="no-source"),
        pytest.param(
            GitSource("file:///nonexistent/repo.git", "refs/pull/1/head"),
            "Could not check out {short}: git fetch failed (exit 128).",
            id="bad-url",
        ),
        pytest.param(
            GitSource("ORIGIN", "refs/pull/999/head"),
            "Could not check out {short}: git fetch failed (exit 128).",
            id="missing-ref",
        ),
    ],
)
async def test_clone_failure_is_an_error(h: Harness, origin: Origin, source: GitSource | None, description: str) -> None:
    if source is not None and source.url == "ORIGIN":
        source = replace(source, url=f"file://{origin.bare}")
    marker = h.tmp / "ran"
    record = await h.run(JobSpec("build", f"touch {marker}"), replace(CHANGE, source=source))

    expected = description.format(short=SHA[:7])
    assert (record.state, record.description, record.exit_code) == ("error", expected, None)
    assert h.poster.states() == [(PENDING, "Job triggered."), (ERROR, expected)]
    assert not marker.exists(), "the command must not run without a checkout"
    assert expected in h.log(record.id)


TOKEN = "s3cret-installation-token"
HEADER = "Authorization: Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


@pytest.fixture
async def smart_http(origin: Origin) -> AsyncIterator[tuple[str, list[str | None]]]:
    """Git's smart HTTP protocol (git http-backend as CGI) that demands the Authorization header."""
    seen: list[str | None] = []
    expected = HEADER.split(": ", 1)[1]

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
        body = await request.read()
        env = {
            "PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(origin.bare.parent), "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": request.path, "QUERY_STRING": request.query_string, "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1", "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
        }
        proc = await asyncio.create_subprocess_exec(
            "git", "http-backend", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate(body)
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        status = int(headers.pop("Status", "200").split()[0])
        return web.Response(status=status, body=payload, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    async with TestServer(app) as server:
        yield str(server.make_url("/origin.git")), seen


@pytest.mark.parametrize(
    ("header", "state"), [pytest.param(HEADER, "success", id="with-header"), pytest.param("", "error", id="without")]
)
async def test_clone_over_http_sends_the_header_but_never_shows_it(
    h: Harness, origin: Origin, smart_http: tuple[str, list[str | None]], monkeypatch: pytest.MonkeyPatch,
    header: str, state: str,
) -> None:
    url, seen = smart_http
    spawned: list[tuple[tuple[str, ...], dict[str, str]]] = []
    real_exec = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> Any:
        spawned.append((tuple(map(str, args)), dict(kwargs.get("env") or {})))
        return await real_exec(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    job = JobSpec("build", f"{CHECK}; env; cat .git/config; git config --list")
    record = await h.run(job, replace(CHANGE, head_sha=origin.head, source=GitSource(url, "refs/pull/1/head", header)))

    log = h.log(record.id)
    assert record.state == state, log
    assert seen, "git must have talked to the server"
    if header:
        assert f"HEAD={origin.head}" in log
        assert HEADER.split(": ", 1)[1] in seen  # git sent the header it got through the environment
        fetches = [env for argv, env in spawned if "fetch" in argv]
        assert fetches and all(env.get("GIT_CONFIG_VALUE_0") == HEADER for env in fetches)
    for secret in (TOKEN, HEADER.split()[-1]):
        assert secret not in log
        assert not any(secret in arg for argv, _ in spawned for arg in argv), "the header must not be in any argv"
        jobs_env = [env for _, env in spawned if "PROWLET_JOB" in env]
        assert not any(secret in value for env in jobs_env for value in env.values())


def test_git_output_is_masked_of_every_form_of_the_header() -> None:
    from bot.ci.masking import Masker, header_secrets

    value = HEADER.split(": ", 1)[1]
    credential = value.split()[-1]
    output = f"fatal: {HEADER}\nsaw {value}\nbare {credential}\ntoken {TOKEN}\nBasic auth failed\n".encode()
    masked = Masker(header_secrets(HEADER)).mask(output).decode()
    assert credential not in masked and TOKEN not in masked
    assert masked.count("***") == 4
    assert "Basic auth failed" in masked  # short common words are not treated as secrets


# -- scheduling -----------------------------------------------------------------------------------


async def test_concurrency_is_bounded_and_queued_jobs_stay_pending(tmp_path: Path) -> None:
    async for h in make_harness(tmp_path, max_concurrent=1):
        trace, gate = tmp_path / "trace", tmp_path / "gate"
        run = f"echo start $PROWLET_JOB >> {trace}; until [ -e {gate} ]; do sleep 0.01; done; echo end $PROWLET_JOB >> {trace}"
        records = [await h.runner.start(JobSpec(f"job{i}", run, clone=False), CHANGE) for i in range(3)]
        await h.until(lambda: any(h.store.get(r.id).state == "running" for r in records), "a job to run")
        await asyncio.sleep(0.2)  # room for a second job to (wrongly) start
        states = sorted(h.store.get(r.id).state for r in records)
        assert states == ["pending", "pending", "running"]
        assert [s for s, _ in h.poster.states()] == [PENDING] * 3, "every job is reported pending at once"
        gate.touch()
        for r in records:
            assert (await h.runner.wait(r.id, 10)).state == "success"
        lines = trace.read_text().splitlines()
        assert len(lines) == 6
        for begin, end in zip(lines[0::2], lines[1::2], strict=True):  # never two starts in a row
            assert (begin.split()[0], end.split()[0]) == ("start", "end"), lines
            assert begin.split()[1] == end.split()[1], lines


@pytest.mark.parametrize(
    ("second", "superseded", "old_statuses"),
    [
        pytest.param({}, True, [(PENDING, "Job triggered.")], id="same-sha"),
        pytest.param({"head_sha": "b" * 40}, True, [(PENDING, "Job triggered."), (ERROR, "Superseded.")], id="new-push"),
        pytest.param({"number": 8}, False, [(PENDING, "Job triggered."), (SUCCESS, "Job succeeded.")], id="other-pr"),
        pytest.param({"repo": "acme/other"}, False, [(PENDING, "Job triggered."), (SUCCESS, "Job succeeded.")], id="other-repo"),
    ],
)
async def test_a_new_run_supersedes_the_running_one(
    h: Harness, second: dict[str, Any], superseded: bool, old_statuses: list[tuple[StatusState, str]]
) -> None:
    pid_file, gate = h.tmp / "pid", h.tmp / "gate"
    first = await h.runner.start(
        JobSpec("unit", f"echo $$ > {pid_file}; until [ -e {gate} ]; do sleep 0.01; done", clone=False), CHANGE
    )
    await h.until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "the first job to run")
    pid = int(pid_file.read_text())
    new_change = replace(CHANGE, **second)
    record = await h.run(JobSpec("unit", "echo second", clone=False), new_change)
    assert record.state == "success"
    gate.touch()
    old = await h.runner.wait(first.id, 10)

    if superseded:
        assert (old.state, old.description) == ("error", "Superseded.")
        assert not alive(pid)
    else:
        assert old.state == "success"
    def statuses_of(job_id: str) -> list[tuple[StatusState, str]]:
        return [(s.state, s.description) for _, _, s in h.poster.posted if f"/jobs/{job_id}/" in s.target_url]

    assert statuses_of(first.id) == old_statuses
    assert statuses_of(record.id) == [(PENDING, "Job triggered."), (SUCCESS, "Job succeeded.")]
    if second == {}:  # same commit: the last word on the context is the new run's
        assert h.poster.states(SHA, "unit")[-1] == (SUCCESS, "Job succeeded.")
        assert (await h.runner.latest("github", REPO, SHA))["unit"].id == record.id


async def test_close_kills_running_jobs_and_reports_them(h: Harness) -> None:
    pid_file = h.tmp / "pid"
    record = await h.runner.start(JobSpec("unit", f"echo $$ > {pid_file}; sleep 30", clone=False), CHANGE)
    await h.until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "the job to run")
    pid = int(pid_file.read_text())

    await h.runner.close()

    closed = h.store.get(record.id)
    assert (closed.state, closed.description) == ("error", "Aborted: prowlet shut down.")
    assert not alive(pid)
    assert h.poster.states() == [(PENDING, "Job triggered."), (ERROR, "Aborted: prowlet shut down.")]
    with pytest.raises(RuntimeError):
        await h.runner.start(JobSpec("unit", "true", clone=False), CHANGE)


async def test_close_while_a_process_is_being_set_up_leaks_nothing(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio SIGKILLs only the leader when process set-up is cancelled; its children would leak."""
    pid_file, spawned = h.tmp / "pid", asyncio.Event()
    real_exec = asyncio.create_subprocess_exec

    async def slow_setup(*args: Any, **kwargs: Any) -> Any:
        proc = await real_exec(*args, **kwargs)
        spawned.set()
        await asyncio.sleep(0.3)  # the cancellation lands here, the process already running
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", slow_setup)
    record = await h.runner.start(JobSpec("unit", f"sleep 30 & echo $! > {pid_file}; sleep 30", clone=False), CHANGE)
    await spawned.wait()
    await h.until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", "the job to fork")

    await h.runner.close()

    assert h.store.get(record.id).state == "error"
    await h.until(lambda: not alive(int(pid_file.read_text())), "the background child to be gone", 3)


@pytest.mark.parametrize("poster", [RecordingPoster(fail=True), None], ids=["poster-raises", "no-poster-for-forge"])
async def test_status_failures_never_stop_the_runner(tmp_path: Path, poster: RecordingPoster | None) -> None:
    async for h in make_harness(tmp_path, poster=poster):
        change = CHANGE if poster is not None else replace(CHANGE, forge="gitlab")
        record = await h.run(JobSpec("unit", "echo ok", clone=False), change)
        assert (record.state, record.description) == ("success", "Job succeeded.")
        if poster is not None:
            assert [s for s, _ in poster.states()] == [PENDING, SUCCESS]  # both attempted
        second = await h.run(JobSpec("lint", "exit 3", clone=False), change)
        assert second.state == "failure"


# -- restarts -------------------------------------------------------------------------------------


async def test_recover_reports_jobs_interrupted_by_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jobs.sqlite3"
    before = JobStore(path)
    running = before.create(job="unit", forge="github", repo=REPO, number=7, sha=SHA)
    before.update(running.id, state="running")
    queued = before.create(job="lint", forge="github", repo=REPO, number=7, sha=SHA)
    done = before.create(job="e2e", forge="github", repo=REPO, number=7, sha=SHA)
    before.finish(done.id, "success", "Job succeeded.", 0)
    before.close()
    leftover = tmp_path / "work" / running.id
    leftover.mkdir(parents=True)
    (leftover / "file").write_text("x")

    store = JobStore(path)  # a new process: the records survived
    poster = RecordingPoster()
    bus = Bus()
    StatusReporter({"github": poster}).attach(bus)
    links = JobLinks("https://prowlet.example.com", KEY)
    runner = Runner(SqliteJobRecords(store), FileJobLogs(store), bus, links, tmp_path / "work")
    assert await runner.recover() == 2

    for record in (running, queued):
        after = store.get(record.id)
        assert (after.state, after.description) == ("error", "Interrupted by a prowlet restart.")
        assert after.finished_at is not None
    assert store.get(done.id).state == "success"
    assert [(repo, sha, s) for repo, sha, s in poster.posted] == [
        (REPO, SHA, CommitStatus("unit", ERROR, "Interrupted by a prowlet restart.", links.url(running.id))),
        (REPO, SHA, CommitStatus("lint", ERROR, "Interrupted by a prowlet restart.", links.url(queued.id))),
    ]
    assert not leftover.exists()
    assert store.unfinished() == []
    assert await runner.recover() == 0
    store.close()


# -- store ----------------------------------------------------------------------------------------


def test_store_latest_is_the_newest_record_per_job_for_that_commit(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    old = store.create(job="unit", forge="github", repo=REPO, number=1, sha=SHA)
    new = store.create(job="unit", forge="github", repo=REPO, number=1, sha=SHA)
    lint = store.create(job="lint", forge="github", repo=REPO, number=1, sha=SHA)
    store.create(job="unit", forge="github", repo=REPO, number=1, sha="b" * 40)
    store.create(job="unit", forge="gitlab", repo=REPO, number=1, sha=SHA)
    store.finish(old.id, "success", "Job succeeded.", 0)

    latest = store.latest("github", "Acme/Widgets", SHA)
    assert {name: r.id for name, r in latest.items()} == {"unit": new.id, "lint": lint.id}
    assert store.finish(old.id, "failure", "again") is None, "a record is finished once"
    assert store.get(old.id).state == "success"
    with pytest.raises(ValueError):
        store.log_path("../../etc/passwd")
    store.close()


# -- job specs ------------------------------------------------------------------------------------

GO = re.compile(r"\.go$")
DOCS = re.compile(r"^docs/|\.md$")


@pytest.mark.parametrize(
    ("spec", "paths", "runs"),
    [
        ({}, ["main.go"], True),
        ({}, [], True),
        ({"always_run": False}, ["main.go"], False),
        ({"run_if_changed": GO}, ["README.md", "cmd/main.go"], True),
        ({"run_if_changed": GO}, ["README.md"], False),
        ({"run_if_changed": GO}, [], False),
        ({"run_if_changed": GO, "always_run": False}, ["x.go"], True),  # the filter decides, not always_run
        ({"skip_if_only_changed": DOCS}, ["docs/a.txt", "README.md"], False),
        ({"skip_if_only_changed": DOCS}, ["docs/a.txt", "main.go"], True),
        ({"skip_if_only_changed": DOCS}, [], False),  # Prow: nothing outside the pattern changed
        ({"skip_if_only_changed": DOCS, "always_run": False}, ["main.go"], True),
    ],
)
def test_should_run(spec: dict[str, Any], paths: list[str], runs: bool) -> None:
    assert JobSpec("unit", "true", **spec).should_run(paths) is runs


@pytest.mark.parametrize(
    ("repos", "repo", "applies"),
    [
        (("*",), "acme/widgets", True),
        (("acme/*",), "Acme/Widgets", True),
        (("ACME/widgets",), "acme/widgets", True),
        (("acme/*",), "other/widgets", False),
        (("group/sub/*",), "group/sub/project", True),
        (("other/x", "acme/w*"), "acme/widgets", True),
        (("acme/web",), "acme/website", False),
    ],
)
def test_applies_to(repos: tuple[str, ...], repo: str, applies: bool) -> None:
    assert JobSpec("unit", "true", repos=repos).applies_to(repo) is applies


@pytest.mark.parametrize(
    "kwargs",
    [
        {"run_if_changed": GO, "skip_if_only_changed": DOCS},
        {"name": "two words"},
        {"name": ""},
        {"run": "  "},
        {"timeout": 0},
        {"repos": "acme/*"},
    ],
)
def test_invalid_job_specs_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        JobSpec(**{"name": "unit", "run": "true", **kwargs})


def _moved_origin(root: Path, conflicting: bool) -> tuple[Path, str]:
    """main gains a commit after the PR branched off; with ``conflicting``, both edit hello.txt."""
    bare, work = _start_origin(root, "moved")
    git(work, "checkout", "-q", "-b", "pr")
    (work / "hello.txt").write_text("from the PR\n")
    git(work, "commit", "-q", "-am", "pr")
    head = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", str(bare), "HEAD:refs/pull/1/head")
    git(work, "checkout", "-q", "main")
    if conflicting:
        (work / "hello.txt").write_text("main changed it too\n")
    else:
        (work / "merged-elsewhere.txt").write_text("another PR\n")
        git(work, "add", ".")
    git(work, "commit", "-q", "-am", "another PR merged")
    git(work, "push", "-q", str(bare), "main")
    return bare, head


async def test_merge_base_runs_on_the_new_base(h: Harness, tmp_path: Path) -> None:
    bare, head = _moved_origin(tmp_path, conflicting=False)
    change = replace(CHANGE, head_sha=head, base_ref="main", merge_base=True,
                     source=GitSource(f"file://{bare}", "refs/pull/1/head"))
    record = await h.run(JobSpec("build", "cat hello.txt merged-elsewhere.txt"), change)
    log = h.log(record.id)
    assert record.state == "success", log
    assert "from the PR" in log and "another PR" in log


async def test_merge_base_conflict_is_an_error(h: Harness, tmp_path: Path) -> None:
    bare, head = _moved_origin(tmp_path, conflicting=True)
    change = replace(CHANGE, head_sha=head, base_ref="main", merge_base=True,
                     source=GitSource(f"file://{bare}", "refs/pull/1/head"))
    record = await h.run(JobSpec("build", "true"), change)
    assert (record.state, record.description) == ("error", f"{head[:7]} does not merge cleanly into main.")


async def test_without_merge_base_the_head_alone_is_tested(h: Harness, tmp_path: Path) -> None:
    bare, head = _moved_origin(tmp_path, conflicting=False)
    change = replace(CHANGE, head_sha=head, base_ref="main", source=GitSource(f"file://{bare}", "refs/pull/1/head"))
    record = await h.run(JobSpec("build", "test ! -e merged-elsewhere.txt"), change)
    assert record.state == "success", h.log(record.id)


async def test_a_job_whose_log_grows_without_end_is_stopped(tmp_path: Path) -> None:
    async for h in make_harness(tmp_path, max_log_bytes=64 * 1024):
        pidfile = tmp_path / "yes.pid"
        job = JobSpec("chatty", f"yes 'a line of noise' & echo $! > {pidfile}; wait", clone=False, timeout=30)
        record = await h.run(job, CHANGE)
        assert (record.state, record.description) == ("error", "Job stopped: its log passed 64 KiB.")
        assert not alive(int(pidfile.read_text()))  # the whole tree, background writer included
        log = h.log(record.id)
        assert "a line of noise" in log and "job stopped" in log
        assert h.store.log_path(record.id).stat().st_size < 64 * 1024 + 4096  # the cap, plus the runner's notes
