"""Aliases, the pure parts: formats, binding, value checks, templates and check-config's messages."""

from __future__ import annotations

import re

import pytest

from bot.aliases.template import (
    ArgumentError,
    FormatError,
    Param,
    bind,
    check_value,
    parse_format,
    placeholders,
    render,
)
from bot.config import parse_config
from bot.options import ConfigError
from plugins import REGISTRY

FORMATS = [
    ("empty", "", ()),
    ("one required", "{{env}}", (Param("env"),)),
    ("default", "{{env}} {{branch=HEAD}}", (Param("env"), Param("branch", "HEAD"))),
    ("spaces inside braces", "{{ env }} {{ branch = main }}", (Param("env"), Param("branch", "main"))),
    ("names are lower-cased", "{{Env}}", (Param("env"),)),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in FORMATS], ids=[c[0] for c in FORMATS])
def test_parse_format(text: str, expected: tuple) -> None:
    assert parse_format(text) == expected


BAD_FORMATS = [
    ("literal word", "to {{env}}", "'to' is not a parameter"),
    ("single braces", "{env}", "'{env}' is not a parameter"),
    ("unclosed", "{{env", "is not a parameter"),
    ("twice", "{{env}} {{env}}", "parameter 'env' appears twice"),
    ("required after optional", "{{branch=HEAD}} {{env}}", "required parameter 'env' follows one with a default"),
    ("unsafe default", "{{env=$(id)}}", "default of 'env' must be one plain word"),
    ("empty default", "{{env=}}", "default of 'env' must be one plain word"),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in BAD_FORMATS], ids=[c[0] for c in BAD_FORMATS])
def test_bad_format(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=re.escape(message)):
        parse_format(text)


DEPLOY = parse_format("{{env}} {{branch=HEAD}}")
BINDINGS = [
    ("default fills in", "staging", {"env": "staging", "branch": "HEAD"}),
    ("both given", "prod release-1.2", {"env": "prod", "branch": "release-1.2"}),
    ("extra whitespace", "  prod \t main ", {"env": "prod", "branch": "main"}),
]


@pytest.mark.parametrize("args,expected", [c[1:] for c in BINDINGS], ids=[c[0] for c in BINDINGS])
def test_bind(args: str, expected: dict) -> None:
    assert bind(DEPLOY, args) == expected


BAD_BINDINGS = [
    ("nothing given", "", "missing value for 'env'"),
    ("too many", "prod main extra", "too many values: expected at most 2, got 3"),
]


@pytest.mark.parametrize("args,message", [c[1:] for c in BAD_BINDINGS], ids=[c[0] for c in BAD_BINDINGS])
def test_bad_bind(args: str, message: str) -> None:
    with pytest.raises(ArgumentError, match=re.escape(message)):
        bind(DEPLOY, args)


ENVS = ["staging", "prod"]
VALUES = [
    # (value, allowed, regex, refusal or None)
    ("allowed value", "prod", ENVS, None, None),
    ("not allowed", "qa", ENVS, None, "'v' must be one of staging, prod"),
    ("regex matches whole", "release-1.2", [], r"release-\d+\.\d+", None),
    ("regex must match whole", "release-1.2x", [], r"release-\d+\.\d+", r"'v' must match release-\d+\.\d+"),
    ("branch with slash", "feature/x_y", [], None, None),
    ("shell separator", "prod;rm", [], None, "'v' must be one plain word"),
    ("rm -rf", "; rm -rf /", [], None, "'v' must be one plain word"),
    ("command substitution", "$(id)", [], None, "'v' must be one plain word"),
    ("backticks", "`id`", [], None, "'v' must be one plain word"),
    ("newline", "prod\nrm", [], None, "'v' must be one plain word"),
    ("option", "--force", [], None, "not starting with '-'"),
    ("short option", "-f", [], None, "not starting with '-'"),
    ("quote", "prod'", [], None, "'v' must be one plain word"),
    ("empty", "", [], None, "'v' must be one plain word"),
    ("too long", "a" * 201, [], None, "'v' must be one plain word"),
    ("allowed list cannot let injection through", "a;b", ["a;b"], None, "'v' must be one plain word"),
]


@pytest.mark.parametrize("value,allowed,regex,refusal", [c[1:] for c in VALUES], ids=[c[0] for c in VALUES])
def test_check_value(value: str, allowed: list, regex: str | None, refusal: str | None) -> None:
    pattern = re.compile(regex) if regex else None
    if refusal is None:
        check_value("v", value, allowed, pattern)
    else:
        with pytest.raises(ArgumentError, match=re.escape(refusal)):
            check_value("v", value, allowed, pattern)


RENDERS = [
    ("params", "Deploying {{branch}} to {{env}}…", {"env": "prod", "branch": "main"}, "Deploying main to prod…"),
    ("spaces and case", "{{ ENV }}", {"env": "prod"}, "prod"),
    ("unknown is empty", "{{status}}: {{url}}", {"status": "success"}, "success: "),
    ("no format specs or attributes", "{env.__class__} {{env!r}}", {"env": "x"}, "{env.__class__} {{env!r}}"),
    ("values are not templates again", "{{a}}", {"a": "{{b}}", "b": "no"}, "{{b}}"),
]


@pytest.mark.parametrize("template,values,expected", [c[1:] for c in RENDERS], ids=[c[0] for c in RENDERS])
def test_render(template: str, values: dict, expected: str) -> None:
    assert render(template, values) == expected


def test_placeholders() -> None:
    assert placeholders("{{a}} and {{ B }} and {c}") == ["a", "b"]


def alias(**changes: object) -> dict:
    base = {"command": "deploy", "format": "{{env}} {{branch=HEAD}}",
            "action": {"workflow": "deploy.yml", "inputs": {"environment": "{{env}}"}, "ref": "{{branch}}"},
            "ack": "Deploying {{branch}} to {{env}}", "result": "{{status}}: {{url}}"}
    return {**base, **changes}


