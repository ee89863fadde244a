"""A repository's ``.prowlet.yaml`` checked against the operator's limits: pure, no I/O.

What the file may hold::

    plugins:
      enabled: [size]            # turn allowed plugins on (allow.enable_disable)
      disabled: [welcome]        # ...or off
      options:                   # merged over the operator's options (allow.plugins)
        size: {sizes: {s: 20}}
    jobs:                        # built-in jobs for this repository only (allow.jobs)
      - name: unit
        run: make test

Every key outside the limits is refused with a problem naming it, and that key (a whole plugin's
options, a whole job) is left out: the operator's config applies to it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import re2
import yaml

from bot.ci.jobs import JobSpec
from bot.config import IN_REPO_FILE, Config, JobSettings, parse_duration, parse_size
from bot.options import ConfigProblem, build

# Job keys a repository may set; the rest (repos, context, skip_report, retry_on_worker_loss) are
# the operator's: a job from the file applies to its own repository and reports under its name.
JOB_KEYS = ("name", "run", "clone", "always_run", "run_if_changed", "skip_if_only_changed", "optional", "timeout",
            "executor", "image", "network", "secrets", "memory", "processes", "cpu_time", "workspace_size",
            "branches", "skip_branches", "trigger")
SANDBOXED = ("sandbox", "container")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported as a problem, not on stderr


@dataclass(frozen=True)
class RepoLayer:
    """What a repository's file adds to the operator's config, and what was refused."""

    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    jobs: tuple[JobSpec, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.enabled or self.disabled or self.options or self.jobs)


def parse_layer(text: str | None, repo: str, config: Config) -> RepoLayer:
    """``text`` (None: no file) as a layer for ``repo`` under ``config.raw.in_repo_config``."""
    if text is None:
        return RepoLayer()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return RepoLayer(problems=(ConfigProblem(IN_REPO_FILE, f"not valid YAML{where}: "
                                                 f"{getattr(err, 'problem', None) or 'invalid YAML'}"),))
    if data is None:
        return RepoLayer()
    if not isinstance(data, dict):
        return RepoLayer(problems=(ConfigProblem(IN_REPO_FILE, "expected a mapping (plugins:, jobs:)"),))
    problems: list[ConfigProblem] = []
    for key in data:
        if key not in ("plugins", "jobs"):
            problems.append(ConfigProblem(str(key), "unknown key (known keys: jobs, plugins)"))
    enabled, disabled, options = _plugins(data.get("plugins"), repo, config, problems)
    jobs = _jobs(data["jobs"], repo, config, problems) if "jobs" in data else ()
    return RepoLayer(enabled, disabled, options, jobs, tuple(problems))


def _plugins(data: Any, repo: str, config: Config,
             problems: list[ConfigProblem]) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]:
    if data is None:
        return (), (), {}
    if not isinstance(data, dict):
        problems.append(ConfigProblem("plugins", "expected a mapping (enabled:, disabled:, options:)"))
        return (), (), {}
    allow = config.raw.in_repo_config.allow
    allowed = ", ".join(allow.plugins) or "none"
    by_name = {p.name: p for p in config.registry}
    for key in data:
        if key not in ("enabled", "disabled", "options"):
            problems.append(ConfigProblem(f"plugins.{key}", "unknown key (known keys: disabled, enabled, options)"))

    def names(key: str) -> tuple[str, ...]:
        values = data.get(key)
        if values is None:
            return ()
        if not allow.enable_disable:
            problems.append(ConfigProblem(f"plugins.{key}", "not allowed here: the operator's config "
                                          "(in_repo_config.allow.enable_disable) keeps plugins as they are"))
            return ()
        if not isinstance(values, list):
            problems.append(ConfigProblem(f"plugins.{key}", "expected a list of plugin names"))
            return ()
        kept = []
        for i, name in enumerate(values):
            if not isinstance(name, str) or name not in by_name:
                problems.append(ConfigProblem(f"plugins.{key}[{i}]", f"unknown plugin {name!r}"))
            elif name not in allow.plugins:
                problems.append(ConfigProblem(f"plugins.{key}[{i}]", f"{name!r} is not one this file may "
                                              f"change (allowed: {allowed})"))
            else:
                kept.append(name)
        return tuple(kept)

    enabled, disabled = names("enabled"), names("disabled")
    sections = data.get("options")
    options: dict[str, Any] = {}
    if sections is None:
        return enabled, disabled, options
    if not isinstance(sections, dict):
        problems.append(ConfigProblem("plugins.options", "expected a mapping of plugin name to its options"))
        return enabled, disabled, options
    operator = config.operator_options(repo)
    for name, section in sections.items():
        key = f"plugins.options.{name}"
        plugin = by_name.get(name)
        if plugin is None:
            problems.append(ConfigProblem(key, "unknown plugin"))
        elif name not in allow.plugins:
            problems.append(ConfigProblem(key, f"not allowed here: the operator's config sets it (this file may "
                                          f"set the options of: {allowed})"))
        elif plugin.options is None:
            problems.append(ConfigProblem(key, "this plugin has no options"))
        elif not isinstance(section, dict):
            problems.append(ConfigProblem(key, "expected a mapping of option to value"))
        else:
            # Checked merged over the operator's options, as they will be used.
            found: list[ConfigProblem] = []
            build(plugin.options, {**operator.get(name, {}), **section}, key, found)
            if found:
                problems.extend(found)
            else:
                options[name] = dict(section)
    return enabled, disabled, options


def _jobs(data: Any, repo: str, config: Config, problems: list[ConfigProblem]) -> tuple[JobSpec, ...]:
    settings = config.raw.in_repo_config
    if not settings.allow.jobs:
        problems.append(ConfigProblem("jobs", "not allowed here: the operator's config (in_repo_config.allow.jobs) "
                                      "defines this repository's jobs"))
        return ()
    if not isinstance(data, list):
        problems.append(ConfigProblem("jobs", "expected a list of jobs"))
        return ()
    if len(data) > settings.max_jobs:
        problems.append(ConfigProblem(f"jobs[{settings.max_jobs}]", f"at most {settings.max_jobs} jobs "
                                      f"(in_repo_config.max_jobs); the {len(data) - settings.max_jobs} after it are left out"))
    operator_names = {job.name.lower() for job in config.raw.jobs}
    specs: list[JobSpec] = []
    for i, entry in enumerate(data[:settings.max_jobs]):
        found = _job_problems(entry, f"jobs[{i}]", repo, config)
        job = None
        if not found:
            job = build(JobSettings, {**_defaults(config), **entry, "repos": [repo]}, f"jobs[{i}]", found)
        if job is not None and not found:
            found = _limit_problems(job, entry, f"jobs[{i}]", repo, config)
            job = _linear(job, f"jobs[{i}]", found)
            if job.name.lower() in operator_names:
                found.append(ConfigProblem(f"jobs[{i}].name", f"the operator's config has a job {job.name!r}"))
            elif any(s.name.lower() == job.name.lower() for s in specs):
                found.append(ConfigProblem(f"jobs[{i}].name", f"duplicate job name {job.name!r}"))
        if found:
            problems.extend(found)
        elif job is not None:
            specs.append(job.to_spec())
    return tuple(specs)


def _defaults(config: Config) -> dict[str, Any]:
    """What a job from the file gets for keys it leaves out, where the operator's limits are
    tighter than a job's usual defaults: no network unless allowed, at most the longest timeout."""
    settings = config.raw.in_repo_config
    defaults: dict[str, Any] = {"network": settings.allow.network}
    if (parse_duration(JobSettings.timeout) or 0.0) > settings.max_timeout_seconds:
        defaults["timeout"] = settings.max_job_timeout
    return defaults


