"""The YAML configuration: which plugins run where, their options, and forge tuning.

Every key is optional; ``config.yaml`` at the repository root documents each one with its default.
With no file at all, every core plugin is enabled for every repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.aliases.settings import AliasSettings
from bot.ci.executors import DEFAULT_SANDBOX_PATHS, EXECUTORS
from bot.ci.jobs import JobSpec
from bot.ci.limits import Limits
from bot.commands import parse_commands
from bot.notify.settings import NOTIFY_KINDS, NotifyBatch, NotifyChannel, NotifyRoute, NotifySettings, QuietHours  # noqa: F401
from bot.options import ConfigError, ConfigProblem, build
from bot.permissions import RULES
from bot.plugin import Plugin, Rule
from bot.repo_globs import repo_matches
from bot.units import OFF_DURATION, parse_duration, parse_size  # noqa: F401 - the config's units, imported from here too

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.forge.driver import ForgeDriver
    from bot.inrepo.layer import RepoLayer


@dataclass(frozen=True)
class CommandSettings:
    # GitLab runs its own quick actions (/assign, /label, /close, /cc ...) before prowlet sees a
    # note, so every command is also accepted as /<prefix><name>, e.g. /prow-assign.
    prefix: str = "prow-"
    # command name (no slash) → who may use it, replacing the command's own rule (Prow's):
    # one of the names in bot.permissions.RULES, e.g. {"assign": "collaborators"}.
    who: dict[str, str] = field(default_factory=dict)

    def check(self) -> list[tuple[str, str]]:
        problems = _who_problems(self.who)
        try:
            parse_commands("", self.prefix)  # the parser owns the rule for what a prefix may be
        except ValueError as err:
            problems.append(("prefix", str(err)))
        return problems


def _who_problems(who: dict[str, str]) -> list[tuple[str, str]]:
    known = ", ".join(RULES)
    return [(f"who.{name}", f"unknown rule {rule!r} (known: {known})") for name, rule in who.items() if rule not in RULES]


@dataclass(frozen=True)
class IgnoreSettings:
    users: list[str] = field(default_factory=list)  # besides the bot's own account
    pattern: re.Pattern[str] | None = None  # e.g. "\\[bot\\]$" for GitHub Apps' accounts

    def ignores(self, login: str) -> bool:
        lowered = login.lower()
        return any(u.lower() == lowered for u in self.users) or bool(self.pattern and self.pattern.search(login))


def _default_write_limits() -> list[str]:
    from bot.forge.budget import DEFAULT_LIMITS

    return list(DEFAULT_LIMITS)


@dataclass(frozen=True)
class ForgeTuning:
    max_concurrent_requests: int = 8  # threads running SDK calls for this forge
    timeout: float = 15.0  # seconds per API request
    # At most N writes in any such period ("80/1m"), per forge identity (bot.forge.budget).
    write_limits: list[str] = field(default_factory=_default_write_limits)

    def check(self) -> list[tuple[str, str]]:
        from bot.forge.budget import parse_limit

        problems = []
        if not 1 <= self.max_concurrent_requests <= 64:
            problems.append(("max_concurrent_requests", "must be between 1 and 64"))
        if self.timeout <= 0:
            problems.append(("timeout", "must be positive"))
        problems += [(f"write_limits[{i}]", f"expected writes/period such as 80/1m or 500/1h, got {text!r}")
                     for i, text in enumerate(self.write_limits) if parse_limit(text) is None]
        return problems

    def windows(self) -> list[Any]:
        from bot.forge.budget import parse_limit

        return [w for w in map(parse_limit, self.write_limits) if w is not None]


def _retired() -> dict[tuple[str, str], str]:
    """Keys that once existed, and what replaced them: check-config says so instead of "unknown key".
    Each forge's section keeps its own list (its driver's ``retired_keys``)."""
    from bot.forge.drivers import DRIVERS

    return {(driver.name, key): why for driver in DRIVERS for key, why in driver.retired_keys.items()}


@dataclass(frozen=True)
class QueueSettings:
    max_concurrent_items: int = 32  # PRs/issues handled at once per process (each one's events stay in order)
    dedup_window: int = 604800  # seconds a handled delivery id is remembered (7 days, GitHub's redelivery window)
    max_attempts: int = 5  # an event whose handling keeps failing is parked after this many tries
    lease: int = 30  # seconds a process holds an event without renewing: a dead one's events move on after it
    run_limit: int = 16  # under a spent write budget, a PR's queued events handled together; 1: one by one

    def check(self) -> list[tuple[str, str]]:
        keys = ("max_concurrent_items", "dedup_window", "max_attempts", "run_limit")
        problems = [(k, "must be at least 1") for k in keys if getattr(self, k) < 1]
        if self.lease < 3:
            problems.append(("lease", "must be at least 3 seconds (it is renewed every third of it)"))
        return problems


_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _is_off(text: str) -> bool:
    return text.strip() in ("0", "off")


# A limit given as text: a size or duration, or "0" / "off" for none.
def _limit_problems(key: str, text: str | None, parse: Any, example: str) -> list[tuple[str, str]]:
    if text is None or _is_off(text) or parse(text) is not None:
        return []
    return [(key, f"expected {example}, or \"0\" for no limit, got {text!r}")]


def _limits(memory: str | None, processes: int | None, cpu_time: str | None, workspace_size: str | None,
            off: Any) -> Limits:
    """Runner defaults: ``off`` is None (no limit).  A job's: a value not given is None (the
    runner's default applies) and ``off`` is 0 (no limit for this job)."""
    def value(text: str | None, parse: Any) -> Any:
        if text is None:
            return None
        return off if _is_off(text) else parse(text)

    return Limits(memory=value(memory, parse_size),
                  processes=None if processes is None else (processes or off),
                  cpu_seconds=value(cpu_time, parse_duration),
                  workspace_bytes=value(workspace_size, parse_size))


