"""Executors: how a job's command is started, and what it can reach.

- ``sandbox`` (default): bubblewrap.  New user, PID, IPC, UTS, cgroup and (with ``network: false``)
  network namespaces; the host's system directories (``runner.sandbox_paths``) read-only, the
  workspace read-write at ``/workspace``, a private size-capped ``/tmp``, a fresh ``/proc`` showing
  only the job's processes, a minimal ``/dev``.  ``PROWLET_DATA_DIR`` and the GitHub App key file
  are covered even when they lie under an exposed path.  When prowlet runs as root, the job runs as
  ``nobody`` (65534): a root-owned sandbox would still read root's files and escape RLIMIT_NPROC.
- ``container``: ``docker run`` (or podman) of the job's ``image``, read-only root, ``--cap-drop
  ALL``, no new privileges, the workspace at ``/workspace``, limits as the runtime's own flags.
- ``process``: a plain subprocess of prowlet in the workspace (no isolation beyond the environment):
  only when configured explicitly, with a start-up warning.

Every executor passes the job's environment through the process environment, never argv (which any
local user can read).  ``probe`` says once, at start-up, whether the executor can work here; a job
for an executor that cannot is refused, never run with less isolation.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.ci.limits import Limits, rlimit_args

NOBODY = 65534
IN_JOB = "/workspace"  # where sandbox and container jobs see their workspace
DEFAULT_SANDBOX_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")
EXECUTORS = ("sandbox", "container", "process")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
_STAGE = "/run"  # root only: where the workspace is bound, in a private mount namespace, for nobody


@dataclass(frozen=True)
class Launch:
    """How to start one job: argv and environment for ``process.spawn``."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    pass_fds: tuple[int, ...] = ()
    exit_is_status: bool = False  # a wrapper reports "killed by signal N" as exit 128+N
    processes_visible: bool = True  # the job's processes descend from argv[0]
    container: str | None = None  # name of the container to stop and remove afterwards


def decode_exit(code: int, exit_is_status: bool) -> tuple[int | None, int | None]:
    """(exit code, signal) from a process's return code."""
    if code < 0:
        return None, -code
    if exit_is_status and code > 128 and code - 128 < signal.NSIG:
        return None, code - 128
    return code, None


@dataclass(frozen=True)
class JobRun:
    """What an executor needs to know about one job."""

    job_id: str
    command: str  # shell command
    env: Mapping[str, str]  # PROWLET_*, CI and the job's secrets
    workspace: Path
    limits: Limits
    network: bool = True
    image: str = ""


class Executor:
    name = ""

    async def probe(self) -> str | None:
        """None when jobs can run here; otherwise why not (for the log and the refusal)."""
        return None

    def job_uid(self) -> int:
        return os.geteuid()

    def prepare(self, workspace: Path) -> None:
        """Make the (checked-out) workspace usable by the job's user; blocking."""
        uid = self.job_uid()
        if uid != os.geteuid():
            _chown_tree(workspace, uid)

    def launch(self, run: JobRun) -> Launch:
        raise NotImplementedError

    async def cleanup(self, launch: Launch) -> None:
        """After the job's process is gone."""


def _chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, uid)
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)


