"""Help generated from the plugins' own declarations: the /help reply and the README table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.events import ItemKind
from bot.forge.drivers import DRIVERS

from bot.plugin import PULLS_ONLY, Plugin, Rule

# Commands some forge runs itself as quick actions (GitLab's) before prowlet sees a comment;
# prowlet's versions need the prefix there.
QUICK_ACTION_CLASHES: frozenset[str] = frozenset().union(*(d.quick_action_clashes for d in DRIVERS))
GITLAB_CLASHES = QUICK_ACTION_CLASHES  # its earlier name


def _forges_running(name: str | None = None) -> str:
    """The forges that run quick actions themselves (that clash with ``name``): "GitLab"."""
    return " / ".join(d.display_name for d in DRIVERS
                      if d.quick_action_clashes and (name is None or name in d.quick_action_clashes))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _usage(usage: str, name: str, prefix: str, mode: str) -> str:
    """``mode``: "readme" notes the prefixed form of commands that clash with a forge's quick
    actions; "quick-actions" shows only the form that works on such a forge; "plain" shows the
    command as is."""
    clash = bool(prefix) and name in QUICK_ACTION_CLASHES
    prefixed = f"`/{prefix}{usage[1:]}`"
    if mode == "quick-actions" and clash:
        return prefixed
    if mode == "readme" and clash:
        return f"`{usage}` ({_forges_running(name)}: {prefixed})"
    return f"`{usage}`"


def _where(on: frozenset) -> str:
    if on == PULLS_ONLY:
        return "PRs/MRs"
    return "issues" if ItemKind.PULL not in on else "PRs/MRs, issues"


def command_rows(plugins: Iterable[Plugin], prefix: str = "", mode: str = "plain",
                 who: Mapping[str, Rule] | None = None) -> list[str]:
    """One table row per declared command; ``who`` holds the rules configured for this repository."""
    who = who or {}
    rows = []
    for plugin in plugins:
        for cmd in plugin.commands:
            where = _where(cmd.on)
            rule = who.get(cmd.name, cmd.who)
            example = ", ".join(f"`{e}`" for e in cmd.examples)
            rows.append(
                f"| {_usage(cmd.usage, cmd.name, prefix, mode)} | {_cell(cmd.help)} | {_cell(rule.describe)} "
                f"| {where} | {example} | `{plugin.name}` |"
            )
    return rows


def help_entries(plugins: Iterable[Plugin], prefix: str = "") -> list[dict[str, str]]:
    """The same declarations as ``command_rows``, as fields for an HTML table (the dashboard)."""
    return [
        {"usage": _usage(cmd.usage, cmd.name, prefix, "readme").replace("`", ""), "help": cmd.help,
         "who": cmd.who.describe, "on": _where(cmd.on), "examples": ", ".join(cmd.examples), "plugin": plugin.name}
        for plugin in plugins for cmd in plugin.commands
    ]


TABLE_HEADER = ["| command | what it does | who may use it | on | example | plugin |", "|---|---|---|---|---|---|"]


def readme_table(plugins: Iterable[Plugin], prefix: str) -> str:
    return "\n".join(TABLE_HEADER + command_rows(plugins, prefix, "readme"))


def help_message(plugins: Iterable[Plugin], prefix: str, consumes_quick_actions: bool,
                 who: Mapping[str, Rule] | None = None) -> str:
    """The body of the /help reply for one repository (``who``: its configured rules)."""
    plugins = list(plugins)
    if not plugins:
        return "no prowlet commands are enabled in this repository."
    lines = ["these are the commands enabled in this repository:", "", *TABLE_HEADER]
    if consumes_quick_actions:
        lines += command_rows(plugins, prefix, "quick-actions", who)
        lines += [
            "",
            f"{_forges_running()} runs its own quick actions (such as `/assign`, `/label`, `/close`, `/cc`) before I see a comment, "
            f"so use the `{prefix}` forms shown for those; every command also works as `/{prefix}<name>`.",
        ]
    else:
        lines += command_rows(plugins, prefix, who=who)
    return "\n".join(lines)
