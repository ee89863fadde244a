"""Third-party plugins: entry points in ``prowlet.plugins``, the versioned ``bot.api`` and its narrow context.

Failure cases use a temporary fake distribution (a dist-info directory with entry_points.txt on
sys.path, found by the real importlib.metadata); the example package under
examples/prowlet-plugin-example is the real thing, installed by .ci/run.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import textwrap
from importlib.metadata import entry_points
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import bot.api
from bot import cli
from bot.api_version import API_VERSION, BadSpecifier, api_mismatch
from bot.config import Config, parse_config
from bot.plugin_context import NarrowContext
from bot.plugin_loader import GROUP, Loaded, load_plugins
from plugins import REGISTRY
from tests.conftest import COLLAB, OUTSIDER, REPO, Bot, typed

FAKE_DIST = "prowlet-fake-plugins"
EXAMPLE_DIST = "prowlet-plugin-example"

# ---- the plugin API version ----------------------------------------------------------------------

VERSION_CASES = [
    ("empty accepts any", "", "1.0", True),
    ("major range", ">=1,<2", "1.0", True),
    ("major range, later minor", ">=1,<2", "1.7", True),
    ("major range refuses 2.0", ">=1,<2", "2.0", False),
    ("needs a newer minor", ">=1.1", "1.0", False),
    ("spaces are fine", " >= 1.0 , < 2 ", "1.3", True),
    ("exact", "==1.0", "1.0", True),
    ("exact with short form", "==1", "1.0", True),
    ("not equal", "!=1.0", "1.0", False),
    ("compatible release", "~=1.0", "1.9", True),
    ("compatible release refuses next major", "~=1.0", "2.0", False),
    ("compatible release with patch", "~=1.2.0", "1.3", False),
    ("strictly greater", ">1", "1.0", False),
    ("less or equal", "<=1.0", "1.0", True),
]


@pytest.mark.parametrize(("spec", "version", "ok"), [c[1:] for c in VERSION_CASES],
                         ids=[c[0] for c in VERSION_CASES])
def test_api_version_specifiers(spec: str, version: str, ok: bool) -> None:
    mismatch = api_mismatch(spec, version)
    assert (mismatch is None) is ok
    if not ok:
        assert spec in mismatch and version in mismatch


BAD_SPECS = [("no operator", "1.0"), ("words", ">=one"), ("dangling comma", ">=1,"), ("tilde needs two parts", "~=1")]


@pytest.mark.parametrize("spec", [c[1] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_unreadable_specifiers_are_refused_clearly(spec: str) -> None:
    with pytest.raises(BadSpecifier, match="cannot read"):
        api_mismatch(spec)


def test_api_version_is_one_dot_zero() -> None:
    assert bot.api.API_VERSION == API_VERSION == "1.0"


# ---- the narrow context ----------------------------------------------------------------------------

def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_narrow_context_offers_exactly_the_protocol() -> None:
    protocol = {n for n in vars(bot.api.PluginContext) if not n.startswith("_")} | set(
        bot.api.PluginContext.__annotations__)
    assert _public(NarrowContext) | {"event", "options", "log"} == protocol
    assert "forge" not in protocol and "repo_config" not in protocol and "ci" not in protocol


def test_api_exports_only_what_it_lists() -> None:
    for name in bot.api.__all__:
        assert hasattr(bot.api, name), name
    assert {"Plugin", "Command", "Rule", "PluginContext", "API_VERSION", "OWNERS_APPROVERS"} <= set(bot.api.__all__)


# ---- a fake distribution with good and bad entry points ------------------------------------------

MODULES = {
    "fakeplug_good": '''
        from dataclasses import dataclass
        from bot.api import ANYONE, Command, CommentEvent, Permission, Plugin, Rule, Subscription

        @dataclass(frozen=True)
        class WaveOptions:
            label: str = "needs-docs"

        async def wave(ctx, inv):
            await ctx.add_labels([ctx.options.label])
            await ctx.reply(inv, f"waves back; forge client visible: {hasattr(ctx, 'forge')}")

        async def collaborators_only(ctx, inv):
            # A plugin's own rule gets the narrow context too.
            if hasattr(ctx, "forge"):
                return "the rule saw the forge client"
            if await ctx.permission(ctx.event.actor) >= Permission.WRITE:
                return None
            return "only people who can push may wave twice."

        async def pong(ctx):
            await ctx.note(f"pong; forge client visible: {hasattr(ctx, 'forge')}")

        PLUGIN = Plugin(
            name="wave", description="Waves.", options=WaveOptions, requires_api=">=1,<2",
            subscriptions=(Subscription(pong, (CommentEvent,), when=lambda event: event.body == "ping"),),
            commands=(
                Command("wave", wave, ANYONE, "Adds a label and waves.", examples=("/wave",)),
                Command("wave-twice", wave, Rule("people who can push", collaborators_only), "Waves twice."),
            ),
        )
        NOT_A_PLUGIN = {"name": "dict"}
    ''',
    "fakeplug_broken": '''
        import no_such_module_anywhere  # noqa: F401
    ''',
    "fakeplug_clash": '''
        from bot.api import ANYONE, Command, Plugin

        async def noop(ctx, inv):
            pass

        NAMED_LGTM = Plugin(name="lgtm", description="Takes a built-in plugin's name.")
        TAKES_HOLD = Plugin(name="holder", description="Takes /hold.",
                            commands=(Command("hold", noop, ANYONE, "Holds."),))
        FUTURE = Plugin(name="future", description="Needs API 2.", requires_api=">=2,<3")
        GARBLED = Plugin(name="garbled", description="Unreadable requirement.", requires_api="version one")
        BAD_RULE = Plugin(name="badrule", description="Not a Rule.",
                          commands=(Command("badrule", noop, "anyone", "Bad."),))
    ''',
}

ENTRY_POINTS = {
    "wave": "fakeplug_good:PLUGIN",
    "wave-again": "fakeplug_good:PLUGIN",
    "broken": "fakeplug_broken:PLUGIN",
    "missing-attr": "fakeplug_good:NO_SUCH_NAME",
    "not-a-plugin": "fakeplug_good:NOT_A_PLUGIN",
    "named-lgtm": "fakeplug_clash:NAMED_LGTM",
    "takes-hold": "fakeplug_clash:TAKES_HOLD",
    "future": "fakeplug_clash:FUTURE",
    "garbled": "fakeplug_clash:GARBLED",
    "bad-rule": "fakeplug_clash:BAD_RULE",
}

REFUSED = [
    ("broken import", "broken", "cannot be imported: ModuleNotFoundError"),
    ("missing attribute", "missing-attr", "cannot be imported: AttributeError"),
    ("not a Plugin", "not-a-plugin", "not a bot.api.Plugin"),
    ("built-in plugin name", "named-lgtm", "plugin name 'lgtm' is already used by the built-in plugin"),
    ("built-in command", "takes-hold", "command /hold is already declared by the built-in plugin 'hold'"),
    ("another plugin's name", "wave-again", "plugin name 'wave' is already used by the plugin 'wave' from"),
    ("incompatible API version", "future", f"requires plugin API >=2,<3, and this prowlet provides {API_VERSION}"),
    ("unreadable API requirement", "garbled", "requires_api is unreadable"),
    ("malformed declarations", "bad-rule", "declarations are malformed"),
]


def _fake_distribution(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for module, source in MODULES.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / "prowlet_fake_plugins-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {FAKE_DIST}\nVersion: 0.3\n")
    lines = "".join(f"{name} = {target}\n" for name, target in ENTRY_POINTS.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}")
    return root


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = _fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for module in MODULES:  # the next test imports them afresh from its own directory
        sys.modules.pop(module, None)


@pytest.fixture
def loaded(fake_dist: Path) -> Loaded:
    return load_plugins(REGISTRY)


def _problem(loaded: Loaded, entry_point: str) -> str:
    found = [str(p) for p in loaded.problems if p.entry_point.startswith(f"{entry_point} = ")]
    assert len(found) == 1, [str(p) for p in loaded.problems]
    return found[0]


@pytest.mark.parametrize(("entry_point", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_entry_point_is_refused_with_one_line_naming_it(loaded: Loaded, entry_point: str, reason: str) -> None:
    line = _problem(loaded, entry_point)
    assert f"plugin entry point '{entry_point} = {ENTRY_POINTS[entry_point]}'" in line
    assert f"from {FAKE_DIST} 0.3" in line
    assert reason in line
    assert "\n" not in line


def test_the_good_plugin_loads_beside_the_bad_ones(loaded: Loaded) -> None:
    names = [p.name for p in loaded.plugins]
    assert names.count("wave") == 1
    assert {"lgtm", "holder", "future", "garbled", "badrule"}.isdisjoint(names)
    assert len([p for p in loaded.problems if FAKE_DIST in p.distribution]) == len(REFUSED)


def test_check_config_reports_each_refused_plugin_and_fails(fake_dist: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "prowlet.yaml"
    config.write_text(json.dumps({"plugins": {"enabled": ["lgtm", "wave"], "options": {"wave": {"label": "x"}}}}))
    assert cli.main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    for _, entry_point, reason in REFUSED:
        line = next(line for line in err.splitlines() if f"'{entry_point} = " in line)
        assert line.startswith("plugin not loaded: ") and reason in line
    assert "could not be loaded" in err
    assert "unknown" not in err  # `wave` and its options were accepted


def test_start_up_logs_each_refused_plugin_once(fake_dist: Path) -> None:
    registry, problems = cli._plugins()
    with capture_logs() as logs:
        cli._log_plugin_problems(problems)
    ours = [entry["event"] for entry in logs if FAKE_DIST in entry["event"]]
    assert len(ours) == len(REFUSED)
    assert all(entry.startswith("plugin not loaded: plugin entry point") for entry in ours)
    assert "wave" in [p.name for p in registry]


# ---- end to end: a signed webhook in, the effect on the fake forge ----------------------------------

def _example_installed() -> bool:
    return any(ep.dist is not None and ep.dist.metadata["Name"] == EXAMPLE_DIST for ep in entry_points(group=GROUP))


@pytest.fixture
def example() -> None:
    """The example package must be installed (.ci/run does it); in CI its absence is a failure."""
    if _example_installed():
        return
    why = f"{EXAMPLE_DIST} is not installed: pip install ./examples/prowlet-plugin-example"
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture
def config(loaded: Loaded) -> Config:
    data: dict[str, Any] = {
        "intake": {"repair_interval": "0"},
        "plugins": {"enabled": ["help", "lgtm", "hold", "wave", *(["shrug"] if _example_installed() else [])],
                    "options": {"wave": {"label": "area/api"}}},
    }
    return parse_config(data, [*REGISTRY, *loaded.plugins])


async def test_an_external_plugin_acts_beside_broken_ones_through_a_narrow_context(bot: Bot) -> None:
    number, _ = bot.fake.open_pull(REPO, OUTSIDER)
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/wave"))
    assert bot.fake.labels(REPO, number) == {"area/api"}
    assert "waves back; forge client visible: False" in bot.bot_comments(number)[-1]


async def test_an_external_plugins_subscription_gets_the_narrow_context(bot: Bot) -> None:
    number, _ = bot.fake.open_pull(REPO, OUTSIDER)
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "ping"))
    assert "pong; forge client visible: False" in bot.bot_comments(number)[-1]


@pytest.mark.parametrize(("who", "allowed"), [(COLLAB, True), (OUTSIDER, False)], ids=["collaborator", "outsider"])
async def test_an_external_plugins_own_rule_is_enforced_with_the_narrow_context(bot: Bot, who: str,
                                                                               allowed: bool) -> None:
    number, _ = bot.fake.open_pull(REPO, OUTSIDER)
    await bot.deliver(bot.fake.comment(REPO, number, who, "/wave-twice"))
    last = bot.bot_comments(number)[-1]
    if allowed:
        assert bot.fake.labels(REPO, number) == {"area/api"} and "forge client visible: False" in last
    else:
        assert bot.fake.labels(REPO, number) == set()
        assert "only people who can push may wave twice." in last


async def test_the_example_plugin_shrugs_on_a_pull(bot: Bot, example: None) -> None:
    number, _ = bot.fake.open_pull(REPO, OUTSIDER)
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/shrug"))
    assert "shrug" in bot.fake.labels(REPO, number)
    assert "(ツ)" in bot.bot_comments(number)[-1]
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/unshrug"))  # the author may
    assert "shrug" not in bot.fake.labels(REPO, number)


async def test_the_example_plugin_refuses_unshrug_to_an_outsider_on_an_issue(bot: Bot, example: None) -> None:
    number, _ = bot.fake.open_issue(REPO, COLLAB)
    await bot.deliver(bot.fake.comment(REPO, number, COLLAB, "/shrug"))
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, "/unshrug"))
    assert "shrug" in bot.fake.labels(REPO, number)
    assert "you can't use `/unshrug`" in bot.bot_comments(number)[-1]


async def test_help_lists_the_example_plugins_commands(bot: Bot, example: None) -> None:
    number, _ = bot.fake.open_pull(REPO, OUTSIDER)
    await bot.deliver(bot.fake.comment(REPO, number, OUTSIDER, typed(bot.fake.name, "/help")))
    table = bot.bot_comments(number)[-1]
    assert "/shrug" in table and "/unshrug" in table and "/wave" in table


def test_prowlet_commands_lists_the_example(example: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["commands"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "`shrug`" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["`/shrug`", "`/unshrug`"]


def test_the_example_declares_a_compatible_api_and_options(example: None) -> None:
    import prowlet_shrug

    assert api_mismatch(prowlet_shrug.PLUGIN.requires_api) is None
    assert inspect.isclass(prowlet_shrug.PLUGIN.options)
