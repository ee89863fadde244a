"""How the layered forge client treats each ``ForgeClient`` method: one row per method.

A new forge method costs the interface (``bot.forge.base``), the adapters and one row here;
``AsyncForge`` is built from the interface, and tests/test_forge_client.py fails when a method has
no row.  The kinds:

- PINNED: the answer is fixed by a commit sha among the arguments (a file at a sha, the files a
  PR changes at a head sha): kept for good (bounded LRU), never asked again.
- CACHED: the answer changes rarely; reused for ``ttl`` seconds (None: for the process's life).
- READ: asked every time.  The HTTP transport still revalidates it (``If-None-Match``): an
  unchanged answer comes back as a free ``304``.
- WRITE: changes the forge.  Paced (one write token each), and retried after a failure only when
  ``retry_safe`` (repeating it cannot double its effect).
- LOCAL: no request at all; runs at once, synchronously.

``labels`` says how a read depends on an item's labels, for the label writes a worker's run of one
PR's events holds back (``bot.forge.deferral``): SHOWN answers show the item's labels (held changes
are laid over them), DEPENDS answers depend on them in a way that cannot be laid over (the item's
held changes are sent first), LISTS answers list items by their labels (every held change is sent
first).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any


class Labels(enum.Enum):
    NONE = "none"
    SHOWN = "shown"
    DEPENDS = "depends"
    LISTS = "lists"


class Kind(enum.Enum):
    PINNED = "pinned"
    CACHED = "cached"
    READ = "read"
    WRITE = "write"
    LOCAL = "local"


# The call's arguments by name (bound to the interface's signature, defaults applied) → the cache
# key, or None when this call cannot be answered from the cache.
KeyFn = Callable[[Mapping[str, Any]], Hashable | None]


@dataclass(frozen=True)
class Policy:
    kind: Kind
    ttl: float | None = None  # CACHED: seconds an answer is reused; None: for good
    retry_safe: bool = True  # WRITE: a repeat after a lost answer cannot double the effect
    key: KeyFn | None = None  # PINNED/CACHED: default: every argument
    # WRITE: the item this write changes, so that writes to one item keep their order (the
    # argument named "ref"), or None for writes to no item (statuses, redeliveries).
    item_arg: str | None = "ref"
    labels: Labels = Labels.NONE  # READ: how the answer depends on an item's labels (see above)


def _pinned_by_head(args: Mapping[str, Any]) -> Hashable | None:
    """The files a PR changes are fixed by its head sha, when the caller names it."""
    return (args["ref"], args["head_sha"]) if args.get("head_sha") else None


PINNED = Policy(Kind.PINNED)
READ = Policy(Kind.READ)
SHOWS_LABELS = Policy(Kind.READ, labels=Labels.SHOWN)
WRITE = Policy(Kind.WRITE)
NOT_REPEATABLE = Policy(Kind.WRITE, retry_safe=False)  # a repeat may double it: POSTs that create
LOCAL = Policy(Kind.LOCAL)

POLICIES: dict[str, Policy] = {
    "whoami": Policy(Kind.CACHED, ttl=None),  # the bot's login never changes under a running bot
    "get_item": SHOWS_LABELS,
    "repo_labels": Policy(Kind.CACHED, ttl=600),  # refreshed at once when a wanted label is missing
    "add_labels": WRITE,
    "remove_label": WRITE,
    "remove_labels": WRITE,
    "change_labels": WRITE,  # absolute (these labels in, those out): a repeat changes nothing
    "comment": NOT_REPEATABLE,  # retried only after checking that it was not saved (its marker)
    "edit_comment": WRITE,
    "list_comments": READ,
    "add_assignees": WRITE,
    "remove_assignees": WRITE,
    "request_review": WRITE,
    "remove_review_request": WRITE,
    "label_added_by": Policy(Kind.READ, labels=Labels.DEPENDS),
    "set_open": WRITE,
    "set_title": WRITE,
    "list_milestones": READ,
    "set_milestone": WRITE,  # sets a value: a repeat changes nothing
    "permission": READ,  # never cached: a revoked collaborator loses their commands at once
    "default_branch": Policy(Kind.CACHED, ttl=600),  # renaming it is rare; .prowlet.yaml follows within 10 minutes
    "branch_sha": READ,
    "read_file": PINNED,
    "changed_files": Policy(Kind.PINNED, key=_pinned_by_head),
    "list_reviews": READ,
    "comments_and_reviews": READ,
    "set_status": Policy(Kind.WRITE, item_arg=None),
    "list_statuses": READ,
    "is_org_member": READ,
    "is_team_member": READ,  # like org membership: a removed member loses the team's rights at once
    "same_tree": PINNED,  # two commit shas fix the answer
    "git_source": READ,  # at most one request (an App's installation token)
    "create_pull": Policy(Kind.WRITE, retry_safe=False, item_arg=None),  # the adapter looks for one first
    "list_open_pulls": Policy(Kind.READ, labels=Labels.LISTS),
    "mergeability": Policy(Kind.READ, labels=Labels.DEPENDS),  # its answer carries the labels
    "merge": NOT_REPEATABLE,  # the caller reads the PR again instead
    "pulls_by": READ,
    "open_issues_with_label": Policy(Kind.READ, labels=Labels.LISTS),
    "list_repos": READ,
    "hook_scopes": LOCAL,
    "find_hooks": READ,
    "hook_deliveries": READ,
    "redeliver": Policy(Kind.WRITE, retry_safe=False, item_arg=None),
    # A repeat would start a second run (a second deploy): never retried; callers guard with once().
    "dispatch_workflow": Policy(Kind.WRITE, retry_safe=False, item_arg=None),
    "start_pipeline": Policy(Kind.WRITE, retry_safe=False, item_arg=None),
}

# The forge's native CI (``bot.ci.native``: GitHub Actions re-runs, GitLab pipelines): not methods
# of the interface, but forge calls all the same, sent down the same layers by
# ``AsyncForge.native_ci``.  Re-running a workflow or starting a pipeline creates content, so each
# is a write: paced by the write budget, metered, and never repeated blindly (a second POST could
# re-run a workflow twice or start a second pipeline).
NATIVE_CI: dict[str, Policy] = {
    "native_ci_read": READ,  # what to re-run, what /test can name
    "native_ci_rerun": NOT_REPEATABLE,
}
