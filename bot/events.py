"""The forge-neutral event model.

Translators (one per forge, under ``bot.forge.<name>.translate``) are the only code that reads raw
webhook payloads; everything after them sees these small frozen dataclasses.  A field that a forge's
payload does not carry is ``None`` (for instance a GitLab Note Hook names the MR author only by id);
plugins that need it read the current item through the forge client instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ItemKind(enum.Enum):
    """What a comment or event is about: a pull/merge request or an issue."""

    PULL = "pull"
    ISSUE = "issue"


@dataclass(frozen=True)
class ItemRef:
    """Names one PR/MR or issue.  ``number`` is GitHub's number or GitLab's iid.

    ``repo`` is ``owner/name`` on GitHub and the full namespace path on GitLab
    (``group/subgroup/project``).
    """

    repo: str
    number: int
    kind: ItemKind

    def __str__(self) -> str:
        sigil = "!" if self.kind is ItemKind.PULL else "#"
        return f"{self.repo}{sigil}{self.number}"


@dataclass(frozen=True)
class Item:
    """A PR/MR or issue as a payload or the forge API described it at one moment."""

    ref: ItemRef
    author: str | None = None
    title: str = ""
    body: str = ""
    state: str = "open"  # "open" | "closed" | "merged"
    draft: bool = False
    labels: frozenset[str] = frozenset()
    assignees: frozenset[str] = frozenset()
    head_sha: str | None = None  # PRs/MRs only
    base_ref: str | None = None  # PRs/MRs only
    head_ref: str | None = None  # PRs/MRs only, when the forge's answer names it: the source branch
    url: str | None = None

    @property
    def is_pull(self) -> bool:
        return self.ref.kind is ItemKind.PULL


@dataclass(frozen=True)
class Event:
    """Common to every event: where it came from and who caused it."""

    delivery_id: str
    forge: str  # its driver's name (bot.forge.drivers): "github", "gitlab"
    actor: str  # login/username of the account that caused the event
    item: Item

    @property
    def ref(self) -> ItemRef:
        return self.item.ref

    @property
    def repo(self) -> str:
        return self.item.ref.repo


@dataclass(frozen=True)
class CommentEvent(Event):
    """A new comment on a PR/MR or issue: a conversation comment, an inline review comment or a
    GitLab note.  Only newly created comments are translated; edits and deletions are ignored."""

    body: str = ""
    comment_id: int | None = None
    url: str | None = None


class ReviewState(enum.Enum):
    APPROVED = "approved"  # GitHub review "Approve"; GitLab native approval
    CHANGES_REQUESTED = "changes_requested"
    COMMENTED = "commented"
    DISMISSED = "dismissed"
    UNAPPROVED = "unapproved"  # GitLab native unapproval


@dataclass(frozen=True)
class ReviewEvent(Event):
    """A submitted review (GitHub) or a native approval/unapproval (GitLab).  A review's body may
    hold commands just like a comment."""

    state: ReviewState = ReviewState.COMMENTED
    body: str = ""
    url: str | None = None


class ItemAction(enum.Enum):
    OPENED = "opened"
    REOPENED = "reopened"
    NEW_COMMITS = "new_commits"  # GitHub "synchronize"; GitLab MR update with oldrev
    EDITED = "edited"
    LABELED = "labeled"
    UNLABELED = "unlabeled"
    CLOSED = "closed"
    MERGED = "merged"
    READY_FOR_REVIEW = "ready_for_review"
    CONVERTED_TO_DRAFT = "converted_to_draft"


@dataclass(frozen=True)
class ItemEvent(Event):
    """Something happened to a PR/MR or issue itself."""

    action: ItemAction = ItemAction.EDITED
    labels_changed: frozenset[str] = field(default_factory=frozenset)  # for LABELED / UNLABELED
    base_changed: bool = False  # EDITED: the PR/MR now targets another branch (Prow re-runs its jobs)
    before_sha: str | None = None  # NEW_COMMITS: the head before the push (GitHub ``before``, GitLab ``oldrev``)


@dataclass(frozen=True)
class CIEvent(Event):
    """CI finished on a PR/MR head: a GitHub check suite or workflow run, a GitLab MR pipeline.
    Merge automation takes it as the cue to look at the repository again; the item carries only
    its reference (and head sha) as the payload gives them."""

    conclusion: str = ""  # the forge's word: success, failure, failed, canceled ...


@dataclass(frozen=True)
class CommitCIEvent(Event):
    """CI reported on a commit without naming a PR/MR: a GitHub commit status (external CI, other
    replicas' jobs), a check suite or check run of a fork's PR (GitHub lists no PR for those), a
    GitLab branch pipeline (external statuses run in one).  ``item`` carries the repository and the
    sha only: its number is 0 (``NO_NUMBER``).  Merge automation maps the sha to the PR whose head
    it is, from its last pass, and looks at that repository again at once."""

    context: str = ""  # the status's context or the check's name ("" for a suite or pipeline)
    state: str = ""  # the forge's word: pending, success, failure, completed ...

    @property
    def sha(self) -> str:
        return self.item.head_sha or ""


NO_NUMBER = 0  # CommitCIEvent: the PR is not named by the payload


@dataclass(frozen=True)
class RunFinished(Event):
    """A CI run not tied to a PR/MR finished: a GitHub Actions run started by ``workflow_dispatch``,
    a GitLab pipeline with no merge request (such as one started through the API).  Config-defined
    commands report their results from it.  It belongs to a branch, not an item: its item names
    only the repository (number 0), so such events of one repository are handled in order."""

    run_id: int = 0
    conclusion: str = ""  # the forge's word: success, failure, failed, canceled ...
    run_url: str = ""
    workflow: str = ""  # GitHub: the workflow's file (.github/workflows/deploy.yml); GitLab: ""
    branch: str = ""
    created_at: str = ""  # ISO 8601 as the forge wrote it


def order_key(event: Event) -> str:
    """Events with the same key are handled in the order they were received (one PR/MR or issue)."""
    ref = event.ref
    return f"{event.forge}:{ref.kind.value}:{ref.number}:{ref.repo}"


class PayloadError(ValueError):
    """A webhook body of a supported event lacks what its translator needs (answered with 400).
    The message names the missing or malformed field and never echoes payload contents."""
