"""A repository's .prowlet.yaml against the operator's limits, and laid over the operator's config:
tables of named cases (pure: no forge)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.config import Config, parse_config
from bot.inrepo.layer import parse_layer
from plugins import REGISTRY

REPO = "acme/widgets"
OPEN: dict[str, Any] = {"enabled": True, "allow": {"plugins": ["size", "lgtm", "welcome"], "enable_disable": True,
                                                    "jobs": True, "secrets": {"acme/*": ["NPM_TOKEN"]}},
                        "max_jobs": 2}


def _config(in_repo: dict[str, Any] | None = None, **extra: Any) -> Config:
    return parse_config({"in_repo_config": OPEN if in_repo is None else in_repo, **extra}, REGISTRY)


def _layer(data: Any, config: Config | None = None, repo: str = REPO):  # noqa: ANN202
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    return parse_layer(text, repo, config or _config())


def _job(**fields: Any) -> dict[str, Any]:
    return {"name": "unit", "run": "make test", **fields}


REFUSED = [
    ("not YAML", "plugins: [", ".prowlet.yaml: not valid YAML at line"),
    ("not a mapping", "- a\n- b\n", ".prowlet.yaml: expected a mapping"),
    ("unknown top-level key", {"merge": {"method": "squash"}}, "merge: unknown key (known keys: jobs, plugins)"),
    ("operator-only plugin's options", {"plugins": {"options": {"approve": {"require_self_approval": True}}}},
     "plugins.options.approve: not allowed here"),
    ("unknown plugin's options", {"plugins": {"options": {"nope": {}}}}, "plugins.options.nope: unknown plugin"),
    ("bad option value", {"plugins": {"options": {"lgtm": {"remove_on_new_commits": "yes"}}}},
     "plugins.options.lgtm.remove_on_new_commits: expected true or false, got string"),
    ("unknown option key", {"plugins": {"options": {"size": {"colour": 1}}}}, "plugins.options.size.colour: unknown key"),
    ("enabling a plugin not allowed", {"plugins": {"enabled": ["size", "cherrypick"]}},
     "plugins.enabled[1]: 'cherrypick' is not one this file may change"),
    ("disabling a plugin not allowed", {"plugins": {"disabled": ["verify-owners"]}},
     "plugins.disabled[0]: 'verify-owners' is not one this file may change"),
    ("unknown plugins key", {"plugins": {"who": {"lgtm": "anyone"}}}, "plugins.who: unknown key"),
    ("process executor", {"jobs": [_job(executor="process")]}, "jobs[0].executor: jobs from .prowlet.yaml run sandboxed"),
    ("network not allowed", {"jobs": [_job(network=True)]}, "jobs[0].network: not allowed here"),
    ("secret not granted", {"jobs": [_job(secrets=["AWS_KEY"])]}, "jobs[0].secrets[0]: AWS_KEY is not granted to acme/widgets"),
    ("the bot's own token", {"jobs": [_job(secrets=["GITHUB_TOKEN"])]}, "jobs[0].secrets[0]: GITHUB_TOKEN is prowlet's own"),
    ("memory above the runner's", {"jobs": [_job(memory="8G")]},
     "jobs[0].memory: higher than the operator's runner.memory (4G)"),
    ("no memory limit", {"jobs": [_job(memory="0")]}, "jobs[0].memory: no limit is looser than the operator's runner.memory"),
    ("more processes", {"jobs": [_job(processes=10000)]}, "jobs[0].processes: higher than the operator's runner.processes (512)"),
    ("longer cpu time", {"jobs": [_job(cpu_time="2h")]}, "jobs[0].cpu_time: higher than the operator's runner.cpu_time (1h)"),
    ("longer timeout", {"jobs": [_job(timeout="3h")]}, "jobs[0].timeout: longer than in_repo_config.max_job_timeout (1h)"),
    ("operator-only job key", {"jobs": [_job(repos=["*"])]}, "jobs[0].repos: only the operator's config may set this"),
    ("skip_report is the operator's", {"jobs": [_job(skip_report=True)]}, "jobs[0].skip_report: only the operator's"),
    ("a job without run", {"jobs": [{"name": "unit"}]}, "jobs[0].run: the shell command to run is required"),
    ("too many jobs", {"jobs": [_job(name="a"), _job(name="b"), _job(name="c")]},
     "jobs[2]: at most 2 jobs (in_repo_config.max_jobs); the 1 after it are left out"),
    ("duplicate job", {"jobs": [_job(), _job(run="true")]}, "jobs[1].name: duplicate job name 'unit'"),
    ("a job not a mapping", {"jobs": ["unit"]}, "jobs[0]: expected a mapping"),
    ("a backreference", {"jobs": [_job(run_if_changed=r"^(src)/\1")]}, "jobs[0].run_if_changed: a regex here must run in linear time"),
    ("a lookahead in branches", {"jobs": [_job(branches=["(?!main).*"])]}, "jobs[0].branches[0]: a regex here must run in linear time"),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_keys_are_named(data: Any, message: str) -> None:
    layer = _layer(data)
    assert any(str(p).startswith(message) for p in layer.problems), [str(p) for p in layer.problems]


LIMITS_OFF = [
    ("jobs not allowed", {"enabled": True}, {"jobs": [_job()]}, "jobs: not allowed here"),
    ("enable/disable not allowed", {"enabled": True}, {"plugins": {"enabled": ["size"]}}, "plugins.enabled: not allowed here"),
    ("default allow list has no trigger", {"enabled": True}, {"plugins": {"options": {"trigger": {"trusted_users": ["x"]}}}},
     "plugins.options.trigger: not allowed here"),
    ("granted to another org only", {**OPEN, "allow": {**OPEN["allow"], "secrets": {"other/*": ["NPM_TOKEN"]}}},
     {"jobs": [_job(secrets=["NPM_TOKEN"])]}, "jobs[0].secrets[0]: NPM_TOKEN is not granted"),
]


@pytest.mark.parametrize(("in_repo", "data", "message"), [c[1:] for c in LIMITS_OFF], ids=[c[0] for c in LIMITS_OFF])
def test_what_the_operator_does_not_allow_is_refused(in_repo: dict[str, Any], data: Any, message: str) -> None:
    layer = _layer(data, _config(in_repo))
    assert [str(p) for p in layer.problems][0].startswith(message)
    assert layer.empty


def test_operator_job_names_are_not_taken_over() -> None:
    config = _config(jobs=[{"name": "unit", "run": "make ci"}])
    layer = _layer({"jobs": [_job()]}, config)
    assert [str(p) for p in layer.problems] == ["jobs[0].name: the operator's config has a job 'unit'"]
    assert layer.jobs == ()


ACCEPTED = [
    ("empty file", "", {}),
    ("comments only", "# nothing yet\n", {}),
    ("plugin options", {"plugins": {"options": {"size": {"s": 20}}}}, {"options": {"size": {"s": 20}}}),
    ("enable and disable", {"plugins": {"enabled": ["size"], "disabled": ["lgtm"]}}, {"enabled": ("size",), "disabled": ("lgtm",)}),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_files(data: Any, expected: dict[str, Any]) -> None:
    layer = _layer(data)
    assert layer.problems == ()
    for key, value in expected.items():
        assert getattr(layer, key) == value


def test_a_refused_key_leaves_the_rest_applied() -> None:
    layer = _layer({"plugins": {"options": {"size": {"s": 20}, "approve": {}}},
                    "jobs": [_job(executor="process"), _job(name="lint", run="make lint")]})
    assert [p.key for p in layer.problems] == ["plugins.options.approve", "jobs[0].executor"]
    assert dict(layer.options) == {"size": {"s": 20}}
    assert [job.name for job in layer.jobs] == ["lint"]


def test_jobs_from_the_file_stay_in_their_repository_and_sandbox() -> None:
    (job,) = _layer({"jobs": [_job(secrets=["NPM_TOKEN"], memory="1G")]}).jobs
    assert job.repos == (REPO,)
    assert job.network is False  # allow.network is off: no network unless the operator allows it
    assert job.secrets == ("NPM_TOKEN",) and job.limits.memory == 1 << 30
    assert job.executor is None  # the runner's default, sandbox (a process default is refused)
    assert _layer({"jobs": [_job()]}, _config(runner={"executor": "process"})).problems[0].key == "jobs[0].executor"


MERGED = [
    ("option merged over the operator's", {"plugins": {"options": {"lgtm": {"remove_on_new_commits": False}}}},
     lambda rc, base: rc.options["lgtm"].remove_on_new_commits is False
     and rc.options["lgtm"].allow_any_collaborator == base.options["lgtm"].allow_any_collaborator),
    ("allowed plugin turned on", {"plugins": {"enabled": ["size"]}},
     lambda rc, base: "size" in {p.name for p in rc.plugins} and "size" not in {p.name for p in base.plugins}),
    ("allowed plugin turned off", {"plugins": {"disabled": ["lgtm"]}}, lambda rc, base: "lgtm" not in {p.name for p in rc.plugins}),
    ("refused keys change nothing", {"plugins": {"disabled": ["verify-owners"], "options": {"approve": {}}}},
     lambda rc, base: rc == base),
]


@pytest.mark.parametrize(("data", "holds"), [c[1:] for c in MERGED], ids=[c[0] for c in MERGED])
def test_layer_over_the_operator_config(data: Any, holds: Any) -> None:
    config = _config()
    base = config.for_repo(REPO)
    assert holds(config.with_layer(REPO, _layer(data, config)), base)


CATASTROPHIC = "(a+)+$"  # Python's re takes hours on "a" * 40 + "!"; RE2 answers at once


@pytest.mark.parametrize("field", ["run_if_changed", "skip_if_only_changed", "trigger"])
def test_regexes_from_the_file_run_in_linear_time(field: str) -> None:
    (job,) = _layer({"jobs": [_job(**{field: CATASTROPHIC}, branches=[CATASTROPHIC])]}).jobs
    hostile = "a" * 5000 + "!"
    assert getattr(job, field).search(hostile) is None  # a backtracking engine would not return
    assert getattr(job, field).search("a" * 10)
    assert not job.could_run(hostile) and job.could_run("aaa")


def test_a_job_without_a_timeout_gets_the_longest_allowed() -> None:
    (job,) = _layer({"jobs": [_job()]}, _config({**OPEN, "max_job_timeout": "10m"})).jobs
    assert job.timeout == 600.0  # not the usual 30m, which the operator does not allow here
    (job,) = _layer({"jobs": [_job()]}).jobs
    assert job.timeout == 1800.0


ODD = [
    ("a mapping in a plugin list", "plugins:\n  enabled: [{size: 1}]\n"),
    ("a list as a plugin name", "plugins:\n  disabled: [[lgtm]]\n"),
    ("numbers as keys", "1: 2\nplugins:\n  options:\n    3: {}\n"),
    ("plugins a string", "plugins: all\n"),
    ("options a list", "plugins:\n  options: [size]\n"),
    ("jobs a mapping", "jobs: {unit: {run: x}}\n"),
    ("a job name a list", "jobs:\n  - {name: [a], run: x}\n"),
    ("a job key a number", "jobs:\n  - {1: x, name: a, run: b}\n"),
    ("a null job", "jobs:\n  -\n"),
    ("a secrets string", "jobs:\n  - {name: a, run: b, secrets: NPM_TOKEN}\n"),
    ("a regex not a string", "jobs:\n  - {name: a, run: b, trigger: 3}\n"),
    ("an unhashable mapping key", "? [a]\n: b\n"),
    ("a tab in the wrong place", "plugins:\n\tenabled: []\n"),
    ("binary noise", "\x00\x01\x02"),
]


@pytest.mark.parametrize("text", [c[1] for c in ODD], ids=[c[0] for c in ODD])
def test_odd_files_are_refused_never_raised(text: str) -> None:
    layer = _layer(text)
    assert layer.problems and layer.empty


def test_the_readme_example_is_accepted_under_its_operator_section() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## In-repository configuration")[1].split("\n## ")[0]
    operator, repository = re.findall(r"```yaml\n(.*?)```", section, re.S)
    layer = parse_layer(repository, "acme/api", parse_config(yaml.safe_load(operator), REGISTRY))
    assert layer.problems == () and layer.jobs and layer.options and layer.enabled
