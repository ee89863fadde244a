"""How a plugin declares itself: its commands, who may use them, help, options and event handlers.

The dispatcher, ``/help``, the README's command table and permission checks are all derived from
these declarations, so they cannot disagree with the code.  A plugin module exposes one ``PLUGIN``
object; the registry (``plugins.REGISTRY``) is an explicit list, not an import side effect.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.events import Event, ItemKind

if TYPE_CHECKING:
    from bot.commands import Invocation
    from bot.context import Context

CommandHandler = Callable[["Context", "Invocation"], Awaitable[None]]
EventHandler = Callable[["Context"], Awaitable[None]]

BOTH_KINDS = frozenset({ItemKind.PULL, ItemKind.ISSUE})
PULLS_ONLY = frozenset({ItemKind.PULL})
ISSUES_ONLY = frozenset({ItemKind.ISSUE})


@dataclass(frozen=True)
class Rule:
    """Who may use a command.  ``check`` returns None when allowed, else the reason to tell the user
    (phrased to follow "you can't use /x: ")."""

    describe: str  # for /help and the README: "collaborators (GitLab: Developer or higher)"
    check: Callable[["Context", "Invocation"], Awaitable[str | None]]


@dataclass(frozen=True)
class Command:
    name: str  # without the slash, lower case
    handler: CommandHandler
    who: Rule
    help: str
    syntax: str = ""  # argument syntax shown after the name: "[cancel]", "@user ..."
    args: re.Pattern[str] = re.compile(r"")  # must fullmatch the arguments (case-insensitive)
    examples: tuple[str, ...] = ()
    on: frozenset[ItemKind] = BOTH_KINDS

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.syntax}".rstrip()

    def accepts(self, args: str) -> bool:
        return self.args.fullmatch(args) is not None


@dataclass(frozen=True)
class Subscription:
    """Run ``handler`` for events of these types (and, for ItemEvents, these actions)."""

    handler: EventHandler
    event_types: tuple[type[Event], ...]
    when: Callable[[Event], bool] = lambda event: True


@dataclass(frozen=True)
class Plugin:
    name: str
    description: str
    commands: tuple[Command, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    options: type[Any] | None = None  # a dataclass whose fields all have defaults
    # Enabled when the config names no plugins (plugins.enabled: null).  Plugins that act on every
    # PR/MR unasked (size, wip, welcome ...) are opt-in: they are named in plugins.enabled.
    default: bool = True
    # External plugins: the plugin API versions this works with (bot.api, e.g. ">=1,<2"); "": any.
    requires_api: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def commands_named(self, name: str) -> list[Command]:
        return [c for c in self.commands if c.name == name]


def arg_pattern(regex: str) -> re.Pattern[str]:
    """Argument patterns are matched case-insensitively, like command names."""
    return re.compile(regex, re.IGNORECASE)
