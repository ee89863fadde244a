"""The ``aliases:`` section of the config: one ``AliasSettings`` per config-defined command.

Each class checks itself (``check``), so ``prowlet check-config`` names every bad key; the checks
that need the plugin registry (clashes with built-in commands) live in ``bot.config``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.aliases.template import RESULT_FIELDS, FormatError, Param, parse_format, placeholders
from bot.commands import parse_commands
from bot.permissions import RULES

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMAND = re.compile(r"[a-z][a-z0-9_-]*")
OWNERS_ROLES = ("approvers", "reviewers")


@dataclass(frozen=True)
class ParamRule:
    """Besides being one plain word (always): one of ``allowed``, and/or matching ``regex`` whole."""

    allowed: list[str] = field(default_factory=list)
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class WhoSettings:
    """Who may run the alias: anyone matching any entry.  Nothing set: collaborators."""

    anyone: bool = False
    rule: str = ""  # one of bot.permissions.RULES: collaborators, maintainers, org-members ...
    owners: str = ""  # approvers | reviewers: in the OWNERS files of the changed files
    teams: list[str] = field(default_factory=list)  # "release" (the repository's org) or "org/team"
    users: list[str] = field(default_factory=list)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.rule and self.rule not in RULES:
            problems.append(("rule", f"unknown rule {self.rule!r} (known: {', '.join(RULES)})"))
        if self.owners and self.owners not in OWNERS_ROLES:
            problems.append(("owners", f"must be one of {', '.join(OWNERS_ROLES)}, got {self.owners!r}"))
        return problems

    @property
    def nobody_named(self) -> bool:
        return not (self.anyone or self.rule or self.owners or self.teams or self.users)


@dataclass(frozen=True)
class Protection:
    """Extra conditions when a parameter has a protected value (``protect: {prod: ...}``)."""

    branches: list[str] = field(default_factory=list)  # the ref acted on must be one of these
    teams: list[str] = field(default_factory=list)  # with users: only members of these / these users
    users: list[str] = field(default_factory=list)
    not_held: bool = False  # never while the PR/MR carries do-not-merge/hold


@dataclass(frozen=True)
class ActionSettings:
    """What the alias does: a built-in job; or a workflow (GitHub), a pipeline (GitLab), or both; or
    an HTTP call."""

    job: str = ""  # a job of jobs: run on the PR/MR's head; values as PROWLET_PARAM_<NAME>
    workflow: str = ""  # GitHub Actions: the workflow's file name (deploy.yml) or id
    inputs: dict[str, str] = field(default_factory=dict)  # workflow_dispatch inputs (templates)
    pipeline: bool = False  # GitLab: start a pipeline (POST /projects/:id/pipeline)
    variables: dict[str, str] = field(default_factory=dict)  # pipeline variables (templates)
    ref: str = "HEAD"  # template: the branch the workflow/pipeline runs on; HEAD: the PR/MR's head branch
    url_env: str = ""  # HTTP: the environment variable holding the URL to POST to
    secret_env: str = ""  # HTTP: the variable holding the HMAC-SHA256 signing secret (required)
    payload: dict[str, str] = field(default_factory=dict)  # HTTP: extra JSON fields (templates)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        kinds = [bool(self.job), bool(self.workflow or self.pipeline), bool(self.url_env)]
        if sum(kinds) != 1:
            problems.append(("job", "give a job, or a workflow and/or pipeline: true, or an HTTP call (url_env): "
                                    "exactly one kind"))
        if self.inputs and not self.workflow:
            problems.append(("inputs", "inputs are for a workflow: name it in workflow"))
        if self.variables and not self.pipeline:
            problems.append(("variables", "variables are for a pipeline: set pipeline: true"))
        if self.url_env and not _ENV_NAME.fullmatch(self.url_env):
            problems.append(("url_env", f"not an environment variable name: {self.url_env!r}"))
        if self.url_env and not _ENV_NAME.fullmatch(self.secret_env):
            problems.append(("secret_env", "an HTTP call is always signed: name the variable holding its secret"))
        if self.payload and not self.url_env:
            problems.append(("payload", "payload is for an HTTP call: name its url_env"))
        if not self.ref.strip():
            problems.append(("ref", "must not be empty (HEAD: the PR/MR's head branch)"))
        return problems

    def templates(self) -> dict[str, str]:
        """Every template of the action by its key, for checking their placeholders."""
        found = {"ref": self.ref}
        for key in ("inputs", "variables", "payload"):
            found.update({f"{key}.{name}": text for name, text in getattr(self, key).items()})
        return found


@dataclass(frozen=True)
class AliasSettings:
    command: str = ""  # the command's name, without the slash: deploy → /deploy
    format: str = ""  # its parameters: "{{env}} {{branch=HEAD}}"
    help: str = ""  # shown in /help and `prowlet commands`
    params: dict[str, ParamRule] = field(default_factory=dict)
    who: WhoSettings = field(default_factory=WhoSettings)
    protect: dict[str, Protection] = field(default_factory=dict)  # a parameter value → its conditions
    action: ActionSettings = field(default_factory=ActionSettings)
    ack: str = ""  # posted at once ("": nothing); templates use {{param}}
    result: str = "{{status}}: {{url}}"  # posted when the action ends; also {{status}} and {{url}}
    repos: list[str] = field(default_factory=lambda: ["*"])  # globs: where the command exists

    @property
    def parameters(self) -> tuple[Param, ...]:
        try:
            return parse_format(self.format)
        except FormatError:
            return ()

    def check(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if not _COMMAND.fullmatch(self.command) or not parse_commands("/" + self.command):
            problems.append(("command", f"must be a lower-case word such as deploy, got {self.command!r}"))
        try:
            names = {p.name for p in parse_format(self.format)}
        except FormatError as err:
            problems.append(("format", str(err)))
            return problems
        problems += [(f"params.{name}", "not a parameter of the format") for name in self.params
                     if name.lower() not in names]
        templates = {f"action.{key}": text for key, text in self.action.templates().items()}
        templates["ack"] = self.ack
        for key, text in {**templates, "result": self.result}.items():
            extra = RESULT_FIELDS if key == "result" else ()
            for name in placeholders(text):
                if name not in names and name not in extra:
                    problems.append((key, f"{{{{{name}}}}} is not a parameter of the format ({self.format!r})"))
        return problems