# The bot's own secrets: a job config naming one of these would hand it the bot's account.
BOT_SECRETS = frozenset({
    "GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_FILE",
    "GITHUB_WEBHOOK_SECRET", "GITLAB_TOKEN", "GITLAB_WEBHOOK_SECRET", "PROWLET_DASHBOARD_TOKEN",
    "PROWLET_REDIS_URL",
})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class IntakeSettings:
    # How often prowlet asks the forges for deliveries to its hooks that failed (it was down or
    # unreachable) and has them redelivered; the first pass runs at start-up.  "0": never.
    repair_interval: str = "5m"

    @property
    def repair_seconds(self) -> float:
        """The interval in seconds; 0.0 when repair is off."""
        return 0.0 if OFF_DURATION.fullmatch(self.repair_interval.strip()) else parse_duration(self.repair_interval) or 0.0

    def check(self) -> list[tuple[str, str]]:
        if OFF_DURATION.fullmatch(self.repair_interval.strip()) or parse_duration(self.repair_interval) is not None:
            return []
        return [("repair_interval", f"expected a duration such as 90s, 5m or 1h, or \"0\" for off, got {self.repair_interval!r}")]


@dataclass(frozen=True)
class JobSettings:
    """One job for the built-in runner (see config.yaml)."""

    name: str = ""
    run: str = ""
    clone: bool = True
    always_run: bool = True
    run_if_changed: re.Pattern[str] | None = None
    skip_if_only_changed: re.Pattern[str] | None = None
    optional: bool = False
    repos: list[str] = field(default_factory=lambda: ["*"])
    timeout: str = "30m"
    executor: str | None = None  # null: runner.executor
    image: str = ""  # container executor: the image to run in
    network: bool = True
    secrets: list[str] = field(default_factory=list)  # names of prowlet's environment variables
    memory: str | None = None  # null: the runner's default; "0": no limit
    processes: int | None = None
    cpu_time: str | None = None
    workspace_size: str | None = None
    retry_on_worker_loss: bool = False  # with workers: run it once more if its worker dies mid-job
    branches: list[str] = field(default_factory=list)  # regexes over the base branch (whole name); []: any
    skip_branches: list[str] = field(default_factory=list)  # never into a branch matching one of these
    context: str = ""  # the commit-status context; "": the job's name
    skip_report: bool = False  # run, but post no commit status
    trigger: re.Pattern[str] | None = None  # a comment matching this also runs the job (besides /test <name>)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.branches and self.skip_branches:
            problems.append(("skip_branches", "use branches or skip_branches, not both"))
        for key in ("branches", "skip_branches"):
            for i, pattern in enumerate(getattr(self, key)):
                try:
                    re.compile(pattern)
                except re.error as err:
                    problems.append((f"{key}[{i}]", f"not a regular expression: {err}"))
        if self.executor is not None and self.executor not in EXECUTORS:
            problems.append(("executor", f"must be one of {', '.join(EXECUTORS)} (or null), got {self.executor!r}"))
        if self.executor == "container" and not self.image.strip():
            problems.append(("image", "the container executor needs an image"))
        problems += [(f"secrets[{i}]", why) for i, name in enumerate(self.secrets) if (why := _secret_problem(name))]
        problems += _limit_problems("memory", self.memory, parse_size, "a size such as 512M or 4G")
        problems += _limit_problems("cpu_time", self.cpu_time, parse_duration, "a duration such as 90s or 1h")
        problems += _limit_problems("workspace_size", self.workspace_size, parse_size, "a size such as 512M or 10G")
        if self.processes is not None and self.processes < 0:
            problems.append(("processes", "must not be negative"))
        if not _JOB_NAME.fullmatch(self.name) or self.name.lower() == "all":
            problems.append(("name", f"must be letters, digits, '.', '_' or '-' (not 'all'), got {self.name!r}"))
        if not self.run.strip():
            problems.append(("run", "the shell command to run is required"))
        if self.run_if_changed is not None and self.skip_if_only_changed is not None:
            problems.append(("skip_if_only_changed", "use run_if_changed or skip_if_only_changed, not both"))
        if parse_duration(self.timeout) is None:
            problems.append(("timeout", f"expected a duration such as 90s, 30m or 1h30m, got {self.timeout!r}"))
        return problems

    def to_spec(self) -> JobSpec:
        return JobSpec(name=self.name, run=self.run, clone=self.clone, always_run=self.always_run,
                       run_if_changed=self.run_if_changed, skip_if_only_changed=self.skip_if_only_changed,
                       optional=self.optional, repos=tuple(self.repos), timeout=parse_duration(self.timeout) or 1800.0,
                       executor=self.executor, image=self.image, network=self.network, secrets=tuple(self.secrets),
                       limits=_limits(self.memory, self.processes, self.cpu_time, self.workspace_size, 0),
                       retry_on_worker_loss=self.retry_on_worker_loss,
                       branches=tuple(self.branches), skip_branches=tuple(self.skip_branches),
                       context=self.context.strip(), skip_report=self.skip_report, trigger=self.trigger)


