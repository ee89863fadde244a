"""Config loading and check-config messages, as tables of named cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import PluginSettings, RawConfig, load_config, parse_config
from bot.options import ConfigError, build
from plugins import REGISTRY

ROOT = Path(__file__).resolve().parent.parent

BAD = [
    ("unknown top-level key", {"colour": 1}, "colour: unknown key"),
    ("unknown plugin enabled", {"plugins": {"enabled": ["lgtm", "nope"]}}, "plugins.enabled[1]: unknown plugin 'nope'"),
    ("unknown plugin options", {"plugins": {"options": {"nope": {}}}}, "plugins.options.nope: unknown plugin"),
    ("unknown plugin option key", {"plugins": {"options": {"lgtm": {"x": 1}}}}, "plugins.options.lgtm.x: unknown key"),
    ("wrong option type", {"plugins": {"options": {"lgtm": {"remove_on_new_commits": "yes"}}}},
     "plugins.options.lgtm.remove_on_new_commits: expected true or false, got string"),
    ("wrong nested type", {"plugins": {"options": {"label": {"restricted": ["a"]}}}},
     "plugins.options.label.restricted: expected a mapping, got list"),
    ("bad regex", {"ignore": {"pattern": "[bot"}}, "ignore.pattern: bad regular expression '[bot'"),
    ("bool is not an int", {"queue": {"max_attempts": True}}, "queue.max_attempts: expected an integer, got boolean"),
    ("int out of range", {"queue": {"max_concurrent_items": 0}}, "queue.max_concurrent_items: must be at least 1"),
    ("bad prefix", {"commands": {"prefix": "P!"}}, "commands.prefix: invalid command prefix 'P!'"),
    ("prefix without separator", {"commands": {"prefix": "prow"}}, "commands.prefix: invalid command prefix"),
    ("repo rule without match", {"repos": [{"enabled": ["lgtm"]}]}, "repos[0].match: list at least one"),
    ("repo rule unknown plugin", {"repos": [{"match": ["a/*"], "disabled": ["x"]}]}, "repos[0].disabled[0]: unknown plugin"),
    ("repo rule bad options", {"repos": [{"match": ["a/*"], "options": {"label": {"restricted": 3}}}]},
     "repos[0].options.label.restricted: expected a mapping, got integer"),
    ("top level not a mapping", ["a"], "expected a mapping, got list"),
    ("retired throttle", {"github": {"seconds_between_writes": 1.0}},
     "github.seconds_between_writes: no longer used: writes are paced by github.write_limits"),
    ("retired read throttle", {"github": {"seconds_between_requests": 0}},
     "github.seconds_between_requests: no longer used: reads are never delayed"),
    ("gitlab has no throttle", {"gitlab": {"seconds_between_writes": 1}}, "gitlab.seconds_between_writes: unknown key"),
    ("bad write limit", {"gitlab": {"write_limits": ["80 a minute"]}},
     "gitlab.write_limits[0]: expected writes/period such as 80/1m or 500/1h"),
    ("bad repair interval", {"intake": {"repair_interval": "5 minutes"}},
     "intake.repair_interval: expected a duration such as 90s, 5m or 1h"),
    ("repair interval is a string", {"intake": {"repair_interval": 300}}, "intake.repair_interval: expected a string"),
    ("options for an option-less plugin", {"plugins": {"options": {"hold": {"a": 1}}}}, "plugins.options.hold: this plugin has no options"),
    ("unknown executor", {"runner": {"executor": "chroot"}}, "runner.executor: must be one of sandbox, container, process"),
    ("job with unknown executor", {"jobs": [{"name": "u", "run": "true", "executor": "vm"}]},
     "jobs[0].executor: must be one of sandbox, container, process"),
    ("container job without image", {"jobs": [{"name": "u", "run": "true", "executor": "container"}]},
     "jobs[0].image: the container executor needs an image"),
    ("job asks for the bot's token", {"jobs": [{"name": "u", "run": "true", "secrets": ["GITHUB_TOKEN"]}]},
     "jobs[0].secrets[0]: GITHUB_TOKEN is prowlet's own"),
    ("job asks for a webhook secret", {"jobs": [{"name": "u", "run": "true", "secrets": ["NPM", "GITLAB_WEBHOOK_SECRET"]}]},
     "jobs[0].secrets[1]: GITLAB_WEBHOOK_SECRET is prowlet's own"),
    ("job secret not a variable name", {"jobs": [{"name": "u", "run": "true", "secrets": ["A-B"]}]},
     "jobs[0].secrets[0]: not an environment variable name"),
    ("bad memory size", {"runner": {"memory": "4 GB"}}, "runner.memory: expected a size such as 512M or 4G"),
    ("in-repo: unknown allowed plugin", {"in_repo_config": {"allow": {"plugins": ["size", "nope"]}}},
     "in_repo_config.allow.plugins[1]: unknown plugin 'nope'"),
    ("in-repo: granting the bot's token", {"in_repo_config": {"allow": {"secrets": {"acme/*": ["GITHUB_TOKEN"]}}}},
     "in_repo_config.allow.secrets.acme/*[0]: GITHUB_TOKEN is prowlet's own"),
    ("in-repo: bad max timeout", {"in_repo_config": {"max_job_timeout": "an hour"}},
     "in_repo_config.max_job_timeout: expected a duration such as 30m or 1h"),
    ("in-repo: negative max jobs", {"in_repo_config": {"max_jobs": -1}}, "in_repo_config.max_jobs: must not be negative"),
    ("in-repo: unknown allow key", {"in_repo_config": {"allow": {"labels": True}}},
     "in_repo_config.allow.labels: unknown key"),
    ("bad job cpu time", {"jobs": [{"name": "u", "run": "true", "cpu_time": "lots"}]},
     "jobs[0].cpu_time: expected a duration such as 90s or 1h"),
    ("bad log retention", {"runner": {"log_retention": "a month"}}, "runner.log_retention: expected a duration"),
    ("relative sandbox path", {"runner": {"sandbox_paths": ["usr"]}}, "runner.sandbox_paths[0]: must be an absolute path"),
]


@pytest.mark.parametrize("data,message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_names_key_and_problem(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, REGISTRY)
    assert any(str(p).startswith(message) for p in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"colour": 1, "queue": {"max_attempts": "x"}, "plugins": {"enabled": ["nope"]}}, REGISTRY)
    assert len(err.value.problems) == 3


def test_documented_config_equals_builtin_defaults() -> None:
    documented = load_config(ROOT / "config.yaml", REGISTRY)
    # Plugin options are spelled out in the file; what they resolve to must be the defaults.
    assert replace(documented.raw, plugins=PluginSettings()) == RawConfig()
    assert documented.raw.jobs == []
    assert documented.for_repo("a/b") == parse_config({}, REGISTRY).for_repo("a/b")


def test_every_option_is_documented_in_config_yaml() -> None:
    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    for section in ("commands", "ignore", "queue", "intake", "github", "gitlab", "runner", "notify", "in_repo_config"):
        fields = set(getattr(RawConfig(), section).__dataclass_fields__)
        assert set(data[section]) == fields, section
    for plugin in REGISTRY:
        if plugin.options:
            assert set(data["plugins"]["options"][plugin.name]) == set(plugin.options.__dataclass_fields__)


RESOLVE = [
    ("defaults enable every core plugin", [], "acme/widgets", {p.name for p in REGISTRY if p.default}),
    ("opt-in plugins are named to enable them", [{"match": ["acme/*"], "enabled": ["size", "wip"]}], "acme/widgets",
     {"size", "wip"}),
    ("org glob replaces the set", [{"match": ["acme/*"], "enabled": ["lgtm", "hold"]}], "acme/widgets", {"lgtm", "hold"}),
    ("glob does not match other orgs", [{"match": ["acme/*"], "enabled": ["lgtm"]}], "other/x", {p.name for p in REGISTRY if p.default}),
    ("later rule refines earlier", [{"match": ["acme/*"], "enabled": ["lgtm", "hold"]}, {"match": ["acme/widgets"], "disabled": ["hold"]}],
     "acme/widgets", {"lgtm"}),
    ("globs are case-insensitive", [{"match": ["ACME/*"], "enabled": ["help"]}], "acme/Widgets", {"help"}),
    ("gitlab subgroups", [{"match": ["group/sub/*"], "enabled": ["help"]}], "group/sub/project", {"help"}),
]


@pytest.mark.parametrize("rules,repo,expected", [c[1:] for c in RESOLVE], ids=[c[0] for c in RESOLVE])
def test_plugins_per_repository(rules: list, repo: str, expected: set[str]) -> None:
    config = parse_config({"repos": rules}, REGISTRY)
    assert {p.name for p in config.for_repo(repo).plugins} == expected


def test_repo_options_merge_over_global_options() -> None:
    config = parse_config(
        {
            "plugins": {"options": {"label": {"restricted": {"a": ["x"]}}, "lgtm": {"remove_on_new_commits": False}}},
            "repos": [{"match": ["acme/*"], "options": {"label": {"restricted": {"b": ["y"]}}}}],
        },
        REGISTRY,
    )
    acme = config.for_repo("acme/w")
    assert acme.options["label"].restricted == {"b": ["y"]}
    assert acme.options["lgtm"].remove_on_new_commits is False
    assert config.for_repo("else/w").options["label"].restricted == {"a": ["x"]}


def test_build_requires_mapping() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        build(RawConfig, "nope")


CLI = [
    ("valid file", "plugins:\n  enabled: [lgtm]\n", 0, "OK"),
    ("invalid yaml", "plugins: [\n", 1, "not valid YAML at line"),
    ("unknown key", "plugin: {}\n", 1, "plugin: unknown key"),
]


@pytest.mark.parametrize("text,code,output", [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, code: int, output: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == code
    captured = capsys.readouterr()
    assert output in captured.out + captured.err


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


JOBS = [
    ("job unknown key", [{"name": "unit", "run": "make", "colour": 1}], "jobs[0].colour: unknown key"),
    ("job bad regex", [{"name": "unit", "run": "make", "run_if_changed": "^src/("}], "jobs[0].run_if_changed: bad regular expression"),
    ("job duplicate name", [{"name": "unit", "run": "a"}, {"name": "Unit", "run": "b"}], "jobs[1].name: duplicate job name 'Unit' (also jobs[0])"),
    ("job without run", [{"name": "unit"}], "jobs[0].run: the shell command to run is required"),
    ("job named all", [{"name": "all", "run": "a"}], "jobs[0].name: must be letters"),
    ("job bad name", [{"name": "unit tests", "run": "a"}], "jobs[0].name: must be letters"),
    ("job both filters", [{"name": "u", "run": "a", "run_if_changed": "a", "skip_if_only_changed": "b"}],
     "jobs[0].skip_if_only_changed: use run_if_changed or skip_if_only_changed, not both"),
    ("job bad timeout", [{"name": "u", "run": "a", "timeout": "30 minutes"}], "jobs[0].timeout: expected a duration"),
    ("job zero timeout", [{"name": "u", "run": "a", "timeout": "0s"}], "jobs[0].timeout: expected a duration"),
    ("jobs not a list", {"unit": {}}, "jobs: expected a list"),
]


@pytest.mark.parametrize("jobs,message", [c[1:] for c in JOBS], ids=[c[0] for c in JOBS])
def test_bad_jobs(jobs: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"jobs": jobs}, REGISTRY)
    assert any(str(p).startswith(message) for p in err.value.problems), err.value.problems


DURATIONS = [("seconds", "90s", 90.0), ("minutes", "30m", 1800.0), ("mixed", "1h30m", 5400.0), ("days", "30d", 2592000.0),
             ("bad unit", "1w", None), ("units out of order", "30m1h", None), ("empty", "", None)]

SIZES = [("bytes", "1048576", 1 << 20), ("kibibytes", "100K", 100 << 10), ("mebibytes", "512M", 512 << 20),
         ("gibibytes lower case", "4g", 4 << 30), ("zero is not a size", "0", None), ("bad unit", "4T", None),
         ("fraction", "1.5G", None), ("empty", "", None)]


@pytest.mark.parametrize("text,size", [c[1:] for c in SIZES], ids=[c[0] for c in SIZES])
def test_sizes(text: str, size: int | None) -> None:
    from bot.config import parse_size

    assert parse_size(text) == size


LIMITS = [
    ("runner defaults", {}, {}, (4 << 30, 512, 3600.0, 10 << 30)),
    ("runner limits off", {"memory": "0", "processes": 0, "cpu_time": "off", "workspace_size": "0"}, {},
     (None, None, None, None)),
    ("job overrides", {}, {"memory": "1G", "processes": 64, "cpu_time": "10m", "workspace_size": "1G"},
     (1 << 30, 64, 600.0, 1 << 30)),
    ("job turns a limit off", {}, {"memory": "0", "processes": 0}, (None, None, 3600.0, 10 << 30)),
    ("job keeps the runner's", {"memory": "2G"}, {"cpu_time": "5m"}, (2 << 30, 512, 300.0, 10 << 30)),
]


@pytest.mark.parametrize("runner,job,expected", [c[1:] for c in LIMITS], ids=[c[0] for c in LIMITS])
def test_job_limits_merge_over_the_runners(runner: dict, job: dict, expected: tuple) -> None:
    from bot.ci.runner import merged_limits

    config = parse_config({"runner": runner, "jobs": [{"name": "unit", "run": "true", **job}]}, REGISTRY)
    limits = merged_limits(config.raw.runner.limits, config.raw.jobs[0].to_spec().limits)
    assert (limits.memory, limits.processes, limits.cpu_seconds, limits.workspace_bytes) == expected


@pytest.mark.parametrize("text,seconds", [c[1:] for c in DURATIONS], ids=[c[0] for c in DURATIONS])
def test_durations(text: str, seconds: float | None) -> None:
    from bot.config import parse_duration

    assert parse_duration(text) == seconds


def commented_out_block(key: str) -> dict:
    """config.yaml's commented-out ``key:`` section, uncommented and parsed."""
    lines = (ROOT / "config.yaml").read_text().splitlines()
    block = []
    for line in lines[lines.index(f"# {key}:"):]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    return yaml.safe_load("\n".join(block))


