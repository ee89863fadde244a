"""The one forge-client interface every plugin acts through, and its neutral errors.

Adapters (``bot.forge.github.client``, ``bot.forge.gitlab.client``) implement ``ForgeClient`` with
*blocking* SDK calls; ``bot.forge.layered.AsyncForge`` wraps any of them so that plugins ``await``
each call while the SDK runs on a worker thread, never on the event loop.  Each method here needs a
row in ``bot.forge.policy.POLICIES`` saying how the layered client treats it.

Rules for adapters:
- Read SDK objects only inside the adapter; return the neutral types below.
- Translate every SDK/HTTP error into a ``ForgeError`` subclass.
- Be idempotent where the forge is not: adding a label that is present or removing one that is
  absent is not an error.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.events import Item, ItemRef, ReviewState


class Permission(enum.IntEnum):
    """A user's access to a repository, ordered.  GitHub role → GitLab access level:
    read → Guest (10), triage → Reporter (20), write → Developer (30),
    maintain → Maintainer (40), admin → Owner (50)."""

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    created_at: str = ""  # ISO 8601 UTC, e.g. "2026-11-21T10:00:00Z"; orders comments and reviews


@dataclass(frozen=True)
class ChangedFile:
    """A file a PR/MR changes.  A rename names both paths (OWNERS of both places are asked)."""

    path: str
    status: str = "modified"  # "added" | "modified" | "removed" | "renamed"
    previous_path: str | None = None
    # Lines added and deleted (the size plugin's measure).  Not part of a file's identity.
    additions: int = field(default=0, compare=False)
    deletions: int = field(default=0, compare=False)


class ChangedFiles(list[ChangedFile]):
    """The files a PR/MR changes as the forge lists them, and whether that is all of them.

    A list, so code that only needs the files reads it as one.  ``complete`` is False when the forge
    says the change has more files than it listed: GitHub's files API stops at 3,000 files, GitLab's
    diffs at the instance's diff limits (``changes_count`` "1000+").  Approval must never be
    computed from an incomplete list: a file nobody owns could hide in the missing part."""

    def __init__(self, files: Iterable[ChangedFile] = (), *, complete: bool = True, total: str = "") -> None:
        super().__init__(files)
        self.complete = complete
        self.total = total  # the forge's count of changed files, as it says it ("3412", "1000+"); "" unknown


@dataclass(frozen=True)
class Review:
    """A review verdict.  GitHub: every submitted review, oldest first.  GitLab: the MR's current
    approvals, each as APPROVED (GitLab keeps no history of withdrawn approvals)."""

    author: str
    state: ReviewState
    submitted_at: str = ""  # ISO 8601 UTC; "" when the forge does not say
    body: str = ""  # the review's text (may hold commands); GitLab approvals have none


@dataclass(frozen=True)
class Capabilities:
    """Real differences between forges, as flags rather than ``if forge == ...`` in plugins."""

    # The forge executes slash commands itself before the bot sees them (GitLab quick actions).
    consumes_quick_actions: bool = False
    # What the forge calls a proposed change, for messages: "pull request" / "merge request".
    pull_noun: str = "pull request"
    # Issues can be closed as "not planned" (GitHub's state_reason); GitLab has no such state.
    closes_as_not_planned: bool = True
    # A review can be requested from a team ("org/team"): GitHub's team_reviewers; GitLab has none.
    team_reviews: bool = True
    # Longest comment body the forge accepts (GitHub: 65,536 characters; GitLab notes: 1,000,000).
    max_comment_chars: int = 65_536
    # Several labels leave in one request (GitLab's remove_labels); else one request per label, each
    # paced by the write budget on its own.
    removes_labels_at_once: bool = False
    # Config-defined commands (aliases) can start the forge's own CI with inputs: a GitHub Actions
    # workflow_dispatch, a GitLab pipeline with variables.  Each forge has one of them.
    dispatches_workflows: bool = True
    starts_pipelines: bool = False


@dataclass(frozen=True)
class RunStarted:
    """A CI run prowlet started: its id (None when the forge does not say) and its page."""

    id: int | None
    url: str = ""


class StatusState(enum.Enum):
    """A commit status, neutral: GitHub's four states; GitLab maps pending→pending (or running),
    success→success, failure and error→failed."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class CommitStatus:
    context: str  # the job or check name, e.g. "unit"
    state: StatusState
    description: str = ""
    target_url: str | None = None