@dataclass(frozen=True)
class RunnerSettings:
    max_concurrent: int = 2  # jobs running at once on this machine; the rest wait, pending
    executor: str = "sandbox"  # sandbox | container | process, for jobs that name none
    memory: str = "4G"  # per job; "0": no limit
    processes: int = 512
    cpu_time: str = "1h"
    workspace_size: str = "10G"
    log_retention: str = "30d"  # job logs are deleted this long after the job finished
    sandbox_paths: list[str] = field(default_factory=lambda: list(DEFAULT_SANDBOX_PATHS))
    container_cli: str = "docker"  # or podman
    # With PROWLET_REDIS_URL (jobs queued in the shared store):
    run_jobs: bool = True  # `prowlet serve` runs queued jobs too (false: only `prowlet worker`s do)
    lease: int = 30  # seconds a job's runner may go without a heartbeat before the job is lost
    shared_log_size: str = "8M"  # how much of each job's log the shared store keeps: its end

    def check(self) -> list[tuple[str, str]]:
        problems = [] if 1 <= self.max_concurrent <= 64 else [("max_concurrent", "must be between 1 and 64")]
        if self.lease < 3:
            problems.append(("lease", "must be at least 3 seconds (it is renewed every third of it)"))
        if parse_size(self.shared_log_size) is None:
            problems.append(("shared_log_size", f"expected a size such as 8M or 64M, got {self.shared_log_size!r}"))
        if self.executor not in EXECUTORS:
            problems.append(("executor", f"must be one of {', '.join(EXECUTORS)}, got {self.executor!r}"))
        problems += _limit_problems("memory", self.memory, parse_size, "a size such as 512M or 4G")
        problems += _limit_problems("cpu_time", self.cpu_time, parse_duration, "a duration such as 90s or 1h")
        problems += _limit_problems("workspace_size", self.workspace_size, parse_size, "a size such as 512M or 10G")
        if self.processes < 0:
            problems.append(("processes", "must not be negative"))
        if parse_duration(self.log_retention) is None:
            problems.append(("log_retention", f"expected a duration such as 30d or 12h, got {self.log_retention!r}"))
        problems += [(f"sandbox_paths[{i}]", "must be an absolute path") for i, p in enumerate(self.sandbox_paths)
                     if not p.startswith("/")]
        return problems

    @property
    def limits(self) -> Limits:
        return _limits(self.memory, self.processes, self.cpu_time, self.workspace_size, None)

    @property
    def log_retention_seconds(self) -> float:
        return parse_duration(self.log_retention) or 30 * 86400.0

    @property
    def shared_log_bytes(self) -> int:
        return parse_size(self.shared_log_size) or 8 * 1024 * 1024


