"""What a plugin handler gets: the event, its own options, a bound logger and narrow helpers.

One ``EventScope`` is shared by every plugin handling the same event, so a permission or the
item's current state is fetched at most once per event however many commands ask for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.commands import Invocation
from bot.events import Event, Item, ItemKind, order_key
from bot.forge.base import ChangedFiles, Comment, ForgeUnavailableError, Permission
from bot.forge.layered import AsyncForge
from bot.owners import OwnersIndex
from bot.owners_reader import OwnersReader, changed_paths
from bot.replies import has_marker, render_note, render_reply, with_marker

if TYPE_CHECKING:
    from bot.ci.services import CIServices
    from bot.config import RepoConfig
    from bot.inrepo.resolver import InRepoScope
    from bot.merge.controller import Explanation
    from bot.store.base import StateStore

ONCE_TTL = 7 * 86400  # as long as a delivery id is remembered
ITEM_ONCE_TTL = 180 * 86400  # longer than a PR/MR usually stays open
# Room left in a reply for the hidden marker post_comment appends (with_marker: ~40 characters).
_MARKER_ROOM = 100
COMMENT_ATTEMPTS = 3  # a reply that fails with a 5xx is posted again, after checking, twice at most


@dataclass
class EventScope:
    event: Event
    forge: AsyncForge
    repo_config: RepoConfig
    owners_reader: OwnersReader
    ci: CIServices
    attempt: int = 1  # more than 1: an earlier run of this event may have posted already
    state: StateStore | None = None
    invocations: Sequence[Invocation] = ()  # every command in the event's text, in order
    publish: Callable[[object], Awaitable[None]] | None = None  # the outcome bus (bot.outcomes)
    in_repo: InRepoScope | None = None  # the repository's .prowlet.yaml, where it is honoured (bot.inrepo)
    # The merge controller's read-only verdict (forge, repo, number); None: merge automation is off.
    explain_merge: Callable[[str, str, int], Awaitable[Explanation]] | None = None
    _item: Item | None = None
    _posted: int = 0
    _existing: list[Comment] | None = None
    _permissions: dict[str, Permission] = field(default_factory=dict)
    _changed: ChangedFiles | None = None
    _owners: OwnersIndex | None = None
    _branch_shas: dict[str, str] = field(default_factory=dict)

    async def item(self, refresh: bool = False) -> Item:
        if self._item is None or refresh:
            self._item = await self.forge.get_item(self.event.ref)
        return self._item

    async def permission(self, login: str) -> Permission:
        key = login.lower()
        if key not in self._permissions:
            self._permissions[key] = await self.forge.permission(self.event.repo, login)
        return self._permissions[key]

    async def branch_sha(self, branch: str) -> str:
        """A branch's head, read once per event (in-repo config and OWNERS both read the base's)."""
        if branch not in self._branch_shas:
            self._branch_shas[branch] = await self.forge.branch_sha(self.event.repo, branch)
        return self._branch_shas[branch]

    async def changed_files(self) -> ChangedFiles:
        if self._changed is None:
            item = await self.item()
            self._changed = await self.owners_reader.changed_files(self.forge, self.event.ref, item.head_sha)
        return self._changed

    async def post_comment(self, body: str) -> None:
        """Post a message of this event's handling exactly once, however often the event is handled.

        Each message carries a hidden marker (delivery, and its rank among this handling's messages:
        handlers are deterministic given the same forge state).  On a first attempt nothing can have
        been posted yet; on a retry the comments are read once and a marked message is not posted again."""
        self._posted += 1
        digest = hashlib.sha256(f"{self.event.forge}:{self.event.delivery_id}".encode()).hexdigest()[:16]
        marker = f"{digest}.{self._posted}"
        if self.attempt > 1:
            if self._existing is None:
                self._existing = await self.forge.list_comments(self.event.ref)
            if any(has_marker(c.body, marker) for c in self._existing):
                return
        for tries_left in reversed(range(COMMENT_ATTEMPTS)):
            try:
                await self.forge.comment(self.event.ref, with_marker(body, marker))
                return
            except ForgeUnavailableError:
                # The forge may have saved it before failing: post again only if it did not.
                if not tries_left:
                    raise
                self._existing = await self.forge.list_comments(self.event.ref)
                if any(has_marker(c.body, marker) for c in self._existing):
                    return

    async def once(self, what: str) -> bool:
        """True the first time this event's handling asks for ``what`` (however often the event runs):
        for effects a forge cannot make idempotent, such as starting a pipeline."""
        if self.state is None:
            return True
        key = f"{self.event.forge}:{self.event.delivery_id}:{what}"
        return await self.state.put_if_absent("once", key, True, ttl=ONCE_TTL)

    async def once_per_item(self, what: str, ttl: float = ITEM_ONCE_TTL) -> bool:
        """True the first time any event asks for ``what`` on this PR/MR or issue: for an effect
        that should happen once in an item's life, such as blunderbuss's requests after CI."""
        if self.state is None:
            return True
        return await self.state.put_if_absent("once-per-item", f"{order_key(self.event)}:{what}", True, ttl=ttl)

    async def owners(self) -> OwnersIndex:
        """OWNERS for the changed files, at the base branch's current head.  Raises OwnersError."""
        if self._owners is None:
            item = await self.item()
            base = item.base_ref or ""
            sha = await self.branch_sha(base)
            paths = changed_paths(await self.changed_files())
            self._owners = await self.owners_reader.index(self.forge, self.event.repo, sha, paths)
        return self._owners