def _job_problems(entry: Any, key: str, repo: str, config: Config) -> list[ConfigProblem]:
    if not isinstance(entry, dict):
        return [ConfigProblem(key, "expected a mapping (name:, run: ...)")]
    return [ConfigProblem(f"{key}.{k}", "only the operator's config may set this "
                          f"(a job here may set: {', '.join(JOB_KEYS)})") for k in entry if k not in JOB_KEYS]


def _limit_problems(job: JobSettings, entry: dict[str, Any], key: str, repo: str, config: Config) -> list[ConfigProblem]:
    """Where a job from the file would weaken the operator's sandbox or limits."""
    settings, runner = config.raw.in_repo_config, config.raw.runner
    found: list[ConfigProblem] = []
    executor = job.executor or runner.executor
    if executor not in SANDBOXED:
        found.append(ConfigProblem(f"{key}.executor", f"jobs from {IN_REPO_FILE} run sandboxed "
                                   f"(executor: {' or '.join(SANDBOXED)}), not {executor!r}"))
    if job.network and not settings.allow.network:
        found.append(ConfigProblem(f"{key}.network", "not allowed here: jobs from this file get no network "
                                   "(in_repo_config.allow.network)"))
    granted = settings.allow.secrets_for(repo)
    for i, name in enumerate(job.secrets):
        if name not in granted:
            found.append(ConfigProblem(f"{key}.secrets[{i}]", f"{name} is not granted to {repo} "
                                       "(in_repo_config.allow.secrets)"))
    timeout = parse_duration(job.timeout) or 0.0
    if timeout > settings.max_timeout_seconds:
        found.append(ConfigProblem(f"{key}.timeout", f"longer than in_repo_config.max_job_timeout ({settings.max_job_timeout})"))
    for name, text, ceiling, parse in (
        ("memory", job.memory, runner.memory, parse_size),
        ("cpu_time", job.cpu_time, runner.cpu_time, parse_duration),
        ("workspace_size", job.workspace_size, runner.workspace_size, parse_size),
        ("processes", None if job.processes is None else str(job.processes), str(runner.processes), _count),
    ):
        why = _above(text, ceiling, parse)
        if why:
            found.append(ConfigProblem(f"{key}.{name}", f"{why} than the operator's runner.{name} ({ceiling})"))
    return found