GOOD = [
    ("workflow", alias()),
    ("pipeline", alias(action={"pipeline": True, "variables": {"ENV": "{{env}}"}})),
    ("both forges", alias(action={"workflow": "d.yml", "pipeline": True})),
    ("http", alias(action={"url_env": "DEPLOY_URL", "secret_env": "DEPLOY_SECRET", "payload": {"e": "{{env}}"}})),
    ("no parameters", alias(format="", ack="", action={"pipeline": True})),
    ("who and protect", alias(who={"owners": "approvers", "teams": ["release"], "rule": "maintainers"},
                              protect={"prod": {"branches": ["main"], "not_held": True}})),
]


@pytest.mark.parametrize("data", [c[1] for c in GOOD], ids=[c[0] for c in GOOD])
def test_good_aliases(data: dict) -> None:
    config = parse_config({"aliases": [data]}, REGISTRY)
    assert [c.name for c in config.for_repo("a/b").plugins[-1].commands] == [data["command"]]


BAD = [
    ("format syntax", alias(format="to {{env}}"), "aliases[0].format: 'to' is not a parameter"),
    ("template names unknown parameter", alias(ack="Deploying {{version}}"),
     "aliases[0].ack: {{version}} is not a parameter of the format"),
    ("action names unknown parameter", alias(action={"workflow": "d.yml", "inputs": {"v": "{{version}}"}}),
     "aliases[0].action.inputs.v: {{version}} is not a parameter"),
    ("status only in result", alias(ack="{{status}}"), "aliases[0].ack: {{status}} is not a parameter"),
    ("params of no parameter", alias(params={"region": {"allowed": ["eu"]}}),
     "aliases[0].params.region: not a parameter of the format"),
    ("bad param regex", alias(params={"env": {"regex": "[a-"}}), "aliases[0].params.env.regex: bad regular expression"),
    ("clash with built-in", alias(command="lgtm"), "aliases[0].command: /lgtm is a built-in command"),
    ("clash with each other", None, "aliases[1].command: /deploy is also aliases[0]"),
    ("bad name", alias(command="Deploy!"), "aliases[0].command: must be a lower-case word"),
    ("unknown who rule", alias(who={"rule": "friends"}), "aliases[0].who.rule: unknown rule 'friends'"),
    ("unknown owners role", alias(who={"owners": "everyone"}), "aliases[0].who.owners: must be one of approvers, reviewers"),
    ("unknown who key", alias(who={"group": ["x"]}), "aliases[0].who.group: unknown key"),
    ("no action", alias(action={}), "aliases[0].action.job: give a job, or a workflow and/or pipeline: true, or an HTTP call"),
    ("two kinds of action", alias(action={"workflow": "d.yml", "url_env": "U", "secret_env": "S"}),
     "exactly one kind"),
    ("unsigned http", alias(action={"url_env": "DEPLOY_URL"}), "aliases[0].action.secret_env: an HTTP call is always signed"),
    ("inputs without workflow", alias(action={"pipeline": True, "inputs": {"a": "b"}}),
     "aliases[0].action.inputs: inputs are for a workflow"),
    ("variables without pipeline", alias(action={"workflow": "d.yml", "variables": {"a": "b"}}),
     "aliases[0].action.variables: variables are for a pipeline"),
    ("bad url variable", alias(action={"url_env": "a-b", "secret_env": "S"}), "aliases[0].action.url_env: not an environment variable name"),
]


@pytest.mark.parametrize("data,message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_aliases(data: dict | None, message: str) -> None:
    aliases = [data] if data is not None else [alias(), alias()]
    with pytest.raises(ConfigError) as err:
        parse_config({"aliases": aliases}, REGISTRY)
    assert message in str(err.value), str(err.value)


def test_commands_who_may_name_an_alias() -> None:
    config = parse_config({"aliases": [alias()], "commands": {"who": {"deploy": "maintainers"}}}, REGISTRY)
    assert config.for_repo("a/b").who["deploy"].describe.startswith("maintainers")


def test_aliases_apply_to_their_repositories_only() -> None:
    config = parse_config({"aliases": [alias(repos=["acme/*"])]}, REGISTRY)
    assert config.for_repo("acme/widgets").plugins[-1].name == "aliases"
    assert all(p.name != "aliases" for p in config.for_repo("other/x").plugins)


def test_help_row_comes_from_the_alias() -> None:
    from bot.help import readme_table

    config = parse_config({"aliases": [alias(help="Deploys a branch.", params={"env": {"allowed": ["staging"]}},
                                             who={"teams": ["release"]})]}, REGISTRY)
    row = readme_table(config.alias_plugins(), "prow-").splitlines()[-1]
    assert row == ("| `/deploy <env> [branch=HEAD]` | Deploys a branch. | members of team release | PRs/MRs "
                   "| `/deploy staging` | `aliases` |")


def test_readme_example_is_a_valid_config() -> None:
    from pathlib import Path

    import yaml

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Aliases"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    config = parse_config(yaml.safe_load(block.group(1)), REGISTRY)
    assert [a.command for a in config.raw.aliases] == ["deploy"]


def test_commands_cli_lists_the_aliases_of_a_config(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    import yaml

    from bot.cli import main

    path = tmp_path / "prowlet.yaml"
    path.write_text(yaml.safe_dump({"aliases": [alias(help="Deploys.")]}))
    assert main(["commands", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| `/deploy <env> [branch=HEAD]` | Deploys. |" in out and "| `/lgtm [no-issue]` |" in out
    assert main(["commands"]) == 0
    assert "/deploy" not in capsys.readouterr().out
