"""Per-job limits: memory, processes, CPU time and workspace size, watched while the job runs.

Two layers, so that a limit holds without cgroups and its reason is known:
- the kernel's rlimits, through the ``prlimit`` wrapper (``rlimit_args``), as hard backstops:
  RLIMIT_NPROC bounds a fork bomb at once (in the sandbox's fresh user namespace it counts the job's
  own tasks), RLIMIT_CPU sends SIGXCPU, RLIMIT_FSIZE sends SIGXFSZ past the workspace cap;
- ``watch``: every ``POLL`` seconds it sums the job's process tree from ``/proc`` (tasks, resident
  memory as PSS, CPU time including reaped children) and, every ``WALK_EVERY`` seconds, the workspace's
  disk usage; the first limit passed ends the job with that reason.  Memory is only watched (an
  address-space rlimit breaks runtimes that reserve large virtual ranges), so a job may overshoot
  it by what it allocates in one poll interval.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
from dataclasses import dataclass
from pathlib import Path

POLL = 0.2  # seconds between process-tree samples
WALK_EVERY = 2.0  # seconds between workspace walks (a walk touches every file)
CPU_GRACE = 5  # seconds between RLIMIT_CPU's SIGXCPU and its SIGKILL
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def human_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def human_seconds(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes of resident memory (PSS), summed over the job's processes
    processes: int | None = None  # tasks (processes and threads) at once
    cpu_seconds: float | None = None  # CPU time, summed
    workspace_bytes: int | None = None  # disk used in the workspace (and the size of its /tmp)

    def memory_reason(self) -> str:
        return f"Job stopped: it used more than {human_size(self.memory or 0)} of memory."

    def processes_reason(self) -> str:
        return f"Job stopped: it reached its limit of {self.processes} processes."

    def cpu_reason(self) -> str:
        return f"Job stopped: it used more than {human_seconds(self.cpu_seconds or 0)} of CPU time."

    def workspace_reason(self) -> str:
        return f"Job stopped: its workspace passed {human_size(self.workspace_bytes or 0)}."

    def reason_for_signal(self, sig: int) -> str | None:
        """A job killed by an rlimit's signal was stopped by that limit."""
        if sig == signal.SIGXCPU and self.cpu_seconds is not None:
            return self.cpu_reason()
        if sig == signal.SIGXFSZ and self.workspace_bytes is not None:
            return self.workspace_reason()
        return None


# The wrappers between the runner and the job (the sandbox's two bwrap processes) besides the
# job's own tasks.
WRAPPER_TASKS = 2


def _hard(kind: int) -> int:
    return resource.getrlimit(kind)[1]


def _capped(value: int, kind: int) -> int:
    hard = _hard(kind)
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def tasks_of_user(uid: int) -> int:
    """Tasks the kernel counts against ``uid``'s RLIMIT_NPROC besides the job's (the bot's own
    threads, when jobs run as the bot's user)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total


def rlimit_args(limits: Limits, uid: int) -> list[str]:
    """``prlimit`` options for a job running as ``uid``: soft and hard limits, never above the
    bot's own hard limits (an unprivileged process may only lower them)."""
    args = ["--core=0"]
    if limits.processes is not None:
        # The kernel counts every task of the user (above the job's namespace); room for those
        # that exist now, so the job itself gets its full number and ``watch`` sees it reach it.
        n = _capped(limits.processes + WRAPPER_TASKS + tasks_of_user(uid), resource.RLIMIT_NPROC)
        args.append(f"--nproc={n}:{n}")
    if limits.cpu_seconds is not None:
        soft = max(int(limits.cpu_seconds), 1)
        args.append(f"--cpu={_capped(soft, resource.RLIMIT_CPU)}:{_capped(soft + CPU_GRACE, resource.RLIMIT_CPU)}")
    if limits.workspace_bytes is not None:
        size = _capped(limits.workspace_bytes, resource.RLIMIT_FSIZE)
        args.append(f"--fsize={size}:{size}")
    return args


@dataclass(frozen=True)
class _Sample:
    tasks: int
    rss: int
    cpu: float


def _tree_sample(root: int) -> _Sample | None:
    """The process tree under ``root`` (inclusive), from one pass over /proc; None once it is gone."""
    stats: dict[int, list[bytes]] = {}
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    if root not in stats:
        return None
    tasks = rss = ticks = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        f = stats[pid]
        # after "pid (comm)": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ...
        # num_threads(17) ... rss(21)
        ticks += sum(int(x) for x in f[11:15])
        if f[0] in (b"Z", b"X"):
            continue
        tasks += int(f[17])
        rss += _proportional_memory(pid, int(f[21]) * _PAGE)
    return _Sample(tasks, rss, ticks / _TICKS)


def _proportional_memory(pid: int, rss: int) -> int:
    """The process's share of resident memory (PSS): pages shared by N processes count 1/N each,
    so a job's forked children are not charged N times for the parent's pages.  RSS where the
    kernel does not say."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return rss


def disk_usage(path: Path) -> int:
    """Bytes allocated under ``path`` (like ``du -s``), not following symlinks; hard links once."""
    total, seen = 0, set()
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total


async def watch(root_pid: int, workspace: Path, limits: Limits, processes_visible: bool = True) -> str:
    """Returns the reason as soon as a limit is passed; runs until cancelled otherwise.
    ``processes_visible``: False when the job's processes are not the runner's descendants (a
    container started by a daemon): only the workspace is watched then."""
    loop = asyncio.get_running_loop()
    next_walk = loop.time()
    while True:
        if processes_visible and (limits.memory or limits.processes or limits.cpu_seconds):
            sample = _tree_sample(root_pid)
            if sample is not None:
                if limits.processes is not None and sample.tasks > limits.processes:
                    return limits.processes_reason()
                if limits.memory is not None and sample.rss > limits.memory:
                    return limits.memory_reason()
                if limits.cpu_seconds is not None and sample.cpu > limits.cpu_seconds:
                    return limits.cpu_reason()
        if limits.workspace_bytes is not None and loop.time() >= next_walk:
            if await asyncio.to_thread(disk_usage, workspace) >= limits.workspace_bytes:
                return limits.workspace_reason()
            next_walk = loop.time() + WALK_EVERY
        await asyncio.sleep(POLL)


__all__ = ["Limits", "disk_usage", "human_seconds", "human_size", "rlimit_args", "watch"]
