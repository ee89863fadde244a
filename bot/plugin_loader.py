"""Third-party plugins: ``Plugin`` objects named by entry points in the ``prowlet.plugins`` group.

Loaded once at start-up after the built-in registry.  Each entry point is judged on its own: one
that cannot be imported, names something that is not a ``Plugin``, needs another plugin API
version, or takes a name already used is refused with one line saying why (naming the entry
point and its distribution), and the others load.  Accepted plugins are wrapped so that their
handlers (and their own permission checks) get the narrow ``bot.api.PluginContext``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from bot.api_version import API_VERSION, BadSpecifier, api_mismatch
from bot.options import build
from bot.permissions import RULES
from bot.plugin import Command, Plugin, Rule, Subscription
from bot.plugin_context import NarrowContext

GROUP = "prowlet.plugins"


@dataclass(frozen=True)
class LoadProblem:
    entry_point: str  # "shrug = prowlet_shrug:PLUGIN"
    distribution: str  # "prowlet-plugin-example 0.1.0"
    reason: str

    def __str__(self) -> str:
        return f"plugin entry point {self.entry_point!r} from {self.distribution}: {self.reason}"


@dataclass
class Loaded:
    plugins: list[Plugin] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def _why_not(obj: object, taken_plugins: dict[str, str], taken_commands: dict[str, str]) -> str | None:
    if not isinstance(obj, Plugin):
        return f"it names {type(obj).__name__} {obj!r:.60}, not a bot.api.Plugin"
    try:
        mismatch = api_mismatch(obj.requires_api)
    except BadSpecifier as err:
        return f"its requires_api is unreadable: {err}"
    if mismatch:
        return mismatch
    if obj.name in taken_plugins:
        return f"its plugin name {obj.name!r} is already used by {taken_plugins[obj.name]}"
    for cmd in obj.commands:
        if taken_commands.get(cmd.name, obj.name) != obj.name:
            return f"its command /{cmd.name} is already declared by {taken_commands[cmd.name]}"
    if obj.options is not None:
        try:
            build(obj.options, {})
        except Exception as err:  # noqa: BLE001 - any failure here means the options type is unusable
            return f"its options type cannot be built from defaults: {err}"
    return None


def load_plugins(builtin: Sequence[Plugin], found: Iterable[EntryPoint] | None = None) -> Loaded:
    """The external plugins found in the ``prowlet.plugins`` group (or ``found``), and why any were
    refused.  Never raises for a bad plugin."""
    eps = sorted(entry_points(group=GROUP) if found is None else found,
                 key=lambda ep: (_distribution(ep), ep.name))
    taken_plugins = {p.name: "the built-in plugin" for p in builtin}
    taken_commands = {c.name: f"the built-in plugin {p.name!r}" for p in builtin for c in p.commands}
    loaded = Loaded()
    for ep in eps:
        where = _distribution(ep)
        try:
            obj = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin must never stop the bot
            loaded.problems.append(LoadProblem(f"{ep.name} = {ep.value}", where,
                                               f"cannot be imported: {type(err).__name__}: {err}"))
            continue
        reason = _why_not(obj, taken_plugins, taken_commands)
        if reason:
            loaded.problems.append(LoadProblem(f"{ep.name} = {ep.value}", where, reason))
            continue
        try:
            plugin = narrowed(obj)
        except Exception as err:  # noqa: BLE001 - e.g. a command declared with something else than a Rule
            loaded.problems.append(LoadProblem(f"{ep.name} = {ep.value}", where,
                                               f"its declarations are malformed: {type(err).__name__}: {err}"))
            continue
        taken_plugins[obj.name] = f"the plugin {obj.name!r} from {where}"
        for cmd in obj.commands:
            taken_commands[cmd.name] = f"the plugin {obj.name!r} from {where}"
        loaded.plugins.append(plugin)
    return loaded


# Rules the framework provides take the full context; a plugin's own rules get the narrow one.
def _framework_rules() -> set[Rule]:
    from plugins.approve import APPROVERS
    from plugins.lgtm import REVIEWERS

    return {*RULES.values(), APPROVERS, REVIEWERS}


def _narrow(fn):  # noqa: ANN001, ANN202
    @functools.wraps(fn)
    async def call(ctx, *args):  # noqa: ANN001, ANN002, ANN202
        return await fn(NarrowContext(ctx), *args)

    return call


def narrowed(plugin: Plugin) -> Plugin:
    """``plugin`` with every handler and own permission check given a ``NarrowContext``."""
    framework = _framework_rules()

    def command(cmd: Command) -> Command:
        who = cmd.who if cmd.who in framework else Rule(cmd.who.describe, _narrow(cmd.who.check))
        return dataclasses.replace(cmd, handler=_narrow(cmd.handler), who=who)

    def subscription(sub: Subscription) -> Subscription:
        return dataclasses.replace(sub, handler=_narrow(sub.handler))

    return dataclasses.replace(plugin, commands=tuple(command(c) for c in plugin.commands),
                               subscriptions=tuple(subscription(s) for s in plugin.subscriptions),
                               extra={**plugin.extra, "external": True})


__all__ = ["API_VERSION", "GROUP", "LoadProblem", "Loaded", "load_plugins", "narrowed"]