@dataclass(frozen=True)
class GitSource:
    """How to fetch a PR/MR head with the bot's credentials, without putting a token in a URL:
    ``git -c http.extraHeader=<header> fetch <url> <ref>``.  ``header`` is secret."""

    url: str  # e.g. https://github.com/acme/widgets.git
    ref: str  # refs/pull/12/head | refs/merge-requests/12/head
    header: str = field(default="", repr=False)  # "Authorization: Basic ..."


class Mergeability(enum.Enum):
    """What the forge says about merging a PR/MR now."""

    CLEAN = "clean"  # the forge would merge it
    CONFLICT = "conflict"  # conflicts with its base branch
    BLOCKED = "blocked"  # refused for another reason (branch protection, unresolved discussions...)
    UNKNOWN = "unknown"  # not computed yet (GitHub computes lazily): ask again later


@dataclass(frozen=True)
class PullState:
    item: Item
    mergeable: Mergeability = Mergeability.UNKNOWN
    reason: str = ""  # the forge's own word for BLOCKED / CONFLICT, e.g. "discussions_not_resolved"
    # The head's statuses and checks when the listing carried them (GitHub's GraphQL listing, as
    # ``list_statuses`` would answer); None: ask ``list_statuses``.
    statuses: tuple[CommitStatus, ...] | None = None


@dataclass(frozen=True)
class Milestone:
    """An open milestone an item can be given.  ``id``: what ``set_milestone`` takes (GitHub: the
    milestone's number; GitLab: its global id)."""

    id: int
    title: str


