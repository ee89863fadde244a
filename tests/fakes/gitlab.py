"""FakeGitLab: the slice of GitLab's REST v4 API that prowlet's adapter uses, and GitLab's webhooks.

The protocol is in ``tests/fakes/base.py``.  GitLab specifics modelled here:

- projects are addressed by URL-encoded full path (``group%2Fsub%2Fproject``) or by numeric id;
- merge requests and issues have separate iid sequences per project, so a bare number can name
  both: methods taking a number accept ``kind=`` and refuse an ambiguous number;
- only project members can be assignees or reviewers; anyone else is dropped silently;
- label, assignee, reviewer and state changes, pushes and approvals add ``system: true`` notes;
- lists are paginated by ``page``/``per_page`` (default 20, at most 100) with GitLab's headers;
- labels named in ``add_labels`` that do not exist are created, as GitLab does for maintainers;
- each project is a small git model: branches point at commits, each commit keeps its whole tree
  (path → text), so a file read at an old sha gives the old text.  Projects start with one empty
  commit on "main", the default branch.  An MR's source branch ``topic-<iid>`` starts from the
  head of "main" with a commit of its own (the MR's head sha); ``push`` and ``set_file`` on that
  branch add commits and move the MR's head.  What an MR changes (its diffs) is seeded on its own
  (``set_changed_files``), not derived from the trees; the diffs list at most ``diff_max_files``
  (1,000, GitLab's default), and then the MR's ``changes_count`` says "1000+";
- approvals are GitLab Free's: anyone may approve, none are required, and pushes keep them;
- commit statuses follow GitLab's state machine: a POST updates the bot's pending/running status of
  that name (and ref) in place, a finished one is followed by a new one, and re-posting "pending"
  on a pending status is refused (400 "Cannot transition status via :enqueue from :pending");
  without ``ref`` a status goes to the first branch (by name) whose history has the sha;
- groups are the namespaces of projects and groups named in ``add_group_member``, except a
  top-level namespace named like a user (a user namespace); ``members/all`` includes members of
  ancestor groups;
- MR pipelines are seeded (``add_pipeline``) and listed newest first; a retry sets the pipeline
  "running" and a new MR pipeline starts "created" at the MR's head; both are recorded
  (``pipeline_actions``).  No jobs are modelled;
- an MR's ``detailed_merge_status`` is seeded (``set_mergeable``, "mergeable" by default); GitLab's
  own checks come first: "not_open" unless opened, then "draft_status" for a draft.  The deprecated
  ``merge_status`` and ``has_conflicts`` follow from the seeded status; ``detailed_merge_status=False``
  models GitLab before 15.6, which has no ``detailed_merge_status``;
- accepting an MR (PUT .../merge) refuses, in GitLab's order: 405 "405 Method Not Allowed" unless
  mergeable (closed, draft, any blocking status), 406 "Branch cannot be merged" on "conflict", 409
  "SHA does not match HEAD of source branch: <head>" when ``sha`` is given and is not the head.  A
  merge is one commit on "main" with the MR head's tree (a squash too); each is recorded
  (``merges``);
- MR and issue lists filter by ``state`` and ``labels`` (comma-separated, all must match) and are
  ordered by creation, newest first unless ``sort=asc``;
- time is a fake clock: 2026-01-01T00:00:00Z, one second later for every item, note and commit.

Every API call acts as the bot (the token's owner); permissions of the bot are not enforced.
Recorded request paths are raw (project paths stay encoded), without the ``/api/v4`` prefix.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import math
import re
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from yarl import URL

from bot.events import ItemKind
from bot.forge.base import ChangedFile, Permission
from tests.fakes import git
from tests.fakes.git import GitMirror
from tests.fakes.base import WriteLimit, conditional, Delivery, HookSender, RecordedRequest

API_PREFIX = "/api/v4"
_MAX_NOTE = 1_000_000  # a longer note body is refused (400)
_FIXTURES = Path(__file__).parent.parent / "fixtures" / "gitlab"
_MR_HOOK = json.loads((_FIXTURES / "merge_request__open__1.json").read_text())
_NOTE_HOOK = json.loads((_FIXTURES / "note__merge_request__1.json").read_text())
_PIPELINE_HOOK = json.loads((_FIXTURES / "pipeline__success__1.json").read_text())

_ACCESS_LEVELS = {
    Permission.READ: 10,  # Guest
    Permission.TRIAGE: 20,  # Reporter
    Permission.WRITE: 30,  # Developer
    Permission.MAINTAIN: 40,  # Maintainer
    Permission.ADMIN: 50,  # Owner
}
_NEUTRAL_STATES = {"opened": "open", "closed": "closed", "merged": "merged"}
_STATE_IDS = {"opened": 1, "closed": 2, "merged": 3}
_KINDS = {"merge_requests": ItemKind.PULL, "issues": ItemKind.ISSUE}
_PROJECT = r"/projects/(?P<project>[^/]+)"
_ITEM = _PROJECT + r"/(?P<kind>merge_requests|issues)/(?P<iid>\d+)"
_MR = _PROJECT + r"/(?P<kind>merge_requests)/(?P<iid>\d+)"
_DEFAULT_BRANCH = "main"
# GitLab takes an MR whose title starts so for a draft (and writes "Draft: " itself)
_DRAFT_PREFIX = re.compile(r"^\s*(?:\[draft\]|\(draft\)|draft:|draft\s-)\s*", re.IGNORECASE)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the fake clock's start
_FILE_MODE = "100644"
_CHANGE_STATUSES = {"added", "modified", "removed", "renamed"}
# Every detailed_merge_status GitLab documents, with the deprecated merge_status it implies: the
# git-level verdict only, so an MR blocked by a pipeline or a discussion "can_be_merged".
_MERGE_STATUSES = {
    "mergeable": "can_be_merged",
    "conflict": "cannot_be_merged",
    "need_rebase": "can_be_merged",
    "checking": "checking",
    "unchecked": "unchecked",
    "preparing": "unchecked",
    "approvals_syncing": "can_be_merged",
    **dict.fromkeys(
        (
            "blocked_status",
            "ci_must_pass",
            "ci_still_running",
            "commits_status",
            "discussions_not_resolved",
            "draft_status",
            "external_status_checks",
            "jira_association_missing",
            "locked_lfs_files",
            "locked_paths",
            "merge_request_blocked",
            "merge_time",
            "not_approved",
            "not_open",
            "requested_changes",
            "security_policy_violations",
            "status_checks_must_pass",
            "title_regex",
        ),
        "can_be_merged",
    ),
}
_LIST_STATES = {"opened", "closed", "merged", "locked", "all"}
_UPDATE_PARAMS = {"add_labels", "remove_labels", "assignee_ids", "reviewer_ids", "state_event", "title", "milestone_id"}
# What POST .../statuses/:sha does for each state: GitLab's state-machine event and the states it
# may leave.  The status it acts on is the bot's pending/running one of that name, or a new
# "created" one.
_STATUS_EVENTS = {
    "pending": ("enqueue", {"created"}),
    "running": ("run", {"created", "pending"}),  # GitLab enqueues a new one first
    "success": ("success", {"created", "pending", "running"}),
    "failed": ("drop", {"created", "pending", "running"}),
    "canceled": ("cancel", {"created", "pending", "running"}),
    "skipped": ("skip", {"created"}),
}
_MAX_STATUS_DESCRIPTION = 255
_HOOK_TRIGGERS = {"Note Hook": "note_hooks", "Merge Request Hook": "merge_request_hooks",
                  "Issue Hook": "issue_hooks", "Push Hook": "push_hooks"}
_NO_ANSWER = "internal error"  # a hook event's response_status when the receiver gave no answer
_MAX_EVENTS_PER_PAGE = 20  # GET .../hooks/:id/events refuses a larger per_page
_EVENTS_KEPT = timedelta(days=7)  # the events API shows the last 7 days
_RESEND = re.compile(r"/(?P<kind>projects|groups)/(?P<owner>[^/]+)/hooks/(?P<hook_id>\d+)/events/(?P<event_id>\d+)/resend")
# The system notes GitLab adds when people are added to / removed from an item's list.
_PEOPLE_NOTES = {
    "assignees": ("assigned to", "unassigned"),
    "reviewers": ("requested review from", "removed review request for"),
}


@dataclass
class _User:
    id: int
    username: str


@dataclass
class _Note:
    id: int
    author: _User
    body: str
    system: bool
    created_at: datetime


@dataclass
class _Commit:
    sha: str
    parent: str | None
    tree: dict[str, str]  # path → text: the whole tree at this commit
    message: str
    created_at: datetime


@dataclass
class _Item:
    id: int
    iid: int
    kind: ItemKind
    author: _User
    title: str
    description: str
    created_at: datetime
    state: str = "opened"  # GitLab's names: opened | closed | merged
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    assignees: list[_User] = field(default_factory=list)
    reviewers: list[_User] = field(default_factory=list)
    sha: str = ""  # MRs only: the head of the source branch
    notes: list[_Note] = field(default_factory=list)
    approved_by: list[_User] = field(default_factory=list)  # MRs only
    changed_files: list[ChangedFile] = field(default_factory=list)  # MRs only
    merge_status: str = "mergeable"  # MRs only: the seeded detailed_merge_status
    merge_commit_sha: str | None = None  # MRs only, once merged
    merged_at: datetime | None = None
    target_branch: str = _DEFAULT_BRANCH  # MRs only
    # (id, "add" | "remove", who, label, when) per label change, oldest first: resource label events
    label_events: list[tuple[int, str, _User, str, datetime]] = field(default_factory=list)
    milestone: int | None = None  # its milestone's id
    source: str | None = None  # MRs opened through the API: their source branch

    @property
    def source_branch(self) -> str:
        return self.source or f"topic-{self.iid}"


@dataclass(eq=False)  # compared by identity: an update in place is the same status
class _Status:
    """A commit status (an external one, or a CI job's)."""

    id: int
    sha: str
    ref: str
    name: str
    status: str  # GitLab's: pending | running | success | failed | canceled | skipped | manual ...
    description: str | None
    target_url: str | None
    author: _User
    created_at: datetime


@dataclass
class _Pipeline:
    id: int
    iid: int
    mr_iid: int
    sha: str
    status: str  # GitLab's: created | pending | running | success | failed | canceled | ...
    created_at: datetime
    updated_at: datetime
    ref: str | None = None  # a branch pipeline's branch (POST /projects/:id/pipeline); None: an MR's
    variables: list[dict[str, str]] = field(default_factory=list)  # as given when it was created


@dataclass
class _Project:
    id: int
    path: str
    labels: dict[str, int]  # name → label id
    members: dict[int, int] = field(default_factory=dict)  # user id → access level
    items: dict[tuple[ItemKind, int], _Item] = field(default_factory=dict)
    last_iid: dict[ItemKind, int] = field(default_factory=lambda: dict.fromkeys(ItemKind, 0))
    branches: dict[str, str] = field(default_factory=dict)  # name → head sha
    commits: dict[str, _Commit] = field(default_factory=dict)  # by sha
    statuses: list[_Status] = field(default_factory=list)  # as GitLab keeps them, oldest first
    # Every status recorded, in order, as (sha, name, state, description, target_url): an update in
    # place is a new entry here.
    status_log: list[tuple[str, str, str, str, str | None]] = field(default_factory=list)
    pipelines: list[_Pipeline] = field(default_factory=list)  # oldest first
    pipeline_actions: list[tuple[int, str]] = field(default_factory=list)  # (pipeline id, action)
    merges: list[tuple[int, str, bool]] = field(default_factory=list)  # (iid, head sha, squash)
    archived: bool = False
    milestones: dict[int, _Milestone] = field(default_factory=dict)  # by id
    git: GitMirror | None = None  # a real repository behind it (``enable_git``)


@dataclass
class _Milestone:
    id: int
    iid: int
    title: str
    state: str = "active"  # "active" | "closed"


@dataclass
class _HookEvent:
    """One attempt to deliver a webhook, as GitLab logs it (``WebHookLog``)."""

    id: int
    url: str
    trigger: str
    headers: dict[str, str]  # as sent (the token too); listed with the token redacted
    body: bytes
    response_status: str  # "200", "503", "internal error"
    response_body: str
    response_headers: dict[str, str]
    execution_duration: float
    created_at: datetime  # real time: the events API shows the last 7 days


@dataclass
class _GlHook:
    id: int
    kind: str  # "projects" | "groups"
    path: str  # the project's or group's full path
    url: str
    events: list[_HookEvent] = field(default_factory=list)  # oldest first


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    message: str | None
    retry_after: int | None = None  # seconds, sent as Retry-After with a 429
    effect: bool = False  # the request takes effect before the failure is answered (a lost answer)


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_Handler = Callable[[re.Match[str], dict[str, Any], URL], web.Response]


class FakeGitLab:
    name = "gitlab"

    def __init__(
        self,
        webhook_secret: str = "gl-secret",
        token: str = "gl-token",
        bot_login: str = "prowlet-bot",
        *,
        detailed_merge_status: bool = True,
        diff_max_files: int = 1000,
    ):
        self.webhook_secret = webhook_secret
        self.token = token
        self.bot_login = bot_login
        self.detailed_merge_status = detailed_merge_status  # False: GitLab before 15.6
        # The instance's "Maximum diff files" (1,000 by default): an MR's diffs list no more, and
        # its changes_count then says "1000+".
        self.diff_max_files = diff_max_files
        self._lock = threading.Lock()
        self._ids = itertools.count(1)  # one sequence for all ids: unique is all GitLab promises
        self._users: dict[str, _User] = {}  # by lower-cased username
        self._projects: dict[str, _Project] = {}  # by full path
        self._group_labels: dict[str, dict[str, int]] = {}  # group path → name → label id
        self._group_members: dict[str, dict[int, int]] = {}  # group path → user id → access level
        self._requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self.write_limit: WriteLimit | None = None
        self._port: int | None = None
        self._time = _EPOCH  # the fake clock: advanced by _tick()
        self._hooks: dict[int, _GlHook] = {}
        self._git_root: Path | None = None  # where enable_git puts the repositories
        self._bot = self._user(bot_login)
        self._routes: list[tuple[str, str, _Handler]] = [
            ("GET", r"/user", self._get_current_user),
            ("GET", r"/users", self._list_users),
            ("GET", _PROJECT, self._get_project),
            ("GET", r"/projects/(?P<project>[^/]+)/labels", self._list_labels),
            ("GET", r"/projects/(?P<project>[^/]+)/members/all/(?P<user_id>\d+)", self._get_member),
            ("GET", _PROJECT + r"/(?P<kind>merge_requests|issues)", self._list_items),
            ("PUT", _MR + "/merge", self._merge),
            ("POST", _PROJECT + r"/merge_requests", self._create_mr),
            ("GET", _PROJECT + r"/repository/branches/(?P<branch>[^/]+)", self._get_branch),
            ("GET", _PROJECT + r"/repository/files/(?P<file_path>[^/]+)/raw", self._get_raw_file),
            ("GET", _PROJECT + r"/repository/compare", self._compare),
            ("GET", _ITEM, self._get_item),
            ("PUT", _ITEM, self._update_item),
            ("GET", _PROJECT + r"/milestones", self._list_milestones),
            ("GET", _ITEM + "/notes", self._list_notes),
            ("POST", _ITEM + "/notes", self._create_note),
            ("PUT", _ITEM + r"/notes/(?P<note_id>\d+)", self._update_note),
            ("GET", _MR + "/diffs", self._list_diffs),
            ("GET", _MR + "/approvals", self._get_approvals),
            ("GET", _ITEM + "/resource_label_events", self._list_label_events),
            ("POST", _PROJECT + r"/statuses/(?P<sha>[0-9a-f]+)", self._create_status),
            ("GET", _PROJECT + r"/repository/commits/(?P<sha>[^/]+)/statuses", self._list_statuses),
            ("GET", r"/groups/(?P<group>[^/]+)/members/all/(?P<user_id>\d+)", self._get_group_member),
            ("GET", _MR + "/pipelines", self._list_mr_pipelines),
            ("POST", _MR + "/pipelines", self._create_mr_pipeline),
            ("POST", _PROJECT + r"/pipelines/(?P<pipeline_id>\d+)/retry", self._retry_pipeline),
            ("POST", _PROJECT + r"/pipeline", self._create_pipeline),
            ("GET", r"/projects", self._list_projects),
            ("GET", r"/groups/(?P<group>[^/]+)/projects", self._list_group_projects),
            ("GET", r"/users/(?P<user>[^/]+)/projects", self._list_user_projects),
            ("GET", r"/(?P<kind>projects|groups)/(?P<owner>[^/]+)/hooks", self._list_hooks),
            ("GET", r"/(?P<kind>projects|groups)/(?P<owner>[^/]+)/hooks/(?P<hook_id>\d+)/events", self._list_events),
        ]

    # ---- server lifecycle ----------------------------------------------------------------

    @property
    def api_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeGitLab is not running: use it as a context manager")
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> FakeGitLab:
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True, name="FakeGitLab")
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("FakeGitLab did not start")
        self._sender = HookSender(self._loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._sender.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._port = None
        if self._git_root is not None:
            shutil.rmtree(self._git_root, ignore_errors=True)

    def _serve(self, started: threading.Event) -> None:
        # Its own loop in its own thread: tests and the bot under test may run loops of their own.
        self._loop = loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        sock = socket.create_server(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        loop.run_until_complete(web.SockSite(runner, sock).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    # ---- seeding -------------------------------------------------------------------------

    def add_repo(self, repo: str, labels: Iterable[str] = ()) -> None:
        with self._lock:
            project = _Project(next(self._ids), repo, {name: next(self._ids) for name in labels})
            self._commit(project, _DEFAULT_BRANCH, {}, "Initial commit")
            self._projects[repo] = project

    def enable_git(self, repo: str) -> GitMirror:
        """Serve ``repo`` over git's smart HTTP protocol at ``<url>/<repo>.git`` (fetch and push
        with the bot's token as the Basic password): branches and ``refs/merge-requests/N/head``
        as the fake holds them; a pushed branch becomes a branch of the fake."""
        with self._lock:
            if self._git_root is None:
                self._git_root = Path(tempfile.mkdtemp(prefix="fakegitlab-git-"))
            project = self._projects[repo]
            if project.git is None:
                project.git = GitMirror(self._git_root, project.path)
            return project.git

    def merge(self, repo: str, number: int, merger: str) -> Delivery:
        """A person merges an open MR in the web UI (not part of FakeForge): its source branch's
        tree lands on "main" and a Merge Request Hook with action "merge" is sent."""
        with self._lock:
            project, item = self._find(repo, number, ItemKind.PULL)
            if item.state != "opened":
                raise ValueError(f"{repo}!{number} is not open")
            self._merge_into_main(project, item, squash=False)
            return self._item_hook(project, item, self._user(merger), "merge")

    def add_group_labels(self, group: str, labels: Iterable[str]) -> None:
        """Labels defined on a group: inherited by every project below it."""
        with self._lock:
            self._group_labels.setdefault(group, {}).update({name: next(self._ids) for name in labels})

    def add_user(self, login: str) -> None:
        with self._lock:
            self._user(login)

    def set_permission(self, repo: str, login: str, level: Permission) -> None:
        with self._lock:
            members = self._projects[repo].members
            user = self._user(login)
            if level is Permission.NONE:
                members.pop(user.id, None)
            else:
                members[user.id] = _ACCESS_LEVELS[level]

    def set_labels(
        self, repo: str, number: int, labels: Iterable[str], *, kind: ItemKind | None = None
    ) -> None:
        with self._lock:
            project, item = self._find(repo, number, kind)
            labels = list(labels)
            unknown = set(labels) - self._label_ids(project).keys()
            if unknown:
                raise ValueError(f"labels not defined in {repo}: {sorted(unknown)}")
            item.labels = sorted(set(labels))

    def set_file(self, repo: str, path: str, content: str | None, branch: str = _DEFAULT_BRANCH) -> str:
        """Commit ``content`` at ``path`` on ``branch`` (None deletes it); returns the new head sha.
        A branch that does not exist yet starts from the head of "main".  Committing to an MR's
        source branch moves the MR's head (without a webhook: use ``push`` for one)."""
        with self._lock:
            project = self._projects[repo]
            tree = dict(self._head(project, branch).tree)
            if content is None:
                tree.pop(path, None)
            else:
                tree[path] = content
            verb = "Delete" if content is None else "Update"
            sha = self._commit(project, branch, tree, f"{verb} {path}")
            for item in project.items.values():
                if item.kind is ItemKind.PULL and item.source_branch == branch:
                    item.sha = sha
            return sha

    def set_changed_files(self, repo: str, number: int, files: Iterable[ChangedFile]) -> None:
        """What the MR changes, in the order GitLab's diffs API will list it."""
        with self._lock:
            _, item = self._find(repo, number, ItemKind.PULL)
            item.changed_files = _checked_files(files)

    def set_mergeable(self, repo: str, number: int, status: str = "mergeable") -> None:
        """What GitLab would say of merging MR ``number`` once it is open and not a draft: a
        ``detailed_merge_status`` ("mergeable", "conflict", "ci_must_pass", "checking" ...)."""
        if status not in _MERGE_STATUSES:
            raise ValueError(f"not a detailed_merge_status: {status!r}")
        with self._lock:
            self._find(repo, number, ItemKind.PULL)[1].merge_status = status

    def add_group_member(self, group: str, login: str, level: int = 30) -> None:
        """Make ``login`` a member of ``group`` (a path, e.g. "acme" or "acme/team") at a GitLab
        access level (Developer by default); the group exists from then on."""
        with self._lock:
            if "/" not in group and group.lower() in self._users:
                raise ValueError(f"{group} is a user namespace, not a group")
            self._group_members.setdefault(group, {})[self._user(login).id] = level

    def add_status(
        self,
        repo: str,
        sha: str,
        name: str,
        status: str,
        *,
        description: str | None = None,
        target_url: str | None = None,
        ref: str = _DEFAULT_BRANCH,
    ) -> None:
        """A commit status someone else set (another CI, a job of a pipeline), stored as is: any of
        GitLab's statuses ("manual", "skipped", ...), no state machine."""
        with self._lock:
            project = self._projects[repo]
            if sha not in project.commits:
                raise ValueError(f"{repo} has no commit {sha}")
            author = self._user("ci-runner")
            status_ = _Status(
                next(self._ids), sha, ref, name, status, description, target_url, author, self._tick()
            )
            self._store_status(project, status_)

    def add_pipeline(self, repo: str, number: int, sha: str, status: str) -> int:
        """A pipeline of MR ``number`` at ``sha`` in GitLab's ``status``; returns its id.  Later
        pipelines are newer."""
        with self._lock:
            project, item = self._find(repo, number, ItemKind.PULL)
            return self._new_pipeline(project, item, sha, status).id

    def add_hook(self, project_or_group: str, url: str) -> int:
        """A webhook on a project or a group (a project's namespace, or one with members); returns
        its id.  ``send`` delivers to it."""
        with self._lock:
            kind = "projects" if project_or_group in self._projects else "groups"
            if kind == "groups" and not self._is_group(project_or_group):
                raise ValueError(f"{project_or_group} is neither a project nor a group")
            hook = _GlHook(next(self._ids), kind, project_or_group, url)
            self._hooks[hook.id] = hook
            return hook.id

    def set_archived(self, repo: str, archived: bool = True) -> None:
        with self._lock:
            self._projects[repo].archived = archived

    def send(self, delivery: Delivery, *, answer_lost: bool = False) -> list[int | None]:
        """Deliver ``delivery`` as GitLab would: to every hook of its project and of the project's
        ancestor groups, each attempt logged as a hook event with the receiver's answer (``None``:
        no answer, logged "internal error"; ``answer_lost``: received, but answered too late).
        Returns the status per hook.  Blocks: call it from a thread whose loop does not serve the
        receiver.  GitLab's own automatic retries are not modelled."""
        path = str(json.loads(delivery.body).get("project", {}).get("path_with_namespace") or "")
        with self._lock:
            hooks = [
                hook for hook in self._hooks.values()
                if (hook.kind == "projects" and hook.path == path)
                or (hook.kind == "groups" and path.startswith(f"{hook.path}/"))
            ]
        return [self._sender.run(self._attempt(hook, delivery.headers, delivery.body, answer_lost)) for hook in hooks]

    def hooks_idle(self, timeout: float = 30) -> None:
        """Nothing to wait for: GitLab resends synchronously.  (The same call as on FakeGitHub.)"""
        self._sender.idle(timeout)

    def hook_events(self, hook_id: int) -> list[tuple[str, str]]:
        """(Idempotency-Key, response_status) of every attempt to deliver to the hook, oldest first."""
        with self._lock:
            return [(e.headers.get("Idempotency-Key", ""), e.response_status) for e in self._hooks[hook_id].events]

    async def _attempt(
        self, hook: _GlHook, headers: dict[str, str], body: bytes, answer_lost: bool = False
    ) -> int | None:
        """POST to the hook's URL and log the event (on the fake's loop, the lock not held)."""
        answer = await self._sender.post(hook.url, headers, body, answer_lost=answer_lost)
        with self._lock:
            hook.events.append(_HookEvent(
                id=next(self._ids),
                url=hook.url,
                trigger=_HOOK_TRIGGERS.get(headers.get("X-Gitlab-Event", ""), "push_hooks"),
                headers=dict(headers),
                body=body,
                response_status=str(answer.status) if answer.status is not None else _NO_ANSWER,
                response_body=answer.body,
                response_headers=answer.headers,
                execution_duration=round(answer.seconds, 3),
                created_at=datetime.now(UTC),
            ))
        return answer.status

    def fail_next(
        self, method: str, path_regex: str, status: int, times: int = 1, *, message: str | None = None,
        retry_after: int | None = None, effect: bool = False,
    ) -> None:
        """The next ``times`` requests whose method is ``method`` and whose recorded path matches
        ``path_regex`` (``re.search``) are answered ``status`` without any effect (a 429 with
        ``Retry-After: retry_after``, default 0) — or, with ``effect``, after the request took effect
        (as when GitLab saves a note, then fails)."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), re.compile(path_regex), status, times, message,
                                           retry_after, effect))

    def limit_writes(self, writes: int, seconds: float) -> WriteLimit:
        """Enforce a rate limit on writes (every method but GET): over it, 429 with Retry-After, as
        GitLab answers a rate-limited request."""
        self.write_limit = WriteLimit(writes, seconds)
        return self.write_limit

    # ---- things people do ----------------------------------------------------------------

    def open_pull(
        self,
        repo: str,
        author: str,
        title: str = "A change",
        body: str = "",
        draft: bool = False,
        *,
        files: Iterable[ChangedFile] = (),
    ) -> tuple[int, Delivery]:
        """An MR from ``topic-<iid>`` into "main"; ``files`` is what it changes (see
        ``set_changed_files``)."""
        with self._lock:
            project = self._projects[repo]
            changed_files = _checked_files(files)
            item = self._new_item(project, ItemKind.PULL, author, title, body)
            item.draft = draft
            item.changed_files = changed_files
            base = self._head(project, _DEFAULT_BRANCH)
            item.sha = self._commit(project, item.source_branch, dict(base.tree), title)
            return item.iid, self._item_hook(project, item, item.author, "open")

    def open_issue(
        self, repo: str, author: str, title: str = "A bug", body: str = ""
    ) -> tuple[int, Delivery]:
        with self._lock:
            project = self._projects[repo]
            item = self._new_item(project, ItemKind.ISSUE, author, title, body)
            return item.iid, self._item_hook(project, item, item.author, "open")

    def comment(
        self, repo: str, number: int, author: str, body: str, *, kind: ItemKind | None = None
    ) -> Delivery:
        with self._lock:
            project, item = self._find(repo, number, kind)
            note = self._add_note(item, self._user(author), body)
            return self._note_hook(project, item, note)

    def push(self, repo: str, number: int, pusher: str, *, files: dict[str, str | None] | None = None) -> Delivery:
        """A new head commit: its tree is the old head's with ``files`` written over it (None
        deletes a path); without ``files`` the tree is the same (a rebase, squash or reword)."""
        with self._lock:
            project, item = self._find(repo, number, ItemKind.PULL)
            tree = dict(project.commits[item.sha].tree)
            for path, content in (files or {}).items():
                if content is None:
                    tree.pop(path, None)
                else:
                    tree[path] = content
            oldrev, item.sha = item.sha, self._commit(project, item.source_branch, tree, "A fix")
            user = self._user(pusher)
            self._add_note(item, user, "added 1 commit", system=True)
            return self._item_hook(project, item, user, "update", oldrev=oldrev)

    def edit_pull(self, repo: str, number: int, editor: str, *, title: str | None = None,
                  draft: bool | None = None, base: str | None = None, body: str | None = None) -> Delivery:
        """A person changes an MR's title, draft state or target branch (which must exist): Merge
        Request Hook update with ``changes``.  As on GitLab, the draft state is the title's "Draft:"
        prefix: setting one changes the other."""
        if [title, draft, base, body].count(None) != 3:
            raise ValueError("give one of a new title, a draft state, a target branch or a description")
        with self._lock:
            project, item = self._find(repo, number, ItemKind.PULL)
            if body is not None:
                changes = {"description": {"previous": item.description, "current": body}}
                item.description = body
                return self._item_hook(project, item, self._user(editor), "update", changes=changes)
            if base is not None:
                if base not in project.branches:
                    raise ValueError(f"no branch {base!r} in {repo}")
                changes = {"target_branch": {"previous": item.target_branch, "current": base}}
                item.target_branch = base
                return self._item_hook(project, item, self._user(editor), "update", changes=changes)
            assert title is not None or draft is not None
            if draft is not None:
                bare = _DRAFT_PREFIX.sub("", item.title)
                title = f"Draft: {bare}" if draft else bare
            changes: dict[str, Any] = {"title": {"previous": item.title, "current": title}}
            now_draft = _DRAFT_PREFIX.match(title) is not None
            if now_draft != item.draft:
                changes["draft"] = {"previous": item.draft, "current": now_draft}
            item.title, item.draft = title, now_draft
            return self._item_hook(project, item, self._user(editor), "update", changes=changes)

    def label(self, repo: str, number: int, who: str, label: str, *, add: bool = True,
              kind: ItemKind | None = None) -> Delivery:
        """A person adds (or removes) a label in the web UI: Merge Request / Issue Hook update with
        ``changes.labels``; the resource label events record who did it."""
        with self._lock:
            project, item = self._find(repo, number, kind)
            if label not in self._label_ids(project):
                raise ValueError(f"label not defined in {repo}: {label}")
            before = self._hook_attrs(project, item)["labels"]
            user = self._user(who)
            self._change_labels(project, item, [label] if add else [], [] if add else [label], actor=user)
            after = self._hook_attrs(project, item)["labels"]
            changes = {"labels": {"previous": before, "current": after}} if before != after else {}
            return self._item_hook(project, item, user, "update", changes=changes)

    def review(self, repo: str, number: int, author: str, state: str, body: str = "") -> Delivery:
        """``state`` is "approved" or "unapproved".  GitLab approvals carry no text: ``body`` is unused.
        Approving twice or withdrawing an approval never given changes nothing."""
        if state not in ("approved", "unapproved"):
            raise ValueError(f"GitLab reviews are 'approved' or 'unapproved', not {state!r}")
        with self._lock:
            project, item = self._find(repo, number, ItemKind.PULL)
            user = self._user(author)
            if state == "approved" and user not in item.approved_by:
                item.approved_by.append(user)
            elif state == "unapproved" and user in item.approved_by:
                item.approved_by.remove(user)
            self._add_note(item, user, f"{state} this merge request", system=True)
            return self._item_hook(project, item, user, state)

    # ---- inspection ----------------------------------------------------------------------

    def labels(self, repo: str, number: int, *, kind: ItemKind | None = None) -> set[str]:
        with self._lock:
            return set(self._find(repo, number, kind)[1].labels)

    def comments(self, repo: str, number: int, *, kind: ItemKind | None = None) -> list[tuple[str, str]]:
        with self._lock:
            notes = self._find(repo, number, kind)[1].notes
            return [(note.author.username, note.body) for note in notes if not note.system]

    def system_notes(self, repo: str, number: int, *, kind: ItemKind | None = None) -> list[str]:
        with self._lock:
            return [note.body for note in self._find(repo, number, kind)[1].notes if note.system]

    def assignees(self, repo: str, number: int, *, kind: ItemKind | None = None) -> set[str]:
        with self._lock:
            return {user.username for user in self._find(repo, number, kind)[1].assignees}

    def reviewers(self, repo: str, number: int) -> set[str]:
        with self._lock:
            return {user.username for user in self._find(repo, number, ItemKind.PULL)[1].reviewers}

    def state(self, repo: str, number: int, *, kind: ItemKind | None = None) -> str:
        with self._lock:
            return _NEUTRAL_STATES[self._find(repo, number, kind)[1].state]

    def title(self, repo: str, number: int, *, kind: ItemKind | None = None) -> str:
        with self._lock:
            return self._find(repo, number, kind)[1].title

    def add_milestone(self, repo: str, title: str, *, closed: bool = False) -> int:
        """A project milestone; returns its global id."""
        with self._lock:
            project = self._projects[repo]
            milestone = _Milestone(next(self._ids), len(project.milestones) + 1, title, "closed" if closed else "active")
            project.milestones[milestone.id] = milestone
            return milestone.id

    def milestone(self, repo: str, number: int, *, kind: ItemKind | None = None) -> str | None:
        """The title of the item's milestone, None when it has none."""
        with self._lock:
            project, item = self._find(repo, number, kind)
            return project.milestones[item.milestone].title if item.milestone else None

    def head_sha(self, repo: str, number: int) -> str:
        with self._lock:
            return self._find(repo, number, ItemKind.PULL)[1].sha

    def head_branch(self, repo: str, number: int) -> str:
        with self._lock:
            return self._find(repo, number, ItemKind.PULL)[1].source_branch

    def approvers(self, repo: str, number: int) -> list[str]:
        """Who approves the MR now, in the order they approved."""
        with self._lock:
            return [user.username for user in self._find(repo, number, ItemKind.PULL)[1].approved_by]

    def branch_head(self, repo: str, branch: str = _DEFAULT_BRANCH) -> str:
        with self._lock:
            return self._projects[repo].branches[branch]

    def statuses(self, repo: str, sha: str) -> list[tuple[str, str, str, str | None]]:
        """(context, state, description, target_url) of every status recorded on ``sha``, in
        order: GitLab's names ("failed"), one entry per accepted POST (an update in place too),
        none for a refused one.  Statuses seeded with ``add_status`` are included."""
        with self._lock:
            return [entry[1:] for entry in self._projects[repo].status_log if entry[0] == sha]

    def merges(self, repo: str) -> list[tuple[int, str, bool]]:
        """(iid, head sha, squash) of every MR merged through the API, in order."""
        with self._lock:
            return list(self._projects[repo].merges)

    def pipeline_actions(self, repo: str) -> list[tuple[int, str]]:
        """(pipeline id, "retry" | "create") for every retry and new MR pipeline, in order."""
        with self._lock:
            return list(self._projects[repo].pipeline_actions)

    def branch_pipelines(self, repo: str) -> list[tuple[int, str, list[dict[str, str]]]]:
        """(id, ref, variables) of every pipeline started with ``POST /projects/:id/pipeline``."""
        with self._lock:
            return [(p.id, p.ref, list(p.variables)) for p in self._projects[repo].pipelines if p.ref]

    def finish_pipeline(self, repo: str, pipeline_id: int, status: str) -> Delivery:
        """A branch pipeline ends: its ``Pipeline Hook`` (no merge request; the bot started it)."""
        with self._lock:
            project = self._projects[repo]
            pipeline = next(p for p in project.pipelines if p.id == pipeline_id)
            pipeline.status, pipeline.updated_at = status, self._tick()
            payload = copy.deepcopy(_PIPELINE_HOOK)
            payload["object_attributes"] |= {
                "id": pipeline.id, "iid": pipeline.iid, "ref": pipeline.ref, "sha": pipeline.sha,
                "status": status, "source": "api", "variables": list(pipeline.variables),
                "created_at": _hook_time(pipeline.created_at), "finished_at": _hook_time(pipeline.updated_at),
                "url": f"{self.api_url}/{project.path}/-/pipelines/{pipeline.id}",
            }
            payload |= {"user": self._hook_user(self._bot), "project": self._hook_project(project),
                        "merge_request": None, "builds": []}
            return self.delivery("Pipeline Hook", payload)

    def pipeline_status(self, repo: str, pipeline_id: int) -> str:
        with self._lock:
            return next(p.status for p in self._projects[repo].pipelines if p.id == pipeline_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # ---- state helpers (callers hold the lock) -----------------------------------------------

    def _user(self, login: str) -> _User:
        """The user named ``login``, created on first use."""
        key = login.lower()
        if key not in self._users:
            self._users[key] = _User(next(self._ids), login)
        return self._users[key]

    def _tick(self) -> datetime:
        """The fake clock, one second on: every event happens at a distinct, later time."""
        self._time += timedelta(seconds=1)
        return self._time

    def _head(self, project: _Project, branch: str) -> _Commit:
        """The commit ``branch`` points at; a new branch would start at the head of "main"."""
        return project.commits[project.branches.get(branch) or project.branches[_DEFAULT_BRANCH]]

    def _commit(self, project: _Project, branch: str, tree: dict[str, str], message: str) -> str:
        """A new commit with ``tree`` on top of ``branch`` (created as needed); returns its sha."""
        parent = project.branches.get(branch) or project.branches.get(_DEFAULT_BRANCH)
        commit = _Commit(_new_sha(), parent, tree, message, self._tick())
        project.commits[commit.sha] = commit
        project.branches[branch] = commit.sha
        return commit.sha

    def _new_item(self, project: _Project, kind: ItemKind, author: str, title: str, body: str) -> _Item:
        project.last_iid[kind] += 1
        item = _Item(
            next(self._ids), project.last_iid[kind], kind, self._user(author), title, body, self._tick()
        )
        project.items[kind, item.iid] = item
        return item

    def _find(self, repo: str, number: int, kind: ItemKind | None) -> tuple[_Project, _Item]:
        project = self._projects[repo]
        kinds = [kind] if kind else [k for k in ItemKind if (k, number) in project.items]
        if len(kinds) > 1:
            raise LookupError(f"{repo} has both an MR and an issue numbered {number}: pass kind=")
        if not kinds or (kinds[0], number) not in project.items:
            raise LookupError(f"{repo} has no item numbered {number}")
        return project, project.items[kinds[0], number]

    def _add_note(self, item: _Item, author: _User, body: str, system: bool = False) -> _Note:
        note = _Note(next(self._ids), author, body, system, self._tick())
        item.notes.append(note)
        return note

    def _store_status(self, project: _Project, status: _Status) -> None:
        """Record ``status``: new (not yet in ``project.statuses``) or updated in place."""
        if status not in project.statuses:
            project.statuses.append(status)
        project.status_log.append(
            (status.sha, status.name, status.status, status.description or "", status.target_url)
        )

    def _new_pipeline(self, project: _Project, item: _Item, sha: str, status: str) -> _Pipeline:
        now = self._tick()
        pipeline = _Pipeline(next(self._ids), len(project.pipelines) + 1, item.iid, sha, status, now, now)
        project.pipelines.append(pipeline)
        return pipeline

    def _contains(self, project: _Project, branch: str, sha: str) -> bool:
        """Whether ``sha`` is in the history of ``branch``."""
        current: str | None = project.branches[branch]
        while current is not None:
            if current == sha:
                return True
            current = project.commits[current].parent
        return False

    def _is_group(self, path: str) -> bool:
        """Whether ``path`` names a group: one with members, or a namespace of some project, but
        not a user's namespace."""
        top = path.split("/", 1)[0]
        if top.lower() in self._users and top not in self._group_members:
            return False
        return path in self._group_members or any(
            project.startswith(f"{path}/") for project in self._projects
        )

    def _label_ids(self, project: _Project) -> dict[str, int]:
        """Labels usable in ``project``: its own and its ancestor groups'."""
        groups = [project.path.rsplit("/", depth)[0] for depth in range(1, project.path.count("/") + 1)]
        inherited = {name: id_ for group in groups for name, id_ in self._group_labels.get(group, {}).items()}
        return inherited | project.labels

    # ---- HTTP ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if git.is_git_path(request.path) and self._git_root is not None:
            return await self._serve_git(request)
        path = request.rel_url.raw_path.removeprefix(API_PREFIX)
        recorded = RecordedRequest(request.method, path, dict(request.query))
        with self._lock:
            self._requests.append(recorded)
        response = await self._answer(request, path)
        recorded.status = response.status
        return response

    async def _serve_git(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            project = self._projects.get(git.repo_of(request.path))
            if project is None or project.git is None or self._git_root is None:
                return web.Response(status=404, text="The project you were looking for could not be found.")
            refs = {f"refs/heads/{name}": sha for name, sha in project.branches.items()}
            for (kind, iid), item in project.items.items():
                if kind is ItemKind.PULL and item.sha:
                    refs[f"refs/merge-requests/{iid}/head"] = item.sha
            commits = {sha: commit.tree for sha, commit in project.commits.items()}
            parents = {sha: [c.parent] for sha, c in project.commits.items() if c.parent}
            project.git.export(refs, commits, parents)
            response = git.serve(request, body, self._git_root, self.token)
            for branch, (git_sha, tree) in project.git.pushed().items():
                sha = _new_sha()
                project.commits[sha] = _Commit(sha, project.branches.get(branch), tree, "pushed", self._tick())
                project.branches[branch] = sha
                project.git.adopt(sha, git_sha)
        return response

    async def _answer(self, request: web.Request, path: str) -> web.Response:
        query = dict(request.query)
        with self._lock:
            failure = self._take_failure(request.method, path)
            limited = failure is None and self.write_limit is not None and request.method != "GET"
            wait = self.write_limit.retry_after() if limited else None
        if failure is not None and not failure.effect:
            return _failure_response(failure)
        if wait is not None:
            response = _message(429, "429 Too Many Requests")
            response.headers["Retry-After"] = str(wait)
            return response
        if request.headers.get("PRIVATE-TOKEN") != self.token:
            return _message(401, "401 Unauthorized")
        resend = _RESEND.fullmatch(path)
        if resend and request.method == "POST":
            return await self._resend(resend)
        params = {**query, **(await request.json() if request.can_read_body else {})}
        for method, pattern, handler in self._routes:
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                try:
                    with self._lock:
                        response = handler(match, params, request.url)
                except _HttpError as err:
                    return _message(err.status, err.message)
                if failure is not None:  # it took effect; the answer is lost
                    return _failure_response(failure)
                # Conditional requests: GitLab's API answers GETs with a weak ETag (Rack::ETag)
                # and an If-None-Match naming it with a bodiless 304.
                return conditional(request.headers, response, weak=True) if method == "GET" else response
        return web.json_response({"error": "404 Not Found"}, status=404)

    async def _resend(self, match: re.Match[str]) -> web.Response:
        """POST .../hooks/:hook_id/events/:hook_event_id/resend: GitLab sends the event again at
        once (same body, same Idempotency-Key) and answers 201 with the receiver's status."""
        try:
            with self._lock:
                hook = self._hook_of(match)
                event = next((e for e in hook.events if e.id == int(match["event_id"])), None)
                if event is None:
                    raise _HttpError(404, "404 Not found")
        except _HttpError as err:
            return _message(err.status, err.message)
        status = await self._attempt(hook, event.headers, event.body)
        return web.json_response({"response_status": status if status is not None else _NO_ANSWER}, status=201)

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _get_current_user(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        return web.json_response(
            self._user_json(self._bot) | {"email": f"{self.bot_login}@example.com", "bot": True}
        )

    def _list_users(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        user = self._users.get(params.get("username", "").lower())  # GitLab matches case-insensitively
        return _paginated([self._user_json(user)] if user else [], params, url)

    def _list_labels(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project = self._project(match)
        include_groups = str(params.get("include_ancestor_groups", "true")).lower() == "true"
        labels = self._label_ids(project) if include_groups else project.labels
        return _paginated(
            [
                {
                    "id": label_id,
                    "name": name,
                    "color": "#428BCA",
                    "text_color": "#FFFFFF",
                    "description": None,
                    "priority": None,
                    "subscribed": False,
                    "is_project_label": name in project.labels,
                }
                for name, label_id in sorted(labels.items())
            ],
            params,
            url,
        )

    def _get_member(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project = self._project(match)
        user_id = int(match["user_id"])
        user = next((u for u in self._users.values() if u.id == user_id), None)
        if user is None or user_id not in project.members:
            raise _HttpError(404, "404 Not found")
        return web.json_response(
            self._user_json(user) | {"access_level": project.members[user_id], "expires_at": None}
        )

    def _create_status(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """POST /projects/:id/statuses/:sha, as GitLab's CreateCommitStatusService does it."""
        project = self._project(match)
        sha = match["sha"]
        if sha not in project.commits:
            raise _HttpError(404, "404 Commit Not Found")
        state = params.get("state")
        if not state:
            raise _HttpError(400, "state is missing")
        if state not in _STATUS_EVENTS:
            raise _HttpError(400, "state does not have a valid value")
        description = params.get("description")
        if description is not None and len(description) > _MAX_STATUS_DESCRIPTION:
            raise _HttpError(400, "description is too long (maximum is 255 characters)")
        ref = params.get("ref") or next(
            (branch for branch in sorted(project.branches) if self._contains(project, branch, sha)), None
        )
        if ref is None:
            raise _HttpError(404, "404 References for commit Not Found")
        name = params.get("name") or params.get("context") or "default"
        status = next(
            (
                s
                for s in reversed(project.statuses)
                if (s.sha, s.ref, s.name, s.author) == (sha, ref, name, self._bot)
                and s.status in ("pending", "running")
            ),
            None,
        ) or _Status(next(self._ids), sha, ref, name, "created", None, None, self._bot, self._tick())
        event, sources = _STATUS_EVENTS[state]
        if status.status not in sources:
            raise _HttpError(
                400,
                f"Cannot transition status via :{event} from :{status.status} "
                f'(Reason(s): Status cannot transition via "{event}")',
            )
        status.status = state
        if "description" in params:
            status.description = description
        if "target_url" in params:
            status.target_url = params["target_url"]
        self._store_status(project, status)
        return web.json_response(self._status_json(status), status=201)

    def _list_statuses(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """GET .../repository/commits/:sha/statuses, oldest first; only the latest per name unless
        ``all`` is true."""
        project = self._project(match)
        sha = match["sha"]
        if sha not in project.commits:
            raise _HttpError(404, "404 Commit Not Found")
        statuses = [s for s in project.statuses if s.sha == sha]
        if str(params.get("all", "false")).lower() != "true":
            latest = {s.name: s for s in statuses}
            statuses = [s for s in statuses if latest[s.name] is s]
        return _paginated([self._status_json(s) for s in statuses], params, url)

    def _get_group_member(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        group = unquote(match["group"])
        if not self._is_group(group):
            raise _HttpError(404, "404 Group Not Found")
        user_id = int(match["user_id"])
        user = next((u for u in self._users.values() if u.id == user_id), None)
        ancestors = [group.rsplit("/", depth)[0] for depth in range(group.count("/") + 1)]
        levels = [self._group_members.get(path, {}).get(user_id) for path in ancestors]
        levels = [level for level in levels if level is not None]
        if user is None or not levels:
            raise _HttpError(404, "404 Not found")
        return web.json_response(
            self._user_json(user)
            | {"access_level": max(levels), "expires_at": None, "membership_state": "active"}
        )

    def _list_mr_pipelines(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        pipelines = [p for p in reversed(project.pipelines) if p.mr_iid == item.iid]  # newest first
        return _paginated([self._pipeline_json(project, p) for p in pipelines], params, url)

    def _create_mr_pipeline(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        pipeline = self._new_pipeline(project, item, item.sha, "created")
        project.pipeline_actions.append((pipeline.id, "create"))
        return web.json_response(self._pipeline_json(project, pipeline, detailed=True), status=201)

    def _create_pipeline(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """``POST /projects/:id/pipeline`` with ``ref`` and ``variables`` ([{key, value, variable_type}]):
        201 with the new pipeline; 400 when the ref is missing or names no branch, or a variable is
        malformed."""
        project = self._project(match)
        ref = params.get("ref")
        if not isinstance(ref, str) or not ref:
            raise _HttpError(400, "ref is missing")
        if ref not in project.branches:
            return web.json_response({"message": {"base": ["Reference not found"]}}, status=400)
        variables = params.get("variables") or []
        for variable in variables if isinstance(variables, list) else [None]:
            if not isinstance(variable, dict) or not re.fullmatch(r"[A-Za-z0-9_]+", str(variable.get("key", ""))) \
                    or not isinstance(variable.get("value"), str) \
                    or variable.get("variable_type", "env_var") not in ("env_var", "file"):
                raise _HttpError(400, "variables is invalid")
        now = self._tick()
        pipeline = _Pipeline(next(self._ids), len(project.pipelines) + 1, 0, project.branches[ref], "created", now,
                             now, ref=ref, variables=[dict(v) for v in variables])
        project.pipelines.append(pipeline)
        project.pipeline_actions.append((pipeline.id, "create"))
        return web.json_response(self._pipeline_json(project, pipeline, detailed=True), status=201)

    def _retry_pipeline(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project = self._project(match)
        pipeline_id = int(match["pipeline_id"])
        pipeline = next((p for p in project.pipelines if p.id == pipeline_id), None)
        if pipeline is None:
            raise _HttpError(404, "404 Not found")
        pipeline.status, pipeline.updated_at = "running", self._tick()
        project.pipeline_actions.append((pipeline.id, "retry"))
        return web.json_response(self._pipeline_json(project, pipeline, detailed=True), status=201)

    def _get_project(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        return web.json_response(self._project_json(self._project(match)))

    def _get_branch(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project = self._project(match)
        name = unquote(match["branch"])
        if name not in project.branches:
            raise _HttpError(404, "404 Branch Not Found")
        return web.json_response(self._branch_json(project, name))

    def _get_raw_file(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project = self._project(match)
        ref = params.get("ref") or _DEFAULT_BRANCH  # GitLab: the default branch's head when omitted
        commit = project.commits.get(project.branches.get(ref, ref))
        if commit is None:
            raise _HttpError(404, "404 Commit Not Found")
        content = commit.tree.get(unquote(match["file_path"]))
        if content is None:
            raise _HttpError(404, "404 File Not Found")
        return web.Response(
            body=content.encode(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Gitlab-Commit-Id": commit.sha, "X-Gitlab-Ref": ref},
        )

    def _compare(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """GET /projects/:id/repository/compare?from=&to=&straight=: the commits reachable from
        ``to`` and not from ``from`` (oldest first; ``commit`` is the newest) and the diffs between
        the trees: of ``from`` and ``to`` when ``straight`` is true, else of their merge base and
        ``to``.  As GitLab does, an unknown ``from`` or ``to`` is not an error: nothing is listed."""
        project = self._project(match)
        if "from" not in params or "to" not in params:
            raise _HttpError(400, "from is missing, to is missing")
        ref_from, ref_to = str(params["from"]), str(params["to"])
        base = project.commits.get(project.branches.get(ref_from, ref_from))
        head = project.commits.get(project.branches.get(ref_to, ref_to))
        straight = str(params.get("straight", "false")).lower() == "true"
        commits: list[_Commit] = []
        diffs: list[dict[str, Any]] = []
        if base is not None and head is not None and base.sha != head.sha:
            seen = set(self._ancestors(project, base.sha))
            commits = [project.commits[sha] for sha in self._ancestors(project, head.sha) if sha not in seen][::-1]
            start = base if straight else project.commits[self._merge_base(project, base.sha, head.sha)]
            for path in sorted(start.tree.keys() | head.tree.keys()):
                if start.tree.get(path) != head.tree.get(path):
                    old, new = start.tree.get(path), head.tree.get(path)
                    diffs.append({
                        "old_path": path, "new_path": path, "a_mode": _FILE_MODE if old is not None else "0",
                        "b_mode": _FILE_MODE if new is not None else "0", "new_file": old is None,
                        "renamed_file": False, "deleted_file": new is None,
                        "diff": f"@@ -1 +1 @@\n-{old or ''}\n+{new or ''}\n",
                    })
        commit_json = [{"id": c.sha, "short_id": c.sha[:8], "title": c.message, "message": c.message,
                        "parent_ids": [c.parent] if c.parent else [], "created_at": _iso(c.created_at)}
                       for c in commits]
        return web.json_response({
            "commit": commit_json[-1] if commit_json else None,
            "commits": commit_json,
            "diffs": diffs,
            "compare_timeout": False,
            "compare_same_ref": base is not None and head is not None and base.sha == head.sha,
            "web_url": f"{self.api_url}/{project.path}/-/compare/{ref_from}...{ref_to}",
        })

    def _ancestors(self, project: _Project, sha: str) -> list[str]:
        """``sha`` and its ancestors, newest first (the fake's history is linear per commit)."""
        found: list[str] = []
        current: str | None = sha
        while current is not None:
            found.append(current)
            current = project.commits[current].parent
        return found

    def _merge_base(self, project: _Project, a: str, b: str) -> str:
        ancestors = set(self._ancestors(project, a))
        return next(sha for sha in self._ancestors(project, b) if sha in ancestors)

    def _list_diffs(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        _, item = self._item(match)
        listed = item.changed_files[: self.diff_max_files]  # the rest overflowed GitLab's diff limits
        return _paginated([_diff_json(file) for file in listed], params, url)

    def _list_label_events(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        ids = self._label_ids(project)
        events = [
            {
                "id": event_id,
                "user": self._user_json(user),
                "created_at": _iso(when),
                "resource_type": "MergeRequest" if item.kind is ItemKind.PULL else "Issue",
                "resource_id": item.id,
                "label": {"id": ids.get(name), "name": name, "color": "#428BCA", "description": None},
                "action": action,
            }
            for event_id, action, user, name, when in item.label_events
        ]
        return _paginated(events, params, url)

    def _get_approvals(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        return web.json_response(self._approvals_json(project, item))

    def _list_items(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """GET /projects/:id/merge_requests or /issues: ``state`` (default all), ``labels`` (all
        must be on the item) and ``author_username`` filter; ordered by creation, newest first unless ``sort=asc``."""
        project = self._project(match)
        kind = _KINDS[match["kind"]]
        state = params.get("state", "all")
        if state not in _LIST_STATES:
            raise _HttpError(400, "state does not have a valid value")
        if params.get("order_by", "created_at") != "created_at":
            raise _HttpError(400, "order_by is not supported by this fake")
        labels = set(_split(params.get("labels")))
        author = str(params.get("author_username", "")).lower()
        source = params.get("source_branch")
        items = sorted(
            (
                item
                for item in project.items.values()
                if item.kind is kind and state in ("all", item.state) and labels <= set(item.labels)
                and author in ("", item.author.username.lower())
                and source in (None, item.source_branch)
            ),
            key=lambda item: item.iid,
        )
        if params.get("sort", "desc") != "asc":
            items.reverse()
        return _paginated([self._item_json(project, item, listed=True) for item in items], params, url)

    def _merge(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """PUT .../merge_requests/:iid/merge, in the order GitLab's API checks."""
        project, item = self._item(match)
        status = self._detailed_merge_status(item)
        if status not in ("mergeable", "conflict"):
            raise _HttpError(405, "405 Method Not Allowed")
        if status == "conflict":
            raise _HttpError(406, "Branch cannot be merged")
        sha = params.get("sha")
        if sha and sha != item.sha:
            raise _HttpError(409, f"SHA does not match HEAD of source branch: {item.sha}")
        squash = str(params.get("squash", "false")).lower() == "true"
        self._merge_into_main(project, item, squash)
        project.merges.append((item.iid, item.sha, squash))
        self._add_note(item, self._bot, "merged", system=True)
        return web.json_response(self._item_json(project, item))

    def _merge_into_main(self, project: _Project, item: _Item, squash: bool) -> None:
        tree = dict(project.commits[item.sha].tree)
        message = item.title if squash else f"Merge branch '{item.source_branch}' into '{_DEFAULT_BRANCH}'"
        item.merge_commit_sha = self._commit(project, _DEFAULT_BRANCH, tree, message)
        item.state, item.merged_at = "merged", self._time

    def _create_mr(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """POST /projects/:id/merge_requests between two branches of the project."""
        project = self._project(match)
        source, target, title = params.get("source_branch"), params.get("target_branch"), params.get("title")
        missing = [name for name, value in (("source_branch", source), ("target_branch", target),
                                            ("title", title)) if not value]
        if missing:
            raise _HttpError(400, f"{missing[0]} is missing")
        if source not in project.branches or target not in project.branches:
            raise _HttpError(400, "Invalid source or target branch")  # GitLab: 400 with a message map
        for other in project.items.values():
            if other.kind is ItemKind.PULL and other.state == "opened" and other.source_branch == source \
                    and other.target_branch == target:
                raise _HttpError(409, f"Another open merge request already exists for this source branch: !{other.iid}")
        item = self._new_item(project, ItemKind.PULL, self._bot.username, str(title), str(params.get("description") or ""))
        item.source, item.target_branch, item.sha = source, target, project.branches[source]
        return web.json_response(self._item_json(project, item), status=201)

    def _get_item(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        return web.json_response(self._item_json(*self._item(match)))

    def _update_item(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        if not _UPDATE_PARAMS & params.keys():
            raise _HttpError(400, "at least one parameter must be provided")
        if "add_labels" in params or "remove_labels" in params:
            self._change_labels(
                project, item, _split(params.get("add_labels")), _split(params.get("remove_labels"))
            )
        if "title" in params:
            if not str(params["title"]).strip():
                raise _HttpError(400, "title is empty")
            if params["title"] != item.title:
                self._add_note(item, self._bot, f"changed title from **{item.title}** to **{params['title']}**",
                               system=True)
            item.title = params["title"]
            if item.kind is ItemKind.PULL:  # GitLab's draft state is the title's prefix
                item.draft = _DRAFT_PREFIX.match(item.title) is not None
        if "milestone_id" in params:
            # GitLab clears the milestone for 0, an empty value, or an id that is not one of the
            # project's (IssuableBaseService#filter_milestone).
            wanted = str(params["milestone_id"] or "0")
            new = int(wanted) if wanted.isdigit() and int(wanted) in project.milestones else None
            if new != item.milestone:
                if new is None:
                    old = project.milestones[item.milestone]
                    self._add_note(item, self._bot, f"removed milestone %{old.iid}", system=True)
                else:
                    self._add_note(item, self._bot, f"changed milestone to %{project.milestones[new].iid}", system=True)
            item.milestone = new
        if "assignee_ids" in params:
            self._set_people(project, item, "assignees", params["assignee_ids"])
        if "reviewer_ids" in params and item.kind is ItemKind.PULL:
            self._set_people(project, item, "reviewers", params["reviewer_ids"])
        new_state = {"close": "closed", "reopen": "opened"}.get(params.get("state_event", ""))
        if new_state and item.state not in (new_state, "merged"):
            item.state = new_state
            self._add_note(item, self._bot, "closed" if new_state == "closed" else "reopened", system=True)
        return web.json_response(self._item_json(project, item))

    def _change_labels(self, project: _Project, item: _Item, add: list[str], remove: list[str],
                       actor: _User | None = None) -> None:
        actor = actor or self._bot  # the API acts as the bot
        for name in add:
            if name not in self._label_ids(project):
                project.labels[name] = next(self._ids)
        ids = self._label_ids(project)
        added = sorted(set(add) - set(item.labels))
        removed = sorted(set(remove) & set(item.labels) - set(add))
        item.labels = sorted(set(item.labels) - set(removed) | set(added))
        for action, names in (("add", added), ("remove", removed)):
            for name in names:
                item.label_events.append((next(self._ids), action, actor, name, self._tick()))
        changes = [
            f"{verb} {' '.join(f'~{ids[name]}' for name in names)} label{'s' if len(names) > 1 else ''}"
            for verb, names in (("added", added), ("removed", removed))
            if names
        ]
        if changes:
            self._add_note(item, actor, " and ".join(changes), system=True)

    def _set_people(self, project: _Project, item: _Item, field: str, ids: Any) -> None:
        """Set the item's assignees/reviewers to the members among ``ids``; others are dropped."""
        members = {user.id: user for user in self._users.values() if user.id in project.members}
        wanted = list({int(i): members[int(i)] for i in _split(ids) if int(i) in members}.values())
        current = getattr(item, field)
        setattr(item, field, wanted)
        added = [user for user in wanted if user not in current]
        removed = [user for user in current if user not in wanted]
        for verb, users in zip(_PEOPLE_NOTES[field], (added, removed), strict=True):
            if users:
                mentions = " ".join(f"@{user.username}" for user in users)
                self._add_note(item, self._bot, f"{verb} {mentions}", system=True)

    def _list_notes(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        notes = [self._note_json(project, item, note) for note in item.notes]
        if params.get("sort", "desc") != "asc":  # GitLab's default: newest first
            notes.reverse()
        return _paginated(notes, params, url)

    def _create_note(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        if not params.get("body"):
            raise _HttpError(400, "400 Bad request - Note can't be blank")
        if len(params["body"]) > _MAX_NOTE:
            raise _HttpError(400, f"Note is too long (maximum is {_MAX_NOTE} characters)")
        note = self._add_note(item, self._bot, params["body"])
        return web.json_response(self._note_json(project, item, note), status=201)

    def _update_note(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        project, item = self._item(match)
        note = next((n for n in item.notes if n.id == int(match["note_id"])), None)
        if note is None:
            raise _HttpError(404, "404 Not found")
        if not params.get("body"):
            raise _HttpError(400, "400 Bad request - Note can't be blank")
        if len(params["body"]) > _MAX_NOTE:
            raise _HttpError(400, f"Note is too long (maximum is {_MAX_NOTE} characters)")
        note.body = params["body"]
        return web.json_response(self._note_json(project, item, note))

    # ---- projects in scope and hooks (lock held) ----------------------------------------------

    def _list_projects(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        projects = list(self._projects.values())
        if str(params.get("membership", "")).lower() == "true":
            projects = [p for p in projects if self._access(p.path, self._bot) > 0]
        return _paginated(self._projects_json(projects, params), params, url)

    def _list_group_projects(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        group = unquote(match["group"])
        if not self._is_group(group):
            raise _HttpError(404, "404 Group Not Found")
        nested = str(params.get("include_subgroups", "")).lower() == "true"
        projects = [
            p for p in self._projects.values()
            if p.path.startswith(f"{group}/") and (nested or p.path.rsplit("/", 1)[0] == group)
        ]
        return _paginated(self._projects_json(projects, params), params, url)

    def _list_user_projects(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        user = self._users.get(unquote(match["user"]).lower())
        if user is None:
            raise _HttpError(404, "404 User Not Found")
        projects = [p for p in self._projects.values() if p.path.rsplit("/", 1)[0].lower() == user.username.lower()]
        return _paginated(self._projects_json(projects, params), params, url)

    def _projects_json(self, projects: list[_Project], params: dict[str, Any]) -> list[dict[str, Any]]:
        archived = str(params.get("archived", "")).lower()
        if archived in ("true", "false"):
            projects = [p for p in projects if p.archived == (archived == "true")]
        return [self._project_json(p) for p in sorted(projects, key=lambda p: p.id)]

    def _project_json(self, project: _Project) -> dict[str, Any]:
        namespace, _, name = project.path.rpartition("/")
        return {
            "id": project.id,
            "name": name,
            "path": name,
            "path_with_namespace": project.path,
            "name_with_namespace": project.path.replace("/", " / "),
            "archived": project.archived,
            "default_branch": _DEFAULT_BRANCH,
            "web_url": f"{self.api_url}/{project.path}",
            "namespace": {"full_path": namespace, "path": namespace.rsplit("/", 1)[-1],
                          "kind": "group" if self._is_group(namespace) else "user"},
        }

    def _access(self, path: str, user: _User, *, project: bool = True) -> int:
        """A user's access level on a project (or group) path, inherited from its ancestor groups."""
        levels = [self._projects[path].members.get(user.id, 0)] if project and path in self._projects else []
        parts = path.split("/")
        for depth in range(1, len(parts) + (0 if project else 1)):
            levels.append(self._group_members.get("/".join(parts[:depth]), {}).get(user.id, 0))
        return max(levels, default=0)

    def _hook_owner(self, match: re.Match[str]) -> tuple[str, str]:
        """(kind, path) of a hooks route the bot may read: a project's hooks need Maintainer, a
        group's Owner; GitLab answers 403 otherwise."""
        kind, owner = match["kind"], unquote(match["owner"])
        if kind == "projects":
            project = self._project_by(match["owner"])
            if self._access(project.path, self._bot) < _ACCESS_LEVELS[Permission.MAINTAIN]:
                raise _HttpError(403, "403 Forbidden")
            return kind, project.path
        if not self._is_group(owner):
            raise _HttpError(404, "404 Group Not Found")
        if self._access(owner, self._bot, project=False) < _ACCESS_LEVELS[Permission.ADMIN]:
            raise _HttpError(403, "403 Forbidden")
        return kind, owner

    def _hook_of(self, match: re.Match[str]) -> _GlHook:
        kind, owner = self._hook_owner(match)
        hook = self._hooks.get(int(match["hook_id"]))
        if hook is None or hook.kind != kind or hook.path != owner:
            raise _HttpError(404, "404 Not found")
        return hook

    def _list_hooks(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        kind, owner = self._hook_owner(match)
        hooks = [h for h in self._hooks.values() if h.kind == kind and h.path == owner]
        return _paginated([self._hook_json(h) for h in hooks], params, url)

    def _list_events(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """The last 7 days, newest first, at most 20 a page."""
        hook = self._hook_of(match)
        if not 1 <= int(params.get("per_page", 20)) <= _MAX_EVENTS_PER_PAGE:
            return web.json_response({"error": "per_page does not have a valid value"}, status=400)
        cutoff = datetime.now(UTC) - _EVENTS_KEPT
        events = [e for e in reversed(hook.events) if e.created_at >= cutoff]
        return _paginated([_event_json(e) for e in events], params, url)

    def _hook_json(self, hook: _GlHook) -> dict[str, Any]:
        data = {
            "id": hook.id,
            "url": hook.url,
            "name": "",
            "description": "",
            "push_events": False,
            "issues_events": True,
            "merge_requests_events": True,
            "note_events": True,
            "enable_ssl_verification": True,
            "alert_status": "executable",
            "disabled_until": None,
            "created_at": _iso(_EPOCH),
        }
        data["project_id" if hook.kind == "projects" else "group_id"] = (
            self._projects[hook.path].id if hook.kind == "projects" else 0
        )
        return data

    def _project(self, match: re.Match[str]) -> _Project:
        return self._project_by(match["project"])

    def _project_by(self, raw: str) -> _Project:
        """The project a path segment names: its URL-encoded full path, or its id."""
        key = unquote(raw)
        project = self._projects.get(key) or next(
            (p for p in self._projects.values() if str(p.id) == key), None
        )
        if project is None:
            raise _HttpError(404, "404 Project Not Found")
        return project

    def _item(self, match: re.Match[str]) -> tuple[_Project, _Item]:
        """The item a matched path names (``_MR`` paths name only merge requests)."""
        project = self._project(match)
        item = project.items.get((_KINDS[match["kind"]], int(match["iid"])))
        if item is None:
            raise _HttpError(404, "404 Not found")
        return project, item

    # ---- REST representations ------------------------------------------------------------

    def _user_json(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.username.title(),
            "state": "active",
            "locked": False,
            "avatar_url": f"{self.api_url}/uploads/-/system/user/avatar/{user.id}/avatar.png",
            "web_url": f"{self.api_url}/{user.username}",
        }

    def _milestone_json(self, project: _Project, milestone_id: int) -> dict[str, Any]:
        milestone = project.milestones[milestone_id]
        return {
            "id": milestone.id,
            "iid": milestone.iid,
            "project_id": project.id,
            "title": milestone.title,
            "description": "",
            "state": milestone.state,
            "created_at": _iso(_EPOCH),
            "updated_at": _iso(self._time),
            "due_date": None,
            "start_date": None,
            "expired": False,
            "web_url": f"{self.api_url}/{project.path}/-/milestones/{milestone.iid}",
        }

    def _list_milestones(self, match: re.Match[str], params: dict[str, Any], url: URL) -> web.Response:
        """``state`` active or closed (all without it).  GitLab documents no order; the fake's is
        creation order.  ``include_ancestors`` is accepted: the fake has no group milestones."""
        project = self._project(match)
        wanted = params.get("state")
        if wanted not in (None, "active", "closed"):
            raise _HttpError(400, "state does not have a valid value")
        found = [m for m in project.milestones.values() if wanted in (None, m.state)]
        return _paginated([self._milestone_json(project, m.id) for m in found], params, url)

    def _web_url(self, project: _Project, item: _Item) -> str:
        kind = "merge_requests" if item.kind is ItemKind.PULL else "issues"
        return f"{self.api_url}/{project.path}/-/{kind}/{item.iid}"

    def _detailed_merge_status(self, item: _Item) -> str:
        """GitLab's first failing check: not open, then draft, then the seeded status."""
        if item.state != "opened":
            return "not_open"
        return "draft_status" if item.draft else item.merge_status

    def _item_json(self, project: _Project, item: _Item, listed: bool = False) -> dict[str, Any]:
        """An MR or issue as GitLab answers for it alone, or (``listed``) in a list."""
        data = {
            "id": item.id,
            "iid": item.iid,
            "project_id": project.id,
            "title": item.title,
            "description": item.description,
            "state": item.state,
            "created_at": _iso(item.created_at),
            "updated_at": _iso(self._time),
            "closed_at": None,
            "labels": list(item.labels),
            "milestone": self._milestone_json(project, item.milestone) if item.milestone else None,
            "author": self._user_json(item.author),
            "assignee": self._user_json(item.assignees[0]) if item.assignees else None,
            "assignees": [self._user_json(user) for user in item.assignees],
            "user_notes_count": sum(not note.system for note in item.notes),
            "web_url": self._web_url(project, item),
        }
        if item.kind is ItemKind.ISSUE:
            return data | {"type": "ISSUE", "issue_type": "issue", "confidential": False}
        data |= {
            "target_branch": item.target_branch,
            "source_branch": item.source_branch,
            "source_project_id": project.id,
            "target_project_id": project.id,
            "reviewers": [self._user_json(user) for user in item.reviewers],
            "draft": item.draft,
            "work_in_progress": item.draft,
            "sha": item.sha,
            "merge_commit_sha": item.merge_commit_sha,
            "squash_commit_sha": None,
            "has_conflicts": item.merge_status == "conflict",
            "merge_status": _MERGE_STATUSES[item.merge_status],
            "detailed_merge_status": self._detailed_merge_status(item),
            "merged_at": _iso(item.merged_at) if item.merged_at else None,
        }
        if not self.detailed_merge_status:
            del data["detailed_merge_status"]
        if not listed:  # GitLab computes these only for one MR
            count = len(item.changed_files)
            over = count > self.diff_max_files
            data["changes_count"] = f"{self.diff_max_files}+" if over else (str(count) if count else None)
        return data

    def _branch_json(self, project: _Project, name: str) -> dict[str, Any]:
        commit = project.commits[project.branches[name]]
        return {
            "name": name,
            "commit": {
                "id": commit.sha,
                "short_id": commit.sha[:8],
                "created_at": _iso(commit.created_at),
                "parent_ids": [commit.parent] if commit.parent else [],
                "title": commit.message,
                "message": commit.message,
                "author_name": self.bot_login,
                "author_email": f"{self.bot_login}@example.com",
                "authored_date": _iso(commit.created_at),
                "committer_name": self.bot_login,
                "committer_email": f"{self.bot_login}@example.com",
                "committed_date": _iso(commit.created_at),
                "trailers": {},
                "extended_trailers": {},
                "web_url": f"{self.api_url}/{project.path}/-/commit/{commit.sha}",
            },
            "merged": False,
            "protected": name == _DEFAULT_BRANCH,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "default": name == _DEFAULT_BRANCH,
            "web_url": f"{self.api_url}/{project.path}/-/tree/{name}",
        }

    def _status_json(self, status: _Status) -> dict[str, Any]:
        finished = status.status in ("success", "failed", "canceled", "skipped")
        return {
            "id": status.id,
            "sha": status.sha,
            "ref": status.ref,
            "status": status.status,
            "name": status.name,
            "target_url": status.target_url,
            "description": status.description,
            "created_at": _iso(status.created_at),
            "started_at": None,
            "finished_at": _iso(self._time) if finished else None,
            "allow_failure": False,
            "coverage": None,
            "pipeline_id": None,
            "author": self._user_json(status.author),
        }

    def _pipeline_json(
        self, project: _Project, pipeline: _Pipeline, detailed: bool = False
    ) -> dict[str, Any]:
        """A pipeline as GitLab lists it, or (``detailed``) as it answers for one pipeline."""
        data = {
            "id": pipeline.id,
            "iid": pipeline.iid,
            "project_id": project.id,
            "sha": pipeline.sha,
            "ref": pipeline.ref or f"refs/merge-requests/{pipeline.mr_iid}/head",
            "status": pipeline.status,
            "source": "api" if pipeline.ref else "merge_request_event",
            "created_at": _iso(pipeline.created_at),
            "updated_at": _iso(pipeline.updated_at),
            "web_url": f"{self.api_url}/{project.path}/-/pipelines/{pipeline.id}",
        }
        if not detailed:
            return data
        return data | {
            "before_sha": "0" * 40,
            "tag": False,
            "yaml_errors": None,
            "user": self._user_json(self._bot),
            "started_at": None,
            "finished_at": None,
            "committed_at": None,
            "duration": None,
            "queued_duration": None,
            "coverage": None,
            "detailed_status": {"text": pipeline.status, "group": pipeline.status},
        }

    def _approvals_json(self, project: _Project, item: _Item) -> dict[str, Any]:
        """GET .../approvals as GitLab Free answers it: approvals are optional (none required)."""
        return {
            "id": item.id,
            "iid": item.iid,
            "project_id": project.id,
            "title": item.title,
            "description": item.description,
            "state": item.state,
            "created_at": _iso(item.created_at),
            "updated_at": _iso(self._time),
            "merge_status": "can_be_merged",
            "approved": bool(item.approved_by),
            "approvals_required": 0,
            "approvals_left": 0,
            "require_password_to_approve": False,
            "approved_by": [{"user": self._user_json(user)} for user in item.approved_by],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": self._bot in item.approved_by,
            "user_can_approve": self._bot not in item.approved_by and self._bot != item.author,
            "approval_rules_left": [],
            "has_approval_rules": False,
            "merge_request_approvers_available": False,
            "multiple_approval_rules_available": False,
            "invalid_approvers_rules": [],
        }

    def _note_json(self, project: _Project, item: _Item, note: _Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "author": self._user_json(note.author),
            "created_at": _iso(note.created_at),
            "updated_at": _iso(note.created_at),
            "system": note.system,
            "noteable_id": item.id,
            "noteable_type": "MergeRequest" if item.kind is ItemKind.PULL else "Issue",
            "noteable_iid": item.iid,
            "project_id": project.id,
            "resolvable": False,
            "confidential": False,
            "internal": False,
        }

    # ---- webhooks (built on GitLab's documented examples) ------------------------------------

    def _hook_user(self, user: _User) -> dict[str, Any]:
        return _MR_HOOK["user"] | {
            "id": user.id,
            "name": user.username.title(),
            "username": user.username,
            "email": f"{user.username}@example.com",
        }

    def _hook_project(self, project: _Project) -> dict[str, Any]:
        web_url = f"{self.api_url}/{project.path}"
        git_ssh_url = f"git@127.0.0.1:{project.path}.git"
        return _MR_HOOK["project"] | {
            "id": project.id,
            "name": project.path.rsplit("/", 1)[-1],
            "description": "",
            "web_url": web_url,
            "git_ssh_url": git_ssh_url,
            "git_http_url": f"{web_url}.git",
            "namespace": project.path.rsplit("/", 1)[0],
            "path_with_namespace": project.path,
            "default_branch": _DEFAULT_BRANCH,
            "homepage": web_url,
            "url": f"{web_url}.git",
            "ssh_url": git_ssh_url,
            "http_url": f"{web_url}.git",
        }

    def _hook_repository(self, project: _Project) -> dict[str, Any]:
        web_url = f"{self.api_url}/{project.path}"
        name = project.path.rsplit("/", 1)[-1]
        return {"name": name, "url": f"{web_url}.git", "description": "", "homepage": web_url}

    def _hook_attrs(self, project: _Project, item: _Item) -> dict[str, Any]:
        """The item as GitLab describes it in hooks: MR/Issue Hook ``object_attributes`` and a
        Note Hook's ``merge_request``/``issue``."""
        ids = self._label_ids(project)
        labels = [
            {
                "id": ids[name],
                "title": name,
                "color": "#428BCA",
                "project_id": project.id if name in project.labels else None,
                "created_at": _hook_time(item.created_at),
                "updated_at": _hook_time(item.created_at),
                "template": False,
                "description": None,
                "type": "ProjectLabel" if name in project.labels else "GroupLabel",
                "group_id": None,
            }
            for name in item.labels
        ]
        attrs = {
            "id": item.id,
            "iid": item.iid,
            "title": item.title,
            "description": item.description,
            "author_id": item.author.id,
            "assignee_ids": [user.id for user in item.assignees],
            "assignee_id": item.assignees[0].id if item.assignees else None,
            "created_at": _hook_time(item.created_at),
            "updated_at": _hook_time(self._time),
            "state_id": _STATE_IDS[item.state],
            "state": item.state,
            "url": self._web_url(project, item),
            "labels": labels,
        }
        if item.kind is ItemKind.ISSUE:
            return attrs | {"project_id": project.id, "confidential": False, "type": "Issue"}
        template = {k: v for k, v in _MR_HOOK["object_attributes"].items() if k != "action"}
        return (
            template
            | attrs
            | {
                "target_branch": item.target_branch,
                "source_branch": item.source_branch,
                "source_project_id": project.id,
                "target_project_id": project.id,
                "reviewer_ids": [user.id for user in item.reviewers],
                "draft": item.draft,
                "work_in_progress": item.draft,
                "source": self._hook_project(project),
                "target": self._hook_project(project),
                "last_commit": {
                    "id": item.sha,
                    "message": "A change\n",
                    "title": "A change",
                    "timestamp": _iso(self._time),
                    "url": f"{self.api_url}/{project.path}/-/commit/{item.sha}",
                    "author": {
                        "name": item.author.username.title(),
                        "email": f"{item.author.username}@example.com",
                    },
                },
            }
        )

    def _item_hook(self, project: _Project, item: _Item, actor: _User, action: str,
                   changes: dict[str, Any] | None = None, **extra: str) -> Delivery:
        attrs = self._hook_attrs(project, item) | {"action": action, **extra}
        kind = "merge_request" if item.kind is ItemKind.PULL else "issue"
        payload = {
            "object_kind": kind,
            "event_type": kind,
            "user": self._hook_user(actor),
            "project": self._hook_project(project),
            "repository": self._hook_repository(project),
            "object_attributes": attrs,
            "labels": attrs["labels"],
            "changes": changes or {},
            "assignees": [self._hook_user(user) for user in item.assignees],
            "reviewers": [self._hook_user(user) for user in item.reviewers],
        }
        if item.kind is ItemKind.ISSUE:
            del payload["reviewers"]
        return self.delivery("Merge Request Hook" if kind == "merge_request" else "Issue Hook", payload)

    def _note_hook(self, project: _Project, item: _Item, note: _Note) -> Delivery:
        is_pull = item.kind is ItemKind.PULL
        payload = copy.deepcopy(_NOTE_HOOK)
        del payload["merge_request"]
        payload |= {
            "user": self._hook_user(note.author),
            "project_id": project.id,
            "project": self._hook_project(project),
            "repository": self._hook_repository(project),
            "merge_request" if is_pull else "issue": self._hook_attrs(project, item),
        }
        payload["object_attributes"] |= {
            "id": note.id,
            "note": note.body,
            "noteable_type": "MergeRequest" if is_pull else "Issue",
            "author_id": note.author.id,
            "created_at": _hook_time(note.created_at),
            "updated_at": _hook_time(note.created_at),
            "project_id": project.id,
            "noteable_id": item.id,
            "system": False,
            "action": "create",
            "url": f"{self._web_url(project, item)}#note_{note.id}",
        }
        return self.delivery("Note Hook", payload)

    def delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
        """The webhook the forge would send for ``payload`` (also for payloads a test builds itself)."""
        headers = {
            "Content-Type": "application/json",
            "X-Gitlab-Event": event,
            "X-Gitlab-Token": self.webhook_secret,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "Idempotency-Key": str(uuid.uuid4()),  # GitLab 17.4+: kept when the event is resent
            "X-Gitlab-Instance": self.api_url,
        }
        return Delivery("/hook/gitlab", headers, json.dumps(payload).encode())


def _event_json(event: _HookEvent) -> dict[str, Any]:
    """A hook event as GET .../hooks/:id/events lists it (API::Entities::WebHookLog)."""
    headers = dict(event.headers)
    if "X-Gitlab-Token" in headers:
        headers["X-Gitlab-Token"] = "[REDACTED]"
    return {
        "id": event.id,
        "url": event.url,
        "trigger": event.trigger,
        "request_headers": headers,
        "request_data": json.loads(event.body),
        "response_headers": event.response_headers,
        "response_body": event.response_body,
        "execution_duration": event.execution_duration,
        "response_status": event.response_status,
        "created_at": _iso(event.created_at),
    }


def _paginated(items: list[Any], params: dict[str, Any], url: URL) -> web.Response:
    """One page of ``items`` with the headers GitLab sends (offset pagination)."""
    per_page = min(max(int(params.get("per_page", 20)), 1), 100)
    page = max(int(params.get("page", 1)), 1)
    total_pages = max(math.ceil(len(items) / per_page), 1)
    links = [("prev", page - 1), ("next", page + 1), ("first", 1), ("last", total_pages)]
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Total": str(len(items)),
        "X-Total-Pages": str(total_pages),
        "X-Next-Page": str(page + 1) if page < total_pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "Link": ", ".join(
            f'<{url.update_query(page=n, per_page=per_page)}>; rel="{rel}"'
            for rel, n in links
            if 1 <= n <= total_pages
        ),
    }
    return web.json_response(items[(page - 1) * per_page : page * per_page], headers=headers)


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _failure_response(failure: _Failure) -> web.Response:
    response = _message(
        failure.status, failure.message or f"{failure.status} {HTTPStatus(failure.status).phrase}"
    )
    if failure.status == 429:  # GitLab sends the seconds to wait; 0 keeps tests fast
        response.headers["Retry-After"] = str(failure.retry_after or 0)
    return response


def _split(value: Any) -> list[str]:
    """A GitLab array parameter, sent as a JSON list or a comma-separated string."""
    values = value.split(",") if isinstance(value, str) else value or []
    return [str(v).strip() for v in values if str(v).strip()]


def _new_sha() -> str:
    return hashlib.sha1(uuid.uuid4().bytes).hexdigest()


def _checked_files(files: Iterable[ChangedFile]) -> list[ChangedFile]:
    files = list(files)
    for file in files:
        if file.status not in _CHANGE_STATUSES:
            raise ValueError(f"{file.path}: status is one of {sorted(_CHANGE_STATUSES)}, not {file.status!r}")
        if (file.status == "renamed") != (file.previous_path is not None):
            raise ValueError(f"{file.path}: a rename, and only a rename, names its previous_path")
    return files


def _diff_json(file: ChangedFile) -> dict[str, Any]:
    """One entry of GET .../merge_requests/:iid/diffs; the diff text is a stand-in."""
    added, removed = file.status == "added", file.status == "removed"
    diffs = {
        "added": "@@ -0,0 +1 @@\n+new\n",
        "removed": "@@ -1 +0,0 @@\n-old\n",
        "renamed": "",  # a pure rename has no hunks
        "modified": "@@ -1 +1 @@\n-old\n+new\n",
    }
    if file.additions or file.deletions:  # seeded counts: one hunk with that many lines out and in
        lines = ["-old"] * file.deletions + ["+new"] * file.additions
        diffs[file.status] = f"@@ -1,{file.deletions} +1,{file.additions} @@\n" + "\n".join(lines) + "\n"
    return {
        "old_path": file.previous_path or file.path,
        "new_path": file.path,
        "a_mode": "0" if added else _FILE_MODE,
        "b_mode": "0" if removed else _FILE_MODE,
        "new_file": added,
        "renamed_file": file.status == "renamed",
        "deleted_file": removed,
        "generated_file": False,
        "diff": diffs[file.status],
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hook_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