def _linear(job: JobSettings, key: str, found: list[ConfigProblem]) -> JobSettings:
    """The job with its regexes compiled by RE2, which matches in linear time: Python's re can
    backtrack for hours on a crafted pattern (``(a+)+$``), and these run on the event loop against
    paths, branch names and comments.  A pattern RE2 cannot run (backreferences, lookarounds) is refused."""
    def compiled(pattern: str, where: str) -> Any:
        try:
            return re2.compile(pattern, options=_RE2_OPTIONS)
        except re2.error as err:
            why = err.args[0].decode(errors="replace") if err.args and isinstance(err.args[0], bytes) else str(err)
            found.append(ConfigProblem(where, f"a regex here must run in linear time (RE2: no backreferences or "
                                       f"lookarounds): {why}"))
            return None

    changes: dict[str, Any] = {}
    for name in ("run_if_changed", "skip_if_only_changed", "trigger"):
        pattern = getattr(job, name)
        if pattern is not None:
            changes[name] = compiled(pattern.pattern, f"{key}.{name}")
    for name in ("branches", "skip_branches"):
        changes[name] = [compiled(b, f"{key}.{name}[{i}]") for i, b in enumerate(getattr(job, name))]
    return replace(job, **changes)


def _count(text: str) -> int | None:
    return int(text) or None


def _above(text: str | None, ceiling: str, parse: Any) -> str | None:
    """Whether a job's limit ``text`` is looser than the runner's ``ceiling`` ("0"/"off": none)."""
    if text is None:
        return None  # the runner's own applies
    limit = None if text.strip() in ("0", "off") else parse(text)
    top = None if ceiling.strip() in ("0", "off") else parse(ceiling)
    if top is None:
        return None
    if limit is None:
        return "no limit is looser"
    return "higher" if limit > top else None


__all__ = ["JOB_KEYS", "RepoLayer", "parse_layer"]