class MergeMethod(enum.Enum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


class HookLevel(enum.Enum):
    """Where a webhook is configured.  GitHub: the App's own hook, an organisation's, a repository's.
    GitLab: a group's (ORG) or a project's (REPO); GitLab has no App hook."""

    APP = "app"
    ORG = "org"
    REPO = "repo"


@dataclass(frozen=True)
class HookScope:
    level: HookLevel
    name: str = ""  # "" for APP; the organisation / group path; the repository / project path


@dataclass(frozen=True)
class Hook:
    """One webhook of the bot's own (its URL is prowlet's), as the forge numbers it."""

    scope: HookScope
    id: int  # 0 for the GitHub App's hook (an App has exactly one)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver a webhook, as the forge recorded it.  A redelivery is a new attempt
    with the same ``delivery_id``."""

    attempt_id: str  # what ``redeliver`` takes: GitHub's delivery id, GitLab's hook event id
    delivery_id: str  # what intake dedups on: X-GitHub-Delivery, GitLab Idempotency-Key (else event UUID)
    at: datetime  # when it was attempted, aware UTC
    ok: bool  # the receiver answered 2xx
    event: str = ""  # the event name, for logs ("issue_comment", "Note Hook")
    status: str = ""  # the forge's words for the outcome ("failed to connect to host", "internal error")


class ForgeError(Exception):
    """A forge call failed.  ``str(err)`` is safe to log and to show a user (no secrets)."""


class NotFoundError(ForgeError):
    """The repository, item, user or comment does not exist (or is invisible to the bot)."""


class ForbiddenError(ForgeError):
    """The bot's account is not allowed to do this."""


class RateLimitedError(ForgeError):
    """The forge's primary or secondary rate limit refused the call (which did nothing).
    ``retry_after``: seconds the forge asked to wait (Retry-After, or until X-RateLimit-Reset)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidRequestError(ForgeError):
    """The forge rejected the request's content (e.g. GitHub 422 Validation Failed)."""


class MergeRefusedError(ForgeError):
    """The forge refused a merge: conflict, branch protection, or the head moved past the sha.
    Never retried automatically; the message says why in the forge's words."""


class ForgeUnavailableError(ForgeError):
    """Network error or 5xx from the forge."""


@runtime_checkable
class ForgeClient(Protocol):
    """Blocking, forge-neutral operations.  Logins are compared case-insensitively by callers."""

    name: str  # "github" | "gitlab"
    capabilities: Capabilities

    def whoami(self) -> str:
        """The bot account's login (cached by the adapter)."""

    def get_item(self, ref: ItemRef) -> Item:
        """Current state of a PR/MR or issue; ``author`` is always filled in."""

    def repo_labels(self, repo: str) -> frozenset[str]:
        """Names of the labels defined in the repository (GitLab: including group labels)."""

    def add_labels(self, ref: ItemRef, labels: Sequence[str]) -> None: ...

    def remove_label(self, ref: ItemRef, label: str) -> None:
        """Removing a label that is not on the item is not an error."""

    def remove_labels(self, ref: ItemRef, labels: Sequence[str]) -> None:
        """Several at once where the forge allows (GitLab: one update; GitHub has no batch removal
        short of replacing every label, which could undo a concurrent change: one call each)."""

    def change_labels(self, ref: ItemRef, add: Sequence[str], remove: Sequence[str]) -> None:
        """Add ``add`` and remove ``remove`` (disjoint) in as few requests as the forge allows: the
        write pacing sends queued label writes to one item as one such change.  Absolute, so a
        repeat changes nothing.  GitLab: one update.  GitHub: adds only, one ``POST``; one removal
        only, one ``DELETE``; else the item's labels are read and replaced with one ``PUT`` (a
        change someone else makes in between is overwritten)."""

    def comment(self, ref: ItemRef, body: str) -> int:
        """Post a comment; returns its id.  Never retried automatically (a retry can double it)."""

    def edit_comment(self, ref: ItemRef, comment_id: int, body: str) -> None: ...

    def list_comments(self, ref: ItemRef) -> list[Comment]:
        """All comments (GitLab: non-system notes) in creation order."""

    def add_assignees(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        """Returns the logins that could not be assigned (unknown, or not assignable here)."""

    def remove_assignees(self, ref: ItemRef, logins: Sequence[str]) -> None: ...

    def request_review(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        """Request review (GitLab: add MR reviewers).  Returns the logins that could not be added.
        Where ``capabilities.team_reviews``, a name "org/team" is a team of the repository's owner."""

    def remove_review_request(self, ref: ItemRef, logins: Sequence[str]) -> None:
        """Withdraw review requests; "org/team" names a team as for ``request_review``."""

    def label_added_by(self, ref: ItemRef, label: str) -> str | None:
        """Who last added ``label`` to the item (the bot's own login when the bot did); None when the
        forge records no such addition.  GitHub: issue events; GitLab: resource label events."""

    def set_open(self, ref: ItemRef, is_open: bool, *, not_planned: bool = False) -> None:
        """Close or reopen the item.  ``not_planned`` closes an issue as not planned where the forge
        has that state (``capabilities.closes_as_not_planned``); elsewhere it closes as usual."""

    def set_title(self, ref: ItemRef, title: str) -> None:
        """Give the PR/MR or issue a new title."""

    def list_milestones(self, repo: str) -> list[Milestone]:
        """The repository's open milestones (GitLab: the active ones of the project and its groups), every page."""

    def set_milestone(self, ref: ItemRef, milestone: Milestone | None) -> None:
        """Give the PR/MR or issue this milestone, or none (None).  Setting the one it has is no error."""

    def permission(self, repo: str, login: str) -> Permission:
        """The user's effective access to the repository; NONE when not a member/collaborator."""

    def default_branch(self, repo: str) -> str:
        """The repository's default branch ("main"), where in-repo configuration is read from."""

    def branch_sha(self, repo: str, branch: str) -> str:
        """The commit sha a branch points at now.  NotFoundError when there is no such branch."""

    def read_file(self, repo: str, path: str, sha: str) -> str | None:
        """A file's text at a commit; None when the file does not exist there."""

    def changed_files(self, ref: ItemRef, head_sha: str | None = None) -> ChangedFiles:
        """Every file the PR/MR changes that the forge lists (all pages), in the forge's order, and
        whether the forge says that is all of them (``ChangedFiles.complete``).  ``head_sha``: the
        head the caller read the PR/MR at; adapters ignore it, the client's cache pins the answer
        to it (the same head changes the same files)."""

    def list_reviews(self, ref: ItemRef) -> list[Review]:
        """Review verdicts on a PR/MR; see ``Review`` for what each forge gives."""

    def comments_and_reviews(self, ref: ItemRef) -> tuple[list[Comment], list[Review]]:
        """A PR/MR's ``list_comments`` and ``list_reviews`` together, read as cheaply as the forge
        allows (``/approve`` needs both).  GitLab notes every approval in the MR's notes ("approved
        this merge request"), so an MR whose notes hold none has no approvals: one request."""

    def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        """Create/replace the commit status with this context on ``sha`` (description cut to 140)."""

    def list_statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        """The latest status per context on ``sha`` (other CI's too), in no particular order."""

    def is_org_member(self, org: str, login: str) -> bool:
        """GitHub: member of the organisation.  GitLab: member of the group (``org`` is the top-level
        namespace), directly or inherited.  False when ``org`` is a user account."""

    def is_team_member(self, org: str, team: str, login: str) -> bool:
        """GitHub: an active member of the team ``team`` (its slug) of the organisation ``org``.
        GitLab: a member of the subgroup ``org/team``, directly or inherited.  False when there is
        no such team or the bot may not see it."""

    def same_tree(self, repo: str, old_sha: str, new_sha: str) -> bool:
        """Whether two commits hold exactly the same files (a rebase, squash or reworded commit
        that changed nothing).  False when either commit cannot be read.  GitHub: the commits'
        tree shas; GitLab (whose commits do not name their tree): a straight compare old..new
        that lists no difference."""

    def git_source(self, ref: ItemRef) -> GitSource:
        """Where the runner fetches the PR/MR head from, with the bot's credentials."""

    def create_pull(self, repo: str, head_branch: str, base_branch: str, title: str, body: str) -> int:
        """Open a PR/MR from ``head_branch`` onto ``base_branch`` (both in ``repo``); returns its
        number (GitLab: iid).  When an open one from ``head_branch`` exists already (a retry after a
        lost answer) that one's number, and nothing is created."""

    def list_open_pulls(self, repo: str) -> list[PullState]:
        """Every open PR/MR (all pages) with labels, head sha, base ref, draft and author filled in.
        ``mergeable`` as far as the list tells (UNKNOWN while the forge computes it); ``statuses``
        when the listing carries them (GitHub, one GraphQL query per 100 PRs), else None."""

    def mergeability(self, ref: ItemRef) -> PullState:
        """The PR/MR read afresh, with the forge's current verdict on merging it."""

    def merge(self, ref: ItemRef, sha: str, method: MergeMethod) -> None:
        """Merge if and only if the head is still ``sha``.  MergeRefusedError when the forge refuses."""

    def pulls_by(self, repo: str, login: str, limit: int = 2) -> list[int]:
        """Numbers (GitLab: iids) of up to ``limit`` PRs/MRs of any state that ``login`` opened in
        the repository, newest first (the welcome plugin asks whether there is more than one)."""

    def open_issues_with_label(self, repo: str, label: str) -> list[int]:
        """Numbers (GitLab: iids) of open issues carrying ``label`` (not PRs/MRs)."""

    # ---- repositories in scope, and repair of missed deliveries ------------------------------

    def list_repos(self, globs: Sequence[str]) -> list[str]:
        """Repositories/projects the bot can see that match any glob (``bot.repo_globs``), archived
        ones left out, sorted.  Listings are chosen per ``repo_globs.listing_plan``; every page."""

    def hook_scopes(self, repos: Sequence[str]) -> list[HookScope]:
        """Where the bot's hooks for ``repos`` may be configured, broadest first: the App (GitHub
        App credentials only), then each owner / ancestor group, then each repository."""

    def find_hooks(self, scope: HookScope, url: str) -> list[Hook]:
        """The hooks at ``scope`` whose URL is ``url``.  ForbiddenError / NotFoundError when the bot
        may not read hooks there."""

    def hook_deliveries(self, hook: Hook, since: datetime) -> list[DeliveryAttempt]:
        """The hook's delivery attempts, newest first, back to ``since`` (paging stops there)."""

    def redeliver(self, hook: Hook, attempt_id: str) -> None:
        """Ask the forge to deliver that attempt's webhook again (same body and delivery id).
        Never retried automatically."""

    # ---- the forge's own CI, started by config-defined commands (aliases) --------------------

    def dispatch_workflow(self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str]) -> RunStarted:
        """GitHub: ``POST /repos/{repo}/actions/workflows/{workflow}/dispatches`` with ``ref`` and
        ``inputs``, asking for the run's details (``return_run_details``).  NotFoundError for an
        unknown workflow; InvalidRequestError when it has no workflow_dispatch trigger or refuses
        the inputs, and on forges without workflows (``capabilities.dispatches_workflows``)."""

    def start_pipeline(self, repo: str, ref: str, variables: Mapping[str, str]) -> RunStarted:
        """GitLab: ``POST /projects/:id/pipeline`` with ``ref`` and ``variables``.  InvalidRequestError
        for a ref GitLab refuses, and on forges without pipelines (``capabilities.starts_pipelines``)."""
