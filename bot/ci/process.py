"""Process control for jobs: start a process in its own group, stop the whole tree, reap it.

Whatever runs a job (sandbox, container CLI, plain process) is one process group whose leader the
runner started; stopping the job means SIGTERM to the group, a grace period for the group (not just
the leader), then SIGKILL.  In a sandbox the leader's PID namespace goes down with it, so orphans
that left the group die too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
EXIT_POLL_SECONDS = 0.02


def killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running.  Zombies do not count: an orphan is
    reaped by PID 1, which may be slow to do so (or, with prowlet itself as PID 1 in a container
    without an init, never)."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: zombies count, the grace period bounds the wait
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # after "pid (comm)": state ppid pgrp ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


async def spawn(*args: str | Path, **kwargs: Any) -> asyncio.subprocess.Process:
    """Start a process in its own group.  A cancellation while asyncio is still setting the process
    up would make asyncio SIGKILL only the leader and leak its children; instead let the start
    finish, then stop the whole group."""
    kwargs["start_new_session"] = True
    starting = asyncio.ensure_future(asyncio.create_subprocess_exec(*args, **kwargs))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await reap(await starting, KILL_GRACE)
        raise


async def terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM to the whole process group; SIGKILL to whatever of it is left after the grace
    period.  The grace is the group's, not just the leader's: a shell that dies at once must not
    cut short its children's cleanup."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    try:
        killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
        while group_alive(proc.pid) and loop.time() < deadline:
            await asyncio.sleep(0.02)
    finally:
        killpg(proc.pid, signal.SIGKILL)


async def reap(proc: asyncio.subprocess.Process, grace: float) -> None:
    """However the job ended (exit, timeout, cancellation): nothing of its process group survives;
    background children left behind (`cmd &`) die with the job, like a pod's containers."""
    try:
        if proc.returncode is None or group_alive(proc.pid):
            await terminate(proc, grace)
            await proc.wait()
    finally:
        killpg(proc.pid, signal.SIGKILL)


async def exited(proc: asyncio.subprocess.Process) -> int:
    """The exit code as soon as the process exits.  Not ``proc.wait()``: with a pipe, asyncio waits
    for the pipe to close too, and a background child the job left behind keeps it open."""
    while proc.returncode is None:
        await asyncio.sleep(EXIT_POLL_SECONDS)
    return proc.returncode


__all__ = ["KILL_GRACE", "exited", "group_alive", "killpg", "reap", "spawn", "terminate"]
