"""prowlet's plugin API, version ``API_VERSION``: everything a third-party plugin may import.

A plugin package declares a ``Plugin`` and names it in the ``prowlet.plugins`` entry point group::

    [project.entry-points."prowlet.plugins"]
    shrug = "prowlet_shrug:PLUGIN"

Only the names in ``__all__`` are the API.  Within a major version (1.x) they keep working:
new names and new optional arguments may be added, nothing is removed or changed incompatibly.
Anything else under ``bot.*`` or ``plugins.*`` may change in any release.  A plugin says which
versions it works with in ``Plugin(requires_api=">=1,<2")`` and is refused, with a message, by
a prowlet whose API does not match.

Handlers get a ``PluginContext``: the event, the plugin's options, a bound logger and narrow
helpers (the item, labels, comments, people, OWNERS, the change's files, commit statuses) —
not the forge client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.api_version import API_VERSION
from bot.commands import Invocation
from bot.events import (
    CIEvent,
    CommentEvent,
    Event,
    Item,
    ItemAction,
    ItemEvent,
    ItemKind,
    ItemRef,
    ReviewEvent,
    ReviewState,
)
from bot.forge.base import ChangedFile, ChangedFiles, Comment, CommitStatus, Permission, StatusState
from bot.owners import OwnersError, OwnersIndex
from bot.permissions import (
    ADMINS,
    ANYONE,
    AUTHOR,
    AUTHOR_OR_COLLABORATORS,
    COLLABORATORS,
    MAINTAINERS,
    ORG_MEMBERS,
)
from bot.plugin import BOTH_KINDS, ISSUES_ONLY, PULLS_ONLY, Command, Plugin, Rule, Subscription, arg_pattern
from plugins.approve import APPROVERS as OWNERS_APPROVERS
from plugins.lgtm import REVIEWERS as OWNERS_REVIEWERS


class PluginContext(Protocol):
    """What a handler (and a custom ``Rule``'s check) of an external plugin is given."""

    event: Event  # CommentEvent, ReviewEvent, ItemEvent or CIEvent
    options: Any  # an instance of the plugin's ``options`` dataclass (None without one)
    log: Any  # a structlog logger bound to the plugin and the event

    def noun(self) -> str: ...  # "PR", "MR" or "issue": for messages
    async def item(self, refresh: bool = False) -> Item: ...
    async def author(self) -> str: ...
    async def is_author(self, login: str) -> bool: ...
    async def repo_labels(self, wanted: Sequence[str] = ()) -> frozenset[str]: ...
    async def add_labels(self, labels: Sequence[str]) -> None: ...
    async def remove_labels(self, labels: Sequence[str]) -> None: ...
    async def set_label(self, label: str, wanted: bool) -> None: ...
    async def reply(self, inv: Invocation | None, message: str) -> None: ...  # once per event
    async def note(self, message: str) -> None: ...  # once per event
    async def comments(self) -> list[Comment]: ...
    async def permission(self, login: str) -> Permission: ...
    async def is_member(self, login: str) -> bool: ...  # organisation / top-level group member
    async def owners(self) -> OwnersIndex: ...  # raises OwnersError on a broken OWNERS file
    async def changed_files(self) -> ChangedFiles: ...
    async def changed_paths(self) -> list[str]: ...
    async def statuses(self) -> list[CommitStatus]: ...  # of the PR/MR's head
    async def once(self, what: str) -> bool: ...  # True the first time this event asks
    async def once_per_item(self, what: str) -> bool: ...  # True the first time on this PR/MR or issue


__all__ = [
    "API_VERSION",
    # declarations
    "Plugin", "Command", "Subscription", "Rule", "arg_pattern", "BOTH_KINDS", "PULLS_ONLY", "ISSUES_ONLY",
    # who may use a command
    "ANYONE", "AUTHOR", "COLLABORATORS", "AUTHOR_OR_COLLABORATORS", "ORG_MEMBERS", "MAINTAINERS", "ADMINS",
    "OWNERS_REVIEWERS", "OWNERS_APPROVERS",
    # what handlers get
    "PluginContext", "Invocation",
    "Event", "CommentEvent", "ReviewEvent", "ItemEvent", "CIEvent", "ItemAction", "ReviewState",
    "Item", "ItemRef", "ItemKind",
    "Permission", "Comment", "ChangedFile", "ChangedFiles", "CommitStatus", "StatusState", "OwnersIndex",
    "OwnersError",
]