MERGE_METHODS = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class MergeSettings:
    """Merge automation (Prow's Tide).  Absent from the config: prowlet never merges."""

    sync_interval: int = 60  # seconds between full passes; events also start a pass for their repo
    method: str = "merge"  # merge | squash | rebase; a PR's merge-method-<m> label overrides it
    require_labels: list[str] = field(default_factory=lambda: ["lgtm", "approved"])
    forbid_labels: list[str] = field(default_factory=lambda: [
        "do-not-merge/hold", "do-not-merge/work-in-progress", "do-not-merge/invalid-owners-file",
        "needs-rebase", "needs-ok-to-test",
    ])
    repos: list[str] = field(default_factory=lambda: ["*"])  # globs over owner/repo or group/.../project
    blocker_label: str = "merge-blocker"  # an open issue with it blocks merging in its repository ("": off)
    status_context: str = "merge"  # the commit status prowlet keeps on every open PR in scope
    # Merge statuses one pass writes at most, the most relevant first (the rest: the next passes),
    # so a first pass over 1,000 PRs neither overruns the write budget nor waits behind it.
    status_writes_per_pass: int = 30

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.method not in MERGE_METHODS:
            problems.append(("method", f"must be one of {', '.join(MERGE_METHODS)}, got {self.method!r}"))
        if self.sync_interval < 5:
            problems.append(("sync_interval", "must be at least 5 seconds"))
        if not self.status_context.strip():
            problems.append(("status_context", "must not be empty"))
        if self.status_writes_per_pass < 1:
            problems.append(("status_writes_per_pass", "must be at least 1"))
        return problems

    def applies_to(self, repo: str) -> bool:
        return repo_matches(repo, self.repos)


IN_REPO_FILE = ".prowlet.yaml"  # read from a repository's default branch (README "In-repository configuration")
# Plugins whose options a repository may set by default: what they change stays on its own PRs.
_IN_REPO_PLUGINS = ["lgtm", "label", "size", "welcome", "blunderbuss", "milestone", "release-note",
                    "require-matching-label"]


def _secret_problem(name: str) -> str | None:
    """Why ``name`` may not be handed to a job (None: it may)."""
    if not _ENV_NAME.fullmatch(name):
        return f"not an environment variable name: {name!r}"
    if name in BOT_SECRETS or name.startswith("PROWLET_") or name in ("PATH", "HOME", "CI"):
        return f"{name} is prowlet's own (or a job variable); give the job a credential of its own"
    return None


@dataclass(frozen=True)
class InRepoAllow:
    """What a repository's .prowlet.yaml may set; everything else is refused with a message."""

    plugins: list[str] = field(default_factory=lambda: list(_IN_REPO_PLUGINS))  # options of these
    enable_disable: bool = False  # it may also turn those plugins on (plugins.enabled) and off (plugins.disabled)
    jobs: bool = False  # it may define jobs for the built-in runner, within the limits below
    network: bool = False  # those jobs may have network (without it they get none)
    secrets: dict[str, list[str]] = field(default_factory=dict)  # repository glob → secrets its jobs may name

    def check(self) -> list[tuple[str, str]]:
        return [(f"secrets.{glob}[{i}]", why) for glob, names in self.secrets.items()
                for i, name in enumerate(names) if (why := _secret_problem(name))]

    def secrets_for(self, repo: str) -> frozenset[str]:
        return frozenset(n for glob, names in self.secrets.items() if repo_matches(repo, [glob]) for n in names)


