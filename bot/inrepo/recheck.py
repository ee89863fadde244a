"""A queued job from a repository's ``.prowlet.yaml``, checked again by the process that claims it.

The spec verified (bot.ci.signing), so serve resolved it within serve's limits; the claiming
process holds it to its *own* config's ``in_repo_config`` and ``runner`` as well (defence in
depth): a worker configured more strictly refuses what it would not have allowed.  The same rules
as bot.inrepo.layer, on a parsed spec.  Pure: no I/O.
"""

from __future__ import annotations

from bot.ci.jobs import JobSpec
from bot.ci.limits import Limits
from bot.config import IN_REPO_FILE, Config
from bot.inrepo.layer import SANDBOXED


def refusal(spec: JobSpec, repo: str, config: Config) -> str | None:
    """Why this process will not run ``spec`` for ``repo`` (None: it will)."""
    settings, runner = config.raw.in_repo_config, config.raw.runner
    if not settings.applies_to(repo) or not settings.allow.jobs:
        return f"this process's config does not allow jobs from {IN_REPO_FILE} in {repo}"
    if spec.name.lower() in {job.name.lower() for job in config.raw.jobs}:
        return f"this process's config has a job named {spec.name}"
    executor = spec.executor or runner.executor
    if executor not in SANDBOXED:
        return f"jobs from {IN_REPO_FILE} run sandboxed here, not with the {executor} executor"
    if spec.network and not settings.allow.network:
        return f"jobs from {IN_REPO_FILE} get no network here"
    granted = settings.allow.secrets_for(repo)
    for name in spec.secrets:
        if name not in granted:
            return f"the secret {name} is not granted to {repo} here"
    if spec.timeout > settings.max_timeout_seconds:
        return f"its timeout is longer than this process's in_repo_config.max_job_timeout ({settings.max_job_timeout})"
    return _looser(spec.limits, runner.limits)


_NAMES = {"memory": "memory", "processes": "processes", "cpu_seconds": "cpu_time", "workspace_bytes": "workspace_size"}


def _looser(job: Limits, ceiling: Limits) -> str | None:
    """A job's limit (None: the runner's applies; 0: none) above the runner's (None: none)."""
    for field, key in _NAMES.items():
        own, top = getattr(job, field), getattr(ceiling, field)
        if own is None or top is None:
            continue
        if own == 0:
            return f"no {key} limit is looser than this process's runner.{key}"
        if own > top:
            return f"its {key} limit is higher than this process's runner.{key}"
    return None


__all__ = ["refusal"]