def test_documented_merge_block_is_the_default() -> None:
    """config.yaml shows the merge settings commented out; uncommented, they are the defaults."""
    data = commented_out_block("merge")
    from bot.config import MergeSettings

    assert parse_config(data, REGISTRY).raw.merge == MergeSettings()
    assert load_config(ROOT / "config.yaml", REGISTRY).raw.merge is None


WHO_PROBLEMS = [
    ("unknown rule name", {"commands": {"who": {"assign": "friends"}}}, "commands.who.assign: unknown rule 'friends'"),
    ("unknown command", {"commands": {"who": {"frobnicate": "anyone"}}}, "commands.who.frobnicate: unknown command"),
    ("unknown rule per repository", {"repos": [{"match": ["a/*"], "who": {"kind": "members"}}]},
     "repos[0].who.kind: unknown rule 'members'"),
    ("unknown command per repository", {"repos": [{"match": ["a/*"], "who": {"nope": "anyone"}}]},
     "repos[0].who.nope: unknown command"),
]


@pytest.mark.parametrize(("name", "data", "message"), WHO_PROBLEMS, ids=[w[0] for w in WHO_PROBLEMS])
def test_who_overrides_are_checked(name: str, data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, REGISTRY)
    assert message in str(err.value)


def test_who_override_per_repository_refines_the_global_one() -> None:
    from bot.permissions import ANYONE, COLLABORATORS, MAINTAINERS
    config = parse_config({"commands": {"who": {"assign": "collaborators", "kind": "maintainers"}},
                           "repos": [{"match": ["acme/*"], "who": {"assign": "anyone"}}]}, REGISTRY)
    here, elsewhere = config.for_repo("acme/widgets"), config.for_repo("other/x")
    assert here.rule_for("assign", COLLABORATORS) is ANYONE
    assert elsewhere.rule_for("assign", ANYONE) is COLLABORATORS
    assert here.rule_for("kind", ANYONE) is MAINTAINERS
    assert here.rule_for("lgtm", ANYONE) is ANYONE  # not configured: the command's own rule


def test_documented_alias_example_is_valid_and_complete() -> None:
    """config.yaml shows an alias with every key, commented out; uncommented, it is a valid config."""
    data = commented_out_block("aliases")
    config = parse_config(data, REGISTRY)
    (alias,) = config.raw.aliases
    documented = data["aliases"][0]
    assert set(documented) == set(alias.__dataclass_fields__)
    for section in ("who", "action"):
        assert set(documented[section]) == set(getattr(alias, section).__dataclass_fields__), section