@dataclass(frozen=True)
class InRepoSettings:
    """Prow's in-repo config: off unless the operator turns it on, since the file lets anyone who
    can merge into a repository change how prowlet treats it."""

    enabled: bool = False
    repos: list[str] = field(default_factory=lambda: ["*"])  # globs: where .prowlet.yaml is honoured
    allow: InRepoAllow = field(default_factory=InRepoAllow)
    max_jobs: int = 10  # jobs one file may define; the rest are refused
    max_job_timeout: str = "1h"  # a job's timeout may not be longer

    def check(self) -> list[tuple[str, str]]:
        problems = [] if self.max_jobs >= 0 else [("max_jobs", "must not be negative")]
        if parse_duration(self.max_job_timeout) is None:
            problems.append(("max_job_timeout", f"expected a duration such as 30m or 1h, got {self.max_job_timeout!r}"))
        return problems

    def applies_to(self, repo: str) -> bool:
        return self.enabled and repo_matches(repo, self.repos)

    @property
    def max_timeout_seconds(self) -> float:
        return parse_duration(self.max_job_timeout) or 3600.0


@dataclass(frozen=True)
class DashboardSettings:
    """The dashboard at ``/`` (README "Dashboard").  A repository not listed here is shown only
    after a login with ``PROWLET_DASHBOARD_TOKEN``."""

    public_repos: list[str] = field(default_factory=list)  # globs anyone may see, e.g. ["acme/*"]

    def is_public(self, repo: str) -> bool:
        return bool(self.public_repos) and repo_matches(repo, self.public_repos)


@dataclass(frozen=True)
class RepoRule:
    match: list[str] = field(default_factory=list)  # globs over owner/repo or group/.../project
    enabled: list[str] | None = None  # replaces the enabled set
    disabled: list[str] = field(default_factory=list)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    who: dict[str, str] = field(default_factory=dict)  # merged over commands.who

    def check(self) -> list[tuple[str, str]]:
        problems = _who_problems(self.who)
        if not self.match:
            problems.append(("match", "list at least one repository glob, e.g. 'acme/*'"))
        return problems

    def applies_to(self, repo: str) -> bool:
        return repo_matches(repo, self.match)