def _base_env(home: str, env: Mapping[str, str]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", **env}


class ProcessExecutor(Executor):
    name = "process"

    def __init__(self, prlimit: str | None = None) -> None:
        self._prlimit = prlimit if prlimit is not None else shutil.which("prlimit")

    def launch(self, run: JobRun) -> Launch:
        argv = ["/bin/sh", "-c", run.command]
        if self._prlimit:
            argv = [self._prlimit, *rlimit_args(run.limits, os.geteuid()), "--", *argv]
        return Launch(argv, _base_env(str(run.workspace), run.env), run.workspace)


@dataclass
class SandboxExecutor(Executor):
    readonly: Sequence[str] = DEFAULT_SANDBOX_PATHS
    hidden: Sequence[Path] = ()  # never visible to a job, even under a read-only path
    name: str = field(default="sandbox", init=False)
    _tools: dict[str, str] = field(default_factory=dict, init=False)

    def job_uid(self) -> int:
        return NOBODY if os.geteuid() == 0 else os.geteuid()

    def _find_tools(self) -> str | None:
        needed = ["bwrap", "prlimit"] + (["unshare", "setpriv", "mount", "mkdir"] if os.geteuid() == 0 else [])
        for tool in needed:
            found = shutil.which(tool, path=os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            if found is None:
                return f"{tool} is not installed" + (" (Debian: apt-get install bubblewrap)" if tool == "bwrap" else "")
            self._tools[tool] = found
        return None

    async def probe(self) -> str | None:
        missing = self._find_tools()
        if missing:
            return missing
        probe_dir = Path(os.environ.get("TMPDIR") or "/tmp")
        launch = self.launch(JobRun("probe", "test -d /workspace",
                                    {}, probe_dir, Limits()), bind_workspace=False)
        proc = await asyncio.create_subprocess_exec(
            *launch.argv, env=launch.env, cwd="/", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return "bwrap did not start within 30s"
        if proc.returncode != 0:
            said = out.decode(errors="replace").strip().splitlines()
            return f"bwrap cannot create its namespaces here (are unprivileged user namespaces allowed?): " \
                   f"{said[-1] if said else f'exit {proc.returncode}'}"
        return None

    def _mounts(self, run: JobRun, workspace_source: str | None) -> list[str]:
        args: list[str] = []
        for path in self.readonly:
            p = Path(path)
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), path]
            elif p.exists():
                args += ["--ro-bind", path, path]
        args += ["--proc", "/proc", "--dev", "/dev"]
        if run.limits.workspace_bytes is not None:
            args += ["--size", str(run.limits.workspace_bytes)]
        args += ["--tmpfs", "/tmp"]
        exposed = [Path(p) for p in self.readonly if not Path(p).is_symlink()]
        for hidden in self.hidden:
            hidden = hidden.resolve()
            if any(hidden == e or e in hidden.parents for e in exposed) and hidden.exists():
                if hidden.is_dir():
                    args += ["--tmpfs", str(hidden), "--remount-ro", str(hidden)]
                else:
                    args += ["--ro-bind", "/dev/null", str(hidden)]
        if workspace_source is not None:
            args += ["--bind", workspace_source, IN_JOB]
        else:
            args += ["--dir", IN_JOB]
        # The sandbox's own root (a tmpfs holding the mount points) read-only too: only the
        # workspace and /tmp take writes.
        return args + ["--remount-ro", "/", "--chdir", IN_JOB]

    def launch(self, run: JobRun, bind_workspace: bool = True) -> Launch:
        if not self._tools:
            self._find_tools()
        t = self._tools
        root = os.geteuid() == 0
        source = None
        if bind_workspace:
            source = f"{_STAGE}/prowlet-workspace" if root else str(run.workspace)
        bwrap = [t.get("bwrap", "bwrap"), "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                 "--hostname", "prowlet-job"]
        if run.network:
            bwrap.append("--share-net")
        bwrap += self._mounts(run, source)
        bwrap += ["--", "/bin/sh", "-c", run.command]
        argv = [t.get("prlimit", "prlimit"), *rlimit_args(run.limits, self.job_uid()), "--", *bwrap]
        if root:
            # As root, bind the workspace where nobody can reach it (its real path may pass through
            # directories only root may enter), in a mount namespace of the job's own, then drop
            # to nobody before bwrap runs.
            stage = (
                f'{t["mount"]} -t tmpfs -o mode=0755,size=64k prowlet {_STAGE} && '
                f'{t["mkdir"]} {_STAGE}/prowlet-workspace && '
                f'{t["mount"]} --no-canonicalize --bind "$1" {_STAGE}/prowlet-workspace && shift && exec "$@"'
            )
            argv = [t["unshare"], "--mount", "--propagation", "private", "--", "/bin/sh", "-c", stage, "stage",
                    str(run.workspace), t["setpriv"], f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--", *argv]
        env = {"PATH": SANDBOX_PATH, "HOME": IN_JOB, "LANG": "C.UTF-8", **run.env}
        return Launch(argv, env, run.workspace, exit_is_status=True)


@dataclass
class ContainerExecutor(Executor):
    cli: str = "docker"
    name: str = field(default="container", init=False)

    async def probe(self) -> str | None:
        path = shutil.which(self.cli)
        if path is None:
            return f"{self.cli} is not installed"
        proc = await asyncio.create_subprocess_exec(
            path, "info", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return f"`{self.cli} info` did not answer within 30s"
        if proc.returncode != 0:
            said = err.decode(errors="replace").strip().splitlines()
            return f"`{self.cli} info` failed: {said[-1] if said else f'exit {proc.returncode}'}"
        return None

    def launch(self, run: JobRun) -> Launch:
        name = f"prowlet-job-{run.job_id}"
        uid = self.job_uid()
        limits = run.limits
        argv = [self.cli, "run", "--name", name, "--init", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--user", f"{uid}:{uid}",
                "--network", "bridge" if run.network else "none",
                "--tmpfs", "/tmp" + (f":size={limits.workspace_bytes}" if limits.workspace_bytes else ""),
                "-v", f"{run.workspace}:{IN_JOB}", "-w", IN_JOB, "-e", f"HOME={IN_JOB}"]
        if limits.memory is not None:
            argv += ["--memory", str(limits.memory), "--memory-swap", str(limits.memory)]
        if limits.processes is not None:
            argv += ["--pids-limit", str(limits.processes)]
        if limits.cpu_seconds is not None:
            soft = max(int(limits.cpu_seconds), 1)
            argv += ["--ulimit", f"cpu={soft}:{soft + 5}"]
        for key in run.env:  # values come from the CLI's environment, never argv
            argv += ["-e", key]
        argv += ["--", run.image, "/bin/sh", "-c", run.command]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG",
                                                             "CONTAINER_HOST", "XDG_RUNTIME_DIR")}
        return Launch(argv, {**env, **run.env}, run.workspace, exit_is_status=True, processes_visible=False,
                      container=name)

    async def oom_killed(self, launch: Launch) -> bool:
        proc = await asyncio.create_subprocess_exec(
            self.cli, "inspect", "-f", "{{.State.OOMKilled}}", launch.container or "",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        out, _ = await proc.communicate()
        return out.strip() == b"true"

    async def cleanup(self, launch: Launch) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.cli, "rm", "-f", launch.container or "", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        await proc.wait()


class Executors:
    """The executors in use, each probed once; ``unavailable`` says why one cannot run jobs here."""

    def __init__(self, executors: Mapping[str, Executor]) -> None:
        self._executors = dict(executors)
        self._probes: dict[str, asyncio.Future[str | None]] = {}

    def get(self, name: str) -> Executor:
        return self._executors[name]

    @property
    def names(self) -> list[str]:
        return list(self._executors)

    async def unavailable(self, name: str) -> str | None:
        if name not in self._executors:
            return f"no executor named {name!r}"
        probe = self._probes.get(name)
        if probe is None:
            probe = self._probes[name] = asyncio.ensure_future(self._executors[name].probe())
        return await asyncio.shield(probe)


__all__ = ["EXECUTORS", "ContainerExecutor", "Executor", "Executors", "JobRun", "Launch", "ProcessExecutor",
           "SandboxExecutor", "decode_exit"]