class Context:
    def __init__(self, scope: EventScope, options: Any, log: Any) -> None:
        self._scope = scope
        self.event = scope.event
        self.forge = scope.forge
        self.options = options
        self.log = log
        self.repo_config = scope.repo_config
        self.owners_reader = scope.owners_reader
        self.ci = scope.ci

    @property
    def state(self) -> StateStore | None:
        """The durable state store, for work that outlives one event (an alias's pending result)."""
        return self._scope.state

    @property
    def invocations(self) -> Sequence[Invocation]:
        """Every command in the comment (or description) being handled, this plugin's or not."""
        return self._scope.invocations

    @property
    def in_repo(self) -> InRepoScope | None:
        """The repository's own .prowlet.yaml, where the operator honours it; else None."""
        return self._scope.in_repo

    @property
    def ref(self):  # noqa: ANN201 - ItemRef
        return self.event.ref

    def noun(self) -> str:
        if self.event.ref.kind is ItemKind.ISSUE:
            return "issue"
        return self.forge.capabilities.pull_noun

    async def item(self, refresh: bool = False) -> Item:
        return await self._scope.item(refresh)

    async def author(self) -> str:
        """The item's author: from the payload when it names them, else from the forge."""
        return self.event.item.author or (await self.item()).author or ""

    async def is_author(self, login: str) -> bool:
        return (await self.author()).lower() == login.lower()

    async def permission(self, login: str) -> Permission:
        return await self._scope.permission(login)

    async def changed_files(self) -> ChangedFiles:
        return await self._scope.changed_files()

    async def once(self, what: str) -> bool:
        return await self._scope.once(what)

    async def once_per_item(self, what: str) -> bool:
        return await self._scope.once_per_item(what)

    async def changed_paths(self) -> list[str]:
        return changed_paths(await self._scope.changed_files())

    async def owners(self) -> OwnersIndex:
        return await self._scope.owners()

    async def merge_explanation(self) -> Explanation | None:
        """Why this PR/MR is or is not merging, as merge automation sees it (reads only); None when
        merge automation is off."""
        explain = self._scope.explain_merge
        if explain is None:
            return None
        return await explain(self.event.forge, self.event.repo, self.ref.number)

    async def repo_labels(self, wanted: Sequence[str] = ()) -> frozenset[str]:
        """The repository's labels (cached by the client); asked afresh once if any ``wanted`` label
        seems missing, so a newly created label works at once."""
        labels = await self.forge.repo_labels(self.event.repo)
        if any(w not in labels for w in wanted):
            self.forge.forget("repo_labels", self.event.repo)
            labels = await self.forge.repo_labels(self.event.repo)
        return labels

    async def add_labels(self, labels: Sequence[str]) -> None:
        if labels:
            await self.forge.add_labels(self.ref, labels)

    async def remove_label(self, label: str) -> None:
        await self.forge.remove_label(self.ref, label)

    async def remove_labels(self, labels: Sequence[str]) -> None:
        if not labels:
            return
        if self.forge.capabilities.removes_labels_at_once:
            await self.forge.remove_labels(self.ref, labels)
            return
        for label in labels:  # one write each, so the write budget sees every one
            await self.forge.remove_label(self.ref, label)

    async def set_label(self, label: str, wanted: bool) -> None:
        """Add or remove ``label`` so that it is there exactly when ``wanted``; no call when it already is."""
        present = label in (await self.item()).labels
        if wanted and not present:
            await self.add_labels([label])
        elif present and not wanted:
            await self.remove_label(label)

    async def announce(self, kind: type, **details: Any) -> None:
        """Publish an outcome of this change (``HoldPlaced``, ``ApprovalComplete`` ...) on the outcome
        bus, for notifications: the change's forge, repository, number, link, author and labels are
        filled in, and the event's delivery id, so a retried event is not announced twice."""
        publish = self._scope.publish
        if publish is None:
            return
        item = self.event.item
        await publish(kind(forge=self.event.forge, repo=self.event.repo, number=self.ref.number,
                           url=item.url or "", author=item.author or "", labels=tuple(sorted(item.labels)),
                           event=self.event.delivery_id, **details))

    async def reply(self, inv: Invocation | None, message: str) -> None:
        """Answer the event's actor, quoting the command this answers."""
        url = getattr(self.event, "url", None)
        body = render_reply(self.event.actor, message, inv.line if inv else None, url,
                            limit=self.forge.capabilities.max_comment_chars - _MARKER_ROOM)
        await self._scope.post_comment(body)

    async def note(self, message: str) -> None:
        await self._scope.post_comment(render_note(message))

    async def status_comment(self, marker: str, text: str, comments: Sequence[Comment] | None = None,
                             bot: str | None = None) -> None:
        """Keep one bot comment that starts with ``marker`` saying ``text``: created once, then edited
        in place, and only when it changes (an edit costs a write).  ``text`` starts with ``marker``."""
        body = render_note(text)
        bot = bot or (await self.forge.whoami()).lower()
        if comments is None:
            comments = await self.forge.list_comments(self.ref)
        mine = next((c for c in comments if c.author.lower() == bot and c.body.startswith(marker)), None)
        if mine is None:
            await self.forge.comment(self.ref, body)
        elif mine.body != body:
            await self.forge.edit_comment(self.ref, mine.id, body)