@dataclass(frozen=True)
class PluginSettings:
    enabled: list[str] | None = None  # None: every core plugin
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Sections:
    """The config file's sections but the forges' (RawConfig adds one per forge driver)."""

    commands: CommandSettings = field(default_factory=CommandSettings)
    ignore: IgnoreSettings = field(default_factory=IgnoreSettings)
    plugins: PluginSettings = field(default_factory=PluginSettings)
    repos: list[RepoRule] = field(default_factory=list)
    queue: QueueSettings = field(default_factory=QueueSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    jobs: list[JobSettings] = field(default_factory=list)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    merge: MergeSettings | None = None
    notify: NotifySettings = field(default_factory=NotifySettings)
    in_repo_config: InRepoSettings = field(default_factory=InRepoSettings)
    aliases: list[AliasSettings] = field(default_factory=list)  # config-defined commands (bot.aliases)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)

    def tuning(self, forge: str) -> ForgeTuning:
        """A forge's tuning: the section named after its driver; the defaults for a forge without one."""
        section = getattr(self, forge, None)
        return section if isinstance(section, ForgeTuning) else ForgeTuning()

    def check(self) -> list[tuple[str, str]]:
        seen: dict[str, int] = {}
        problems = []
        for i, job in enumerate(self.jobs):
            first = seen.setdefault(job.name.lower(), i)
            if first != i:
                problems.append((f"jobs[{i}].name", f"duplicate job name {job.name!r} (also jobs[{first}])"))
        problems += [(f"aliases[{i}].action.job", f"no job named {alias.action.job!r} in jobs")
                     for i, alias in enumerate(self.aliases) if alias.action.job and alias.action.job not in
                     {job.name for job in self.jobs}]
        return problems


def with_a_section_per_forge(sections: type, drivers: Sequence[ForgeDriver] | None = None) -> type:
    """The whole config: ``sections`` plus one tuning section per forge driver, named after it
    (``github:``, ``gitlab:`` …), so a new forge brings its section with its driver alone."""
    from bot.forge.drivers import DRIVERS

    raw = make_dataclass("RawConfig", [(d.name, ForgeTuning, field(default_factory=ForgeTuning))
                                       for d in (DRIVERS if drivers is None else drivers)],
                         bases=(sections,), frozen=True)
    raw.__module__, raw.__doc__ = __name__, "A parsed config file (bot.options builds it from YAML)."
    return raw


RawConfig = with_a_section_per_forge(_Sections)


@dataclass(frozen=True)
class RepoConfig:
    """What applies to one repository: enabled plugins in registry order, with built options."""

    plugins: tuple[Plugin, ...]
    options: dict[str, Any]
    prefix: str
    who: dict[str, Rule] = field(default_factory=dict)  # configured rules by command name

    def rule_for(self, name: str, declared: Rule) -> Rule:
        """Who may use command ``name`` here: the configured rule, else the command's own."""
        return self.who.get(name, declared)


class Config:
    """Validated configuration bound to the plugin registry."""

    def __init__(self, raw: RawConfig, registry: list[Plugin]) -> None:
        self.raw = raw
        self.registry = registry
        self._by_name = {p.name: p for p in registry}
        self._repo_cache: dict[str, RepoConfig] = {}

    @property
    def commands(self) -> CommandSettings:
        return self.raw.commands

    @property
    def ignore(self) -> IgnoreSettings:
        return self.raw.ignore

    def alias_plugins(self, repo: str | None = None) -> tuple[Plugin, ...]:
        """The config-defined commands (for ``repo``: those whose globs match it) as one plugin,
        or none when there are none."""
        from bot.aliases.plugin import build_plugin

        aliases = [a for a in self.raw.aliases if repo is None or repo_matches(repo, a.repos)]
        return (build_plugin(aliases),) if aliases else ()

    def for_repo(self, repo: str) -> RepoConfig:
        cached = self._repo_cache.get(repo)
        if cached is None:
            cached = self._repo_cache[repo] = self._resolve(repo)
        return cached

    def with_layer(self, repo: str, layer: RepoLayer) -> RepoConfig:
        """``for_repo`` with a repository's own layer (its .prowlet.yaml, already checked against
        ``in_repo_config``) over it; not cached here (bot.inrepo caches it per commit)."""
        return self._resolve(repo, layer)

    def operator_options(self, repo: str) -> dict[str, dict[str, Any]]:
        """The plugin option sections the operator's config gives ``repo``, unbuilt."""
        return self._operator(repo)[1]

    def _resolve(self, repo: str, layer: RepoLayer | None = None) -> RepoConfig:
        enabled, options, who = self._operator(repo)
        if layer is not None:  # the repository's own: turns allowed plugins on/off, options merged over
            enabled = [*enabled, *layer.enabled]
            enabled = [p for p in enabled if p not in layer.disabled]
            for name, opts in layer.options.items():
                options[name] = {**options.get(name, {}), **opts}
        plugins = tuple(p for p in self.registry if p.name in enabled) + self.alias_plugins(repo)
        built = {p.name: build(p.options, options.get(p.name, {})) if p.options else None for p in plugins}
        rules = {name.lower(): RULES[rule] for name, rule in who.items()}
        return RepoConfig(plugins=plugins, options=built, prefix=self.raw.commands.prefix, who=rules)

    def _operator(self, repo: str) -> tuple[list[str], dict[str, dict[str, Any]], dict[str, str]]:
        """Enabled plugin names, option sections and command rules from the operator's config."""
        enabled = list(self.raw.plugins.enabled if self.raw.plugins.enabled is not None
                       else [p.name for p in self.registry if p.default])
        options = {name: dict(opts) for name, opts in self.raw.plugins.options.items()}
        who = dict(self.raw.commands.who)
        for rule in self.raw.repos:  # later rules refine earlier ones
            if not rule.applies_to(repo):
                continue
            who.update(rule.who)
            if rule.enabled is not None:
                enabled = list(rule.enabled)
            enabled = [p for p in enabled if p not in rule.disabled]
            for name, opts in rule.options.items():
                options[name] = {**options.get(name, {}), **opts}
        return enabled, options, who


def _check_plugin_refs(raw: RawConfig, registry: list[Plugin]) -> list[ConfigProblem]:
    by_name = {p.name: p for p in registry}
    known = ", ".join(sorted(by_name))
    problems: list[ConfigProblem] = []

    def names(key: str, values: list[str] | None) -> None:
        for i, name in enumerate(values or []):
            if name not in by_name:
                problems.append(ConfigProblem(f"{key}[{i}]", f"unknown plugin {name!r} (known: {known})"))

    def options(key: str, opts: dict[str, dict[str, Any]]) -> None:
        for name, section in opts.items():
            plugin = by_name.get(name)
            if plugin is None:
                problems.append(ConfigProblem(f"{key}.{name}", f"unknown plugin (known: {known})"))
            elif plugin.options is None:
                if section:
                    problems.append(ConfigProblem(f"{key}.{name}", "this plugin has no options"))
            else:
                build(plugin.options, section, f"{key}.{name}", problems)

    commands = {cmd.name for plugin in registry for cmd in plugin.commands}
    problems.extend(_alias_clashes(raw.aliases, commands))
    commands |= {alias.command for alias in raw.aliases}

    def who(key: str, rules: dict[str, str]) -> None:
        for name in rules:
            if name.lower() not in commands:
                problems.append(ConfigProblem(f"{key}.{name}", "unknown command (see `prowlet commands`)"))

    names("plugins.enabled", raw.plugins.enabled)
    names("in_repo_config.allow.plugins", raw.in_repo_config.allow.plugins)
    options("plugins.options", raw.plugins.options)
    who("commands.who", raw.commands.who)
    for i, rule in enumerate(raw.repos):
        names(f"repos[{i}].enabled", rule.enabled)
        names(f"repos[{i}].disabled", rule.disabled)
        options(f"repos[{i}].options", rule.options)
        who(f"repos[{i}].who", rule.who)
    return problems


def _alias_clashes(aliases: list[AliasSettings], builtin: set[str]) -> list[ConfigProblem]:
    """An alias may not take a built-in command's name, nor another alias's."""
    problems = []
    seen: dict[str, int] = {}
    for i, alias in enumerate(aliases):
        if alias.command in builtin:
            problems.append(ConfigProblem(f"aliases[{i}].command", f"/{alias.command} is a built-in command"))
        first = seen.setdefault(alias.command, i)
        if first != i:
            problems.append(ConfigProblem(f"aliases[{i}].command", f"/{alias.command} is also aliases[{first}]"))
    return problems


def parse_config(data: Any, registry: list[Plugin]) -> Config:
    """Validate a loaded YAML document; raise ConfigError naming every bad key."""
    problems: list[ConfigProblem] = []
    data = _without_retired(data, problems)
    raw = build(RawConfig, data, "", problems)
    problems.extend(_check_plugin_refs(raw, registry))
    if problems:
        raise ConfigError(problems)
    return Config(raw, registry)


def _without_retired(data: Any, problems: list[ConfigProblem]) -> Any:
    """``data`` without the retired keys, each reported with what replaced it."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for (section, key), why in _retired().items():
        if isinstance(data.get(section), dict) and key in data[section]:
            data[section] = {k: v for k, v in data[section].items() if k != key}
            problems.append(ConfigProblem(f"{section}.{key}", why))
    return data


def load_config(path: Path | None, registry: list[Plugin]) -> Config:
    """Load ``path`` (None: the built-in defaults)."""
    if path is None:
        return parse_config({}, registry)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError([ConfigProblem(str(path), f"cannot read: {err.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError([ConfigProblem(str(path), f"not valid YAML{where}: {problem}")]) from None
    return parse_config(data, registry)
