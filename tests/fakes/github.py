"""FakeGitHub: the slice of GitHub's REST API that prowlet's adapter uses, plus the webhooks people cause.

Response shapes follow recorded api.github.com responses; webhook payloads start from the real examples
in ``tests/fixtures/github`` with the fake's state written over them.  Rules copied from GitHub:
issue and PR numbers share one sequence per repository; only collaborators (read or better) can be
assigned, anyone else is silently dropped; review requests for non-collaborators or the PR's author
are refused with 422; unknown labels are created when added; ``/`` in a label name must be
escaped in a URL; a pending review is visible only to its author; a PR lists at most 3000 files; a
commit-status description has at most 140 characters and the combined status shows the latest status of
each context; private organisation membership shows only to the organisation's members and to Apps
(anyone else is redirected to the public-membership check); a workflow run that is re-run keeps its id,
is queued again and counts one more attempt, and one that is not finished cannot be re-run.

Each repository holds a small git model: branches point at commits, and every commit keeps its whole
tree, so a file reads as it was at any commit.  A PR's head is a commit with its base's tree (a PR's
files are set apart, with ``set_changed_files``).  Times come from a fake clock that starts at
2026-01-01T00:00:00Z and moves one second for each time it gives (an item opened or closed, a
comment, a review submitted), so comments and reviews order by time.

Merging: a PR's ``mergeable_state`` is seeded with ``set_mergeable`` (default "clean"; a draft shows
"draft", a merged PR "unknown" with ``mergeable`` null, as GitHub gives them).  The merge endpoint
refuses as GitHub does: a PR that is not open or is a draft (405), a ``sha`` that is not the head (409),
"dirty" (405, not mergeable), "blocked" (405, as branch protection wanting a review), "behind" (405).
A merge, by the bot or by a person (``merge``), closes the PR as merged and commits onto "main" what the
PR changes (its head's tree where it differs from where the PR started: the head's whole tree when main
has not moved), so later reads see it; ``merges`` lists the bot's merges.

Test-only extras: ``fail_next`` injects failures, ``register_app`` turns on GitHub App
authentication, ``merge`` merges a PR as a person would, ``start_review`` leaves a pending review,
``dismiss_review`` dismisses one, ``delete_user`` deletes an account (its reviews then list with
``user: null``).  CI: ``add_check_run``, ``add_org_member`` and ``add_workflow_run`` seed what other
systems would create; ``statuses`` and ``reruns`` show what the bot posted and re-ran.
``requests`` records paths as sent (percent-encoded).

GraphQL (``POST /api/graphql``, where GitHub Enterprise serves it): one query only, the open-PR
listing merge automation sends (``_OPEN_PULLS_QUERY``, compared as text with whitespace folded;
any other query gets GitHub's 200 with ``errors``).  It answers from the same state as REST: open
PRs oldest first, 100 a page with an opaque cursor, labels (100 at most, with ``totalCount``),
``mergeable`` / ``mergeStateStatus`` from the seeded merge state, and the head's status rollup —
the latest status per context and the latest check run per App and name, 100 at most.  It is not
a GraphQL engine: no other fields, fragments or arguments.  Queries are not content-creating
requests, so ``limit_writes`` does not count them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import shutil
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
from aiohttp import web

from bot.forge.base import ChangedFile, Permission
from tests.fakes import git
from tests.fakes.git import GitMirror
from tests.fakes.base import Answer, Delivery, HookSender, RecordedRequest, WriteLimit, conditional

_PREFIX = "/api/v3"
_GRAPHQL = "/api/graphql"  # GitHub Enterprise's GraphQL endpoint, beside /api/v3
_OPEN_PULLS_QUERY = """
query OpenPulls($owner: String!, $name: String!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [OPEN], first: 100, after: $cursor, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number title body url isDraft headRefOid headRefName baseRefName mergeable mergeStateStatus
        author { login }
        labels(first: 100) { totalCount nodes { name } }
        assignees(first: 100) { nodes { login } }
        commits(last: 1) { nodes { commit { statusCheckRollup { contexts(first: 100) { totalCount nodes {
          __typename
          ... on StatusContext { context state description targetUrl createdAt }
          ... on CheckRun { databaseId name status conclusion title detailsUrl startedAt completedAt }
        } } } } } }
      }
    }
  }
}
"""
_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
_TEMPLATE_REPO = "Codertocat/Hello-World"  # the repository every fixture used as a template names
_ROLE_NAMES = {
    Permission.ADMIN: "admin",
    Permission.MAINTAIN: "maintain",
    Permission.WRITE: "write",
    Permission.TRIAGE: "triage",
    Permission.READ: "read",
}
# the legacy ``permission`` field knows only admin/write/read
_LEGACY_NAMES = {**_ROLE_NAMES, Permission.MAINTAIN: "write", Permission.TRIAGE: "read"}
_REVIEW_STATES = ("approved", "changes_requested", "commented")
# every status GitHub gives a PR's file; set_changed_files also takes GitHub's own beyond the neutral four
_FILE_STATUSES = ("added", "removed", "modified", "renamed", "copied", "changed", "unchanged")
_MAX_PULL_FILES = 3000  # GitHub lists no more of a PR's files
_MAX_CONTENTS = 1024 * 1024  # the contents API gives no content for a larger file
_STATUS_STATES = ("error", "failure", "pending", "success")
_MAX_DESCRIPTION = 140  # a longer commit-status description is refused
_MAX_COMMENT = 65_536  # a longer issue/PR comment body is refused (422)
_CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
_CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
    "startup_failure",
)
_CANNOT_RERUN = "This workflow run cannot be rerun"  # GitHub's 403, e.g. for a run over 30 days old
_DEFAULT_BRANCH = "main"
# every mergeable_state GitHub gives a PR; "unknown" while it computes it (then ``mergeable`` is null)
_MERGEABLE_STATES = ("clean", "unstable", "has_hooks", "dirty", "blocked", "behind", "draft", "unknown")
_MERGE_METHODS = ("merge", "squash", "rebase")
# GitHub's 405s for a PR it will not merge; "behind" and draft are the fake's own words (not recorded)
_NOT_MERGEABLE = "Pull Request is not mergeable"
_MERGE_REFUSALS = {
    "dirty": _NOT_MERGEABLE,
    "blocked": "At least 1 approving review is required by reviewers with write access.",
    "behind": "Head branch is not up to date with the base branch",
}
_HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
# what ``GET /pulls/N`` gives beyond an entry of the PR list ("pull-request" vs "pull-request-simple")
_PULL_DETAIL_ONLY = (
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the fake clock's first reading
_APP_ROUTE = "app"  # routes authenticated with the App's JWT instead of a token
_LOGIN = web.RequestKey("login", str)  # who the request's token belongs to
_BY_INSTALLATION = web.RequestKey("by_installation", bool)  # the token is an App installation's
_SCOPE = web.RequestKey("scope", str)  # the lower-cased owner an installation token is scoped to
_APP_HOOK = 0  # the App's own hook, among the hooks (an App has exactly one)
_NO_ANSWER_CODE = 0  # status_code of a delivery that got no HTTP answer


@dataclass
class _Comment:
    id: int
    number: int  # of the issue or PR it is on
    author: str
    body: str
    created_at: str
    updated_at: str


@dataclass
class _Review:
    id: int
    author: str
    body: str
    commit_id: str
    state: str  # "pending" | "approved" | "changes_requested" | "commented" | "dismissed"
    submitted_at: str | None = None  # None while pending


@dataclass
class _Item:
    id: int
    number: int
    author: str
    title: str
    body: str
    is_pull: bool
    created_at: str
    draft: bool = False
    state: str = "open"  # "open" | "closed"
    merged_by: str | None = None  # set when merged
    closed_at: str | None = None
    state_reason: str | None = None  # issues: "completed" | "not_planned" | "reopened" once changed
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    comments: list[_Comment] = field(default_factory=list)
    head_sha: str | None = None
    base_sha: str | None = None  # main's head when the PR was opened: where its changes start from
    mergeable_state: str = "clean"  # as seeded with set_mergeable
    merge_commit_sha: str | None = None  # set when merged
    files: list[ChangedFile] = field(default_factory=list)  # what the PR changes, as its files API lists it
    reviews: list[_Review] = field(default_factory=list)  # in creation order, as GitHub lists them
    team_reviewers: list[str] = field(default_factory=list)  # slugs of the teams asked to review
    base_ref: str = "main"  # the branch a PR targets
    head_ref: str | None = None  # the PR's source branch when not topic-<number> (a PR opened through the API)
    # (event, actor, label, created_at) for each label added ("labeled") or removed ("unlabeled")
    # through the API or by a person (``label``), oldest first: the issue events API lists them
    label_events: list[tuple[str, str, str, str]] = field(default_factory=list)
    milestone: int | None = None  # the number of its milestone


@dataclass
class _Milestone:
    id: int
    number: int
    title: str
    state: str = "open"  # "open" | "closed"


@dataclass
class _Status:
    id: int
    context: str
    state: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str


@dataclass
class _CheckRun:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    app: str  # the slug of the App that made it; "latest" is per App and name
    started_at: str
    completed_at: str | None
    title: str | None


@dataclass
class _WorkflowRun:
    id: int
    workflow_id: int
    name: str  # the workflow's name
    path: str  # its file
    head_sha: str
    run_number: int
    event: str
    status: str  # "queued" | "in_progress" | "completed" | ...
    conclusion: str | None
    created_at: str
    updated_at: str
    rerunnable: bool = True
    run_attempt: int = 1
    head_branch: str = "main"


@dataclass
class _Workflow:
    """A workflow file that can be dispatched (``add_workflow``)."""

    id: int
    name: str
    path: str  # .github/workflows/<file>
    dispatchable: bool  # has an ``on: workflow_dispatch`` trigger
    inputs: dict[str, dict[str, Any]]  # name → {"required": bool, "options": [...]} as declared


@dataclass
class _Repo:
    id: int
    full_name: str
    labels: dict[str, str] = field(default_factory=dict)  # lower-cased name → name
    permissions: dict[str, Permission] = field(default_factory=dict)  # lower-cased login → level
    items: dict[int, _Item] = field(default_factory=dict)
    comments: dict[int, _Comment] = field(default_factory=dict)  # by id, for PATCH /issues/comments/ID
    commits: dict[str, dict[str, str]] = field(default_factory=dict)  # sha → its whole tree: path → text
    branches: dict[str, str] = field(default_factory=dict)  # name → head sha
    statuses: dict[str, list[_Status]] = field(default_factory=dict)  # sha → every status, as posted
    check_runs: dict[str, list[_CheckRun]] = field(default_factory=dict)  # sha → in creation order
    workflows: dict[str, int] = field(default_factory=dict)  # lower-cased workflow name → workflow id
    runs: dict[int, _WorkflowRun] = field(default_factory=dict)  # by id, in creation order
    workflow_files: dict[str, _Workflow] = field(default_factory=dict)  # file name → dispatchable workflow
    dispatches: list[tuple[str, str, dict[str, Any], int]] = field(default_factory=list)  # (file, ref, inputs, run id)
    reruns: list[tuple[int, str]] = field(default_factory=list)  # (run id, "rerun" | "rerun-failed-jobs")
    merges: list[tuple[int, str, str]] = field(default_factory=list)  # API merges: (number, head sha, method)
    parents: dict[str, list[str]] = field(default_factory=dict)  # sha → its parents, where the fake records them
    git: GitMirror | None = None  # a real repository behind it (``enable_git``)
    archived: bool = False
    milestones: dict[int, _Milestone] = field(default_factory=dict)  # by number

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]


@dataclass
class _HookDelivery:
    """One attempt to deliver a webhook to a hook, as GitHub records it."""

    id: int
    guid: str
    delivered_at: str
    redelivery: bool
    duration: float
    status: str  # "OK", "Invalid HTTP Response: 503", "failed to connect to host", "timed out"
    status_code: int  # 0 when there was no HTTP answer
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    headers: dict[str, str]
    body: bytes


@dataclass
class _Hook:
    id: int
    kind: str  # "Repository" | "Organization" | "App"
    owner: str  # the repository's full name or the organisation's login ("" for the App's hook)
    url: str
    deliveries: list[_HookDelivery] = field(default_factory=list)  # oldest first


@dataclass
class _App:
    id: str
    public_key: str
    slug: str


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    message: str
    times: int
    retry_after: int | None = None  # seconds, sent as Retry-After with a 403/429
    effect: bool = False  # the request takes effect before the failure is answered (a lost answer)


class _Abort(Exception):
    """Raised by a handler to answer with GitHub's JSON error body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = _error(status, message, **extra)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"message": message, **extra, "documentation_url": "https://docs.github.com/rest"}
    return web.json_response(body, status=status)


def _now(delta: timedelta = timedelta()) -> str:
    """Real time: for what a client checks against its own clock (token expiry)."""
    return _iso(datetime.now(UTC) + delta)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    name = "github"

    def __init__(self, webhook_secret: str = "gh-secret", token: str = "gh-token", bot_login: str = "prowlet-bot"):
        self.webhook_secret = webhook_secret
        self.token = token
        self.bot_login = bot_login
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        self._users: dict[str, tuple[str, int]] = {}  # lower-cased login → (login, id)
        self._repos: dict[str, _Repo] = {}  # by lower-cased full name
        self._requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self.write_limit: WriteLimit | None = None
        # False: act like a GitHub Enterprise Server from before February 2026, whose workflow
        # dispatch ignores return_run_details and always answers 204.
        self.dispatch_run_details = True
        self._app: _App | None = None
        self._installations: dict[str, int] = {}  # lower-cased owner → installation id
        self._installation_tokens: dict[str, str] = {}  # token → lower-cased owner it is scoped to
        self._orgs: dict[str, dict[str, bool]] = {}  # lower-cased org → lower-cased member login → public
        self._teams: dict[tuple[str, str], set[str]] = {}  # (org, team slug) lower-cased → repos it may access
        self._team_members: dict[tuple[str, str], set[str]] = {}  # (org, team slug) lower-cased → logins
        self._clock = _EPOCH - timedelta(seconds=1)  # the time of the latest event
        self._deleted: set[str] = set()  # lower-cased logins of deleted accounts
        self._hooks: dict[int, _Hook] = {}  # by id; the App's hook is _APP_HOOK
        self._port = 0
        self._git_root: Path | None = None  # where enable_git puts the repositories
        self.add_user(bot_login)

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._port}{_PREFIX}"

    @property
    def _web_url(self) -> str:  # where html_url points, as on GitHub Enterprise
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> FakeGitHub:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="FakeGitHub", daemon=True)
        self._thread.start()
        self._runner = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        self._sender = HookSender(self._loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._sender.close()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        if self._git_root is not None:
            shutil.rmtree(self._git_root, ignore_errors=True)

    async def _start(self) -> web.AppRunner:
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler, name in self._routes():
            app.router.add_route(method, _PREFIX + path, self._endpoint(handler), name=name)
        app.router.add_route("POST", _GRAPHQL, self._endpoint(self._graphql))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._port = runner.addresses[0][1]
        return runner

    # ---- seeding ---------------------------------------------------------------------------

    def add_repo(self, repo: str, labels: Iterable[str] = ()) -> None:
        with self._lock:
            self._user(repo.split("/")[0])
            state = self._repos.get(repo.lower())
            if state is None:
                state = self._repos[repo.lower()] = _Repo(id=next(self._ids), full_name=repo)
                state.branches[_DEFAULT_BRANCH] = self._commit(state, {})  # one empty commit on "main"
            for label in labels:
                state.labels[label.lower()] = label

    def enable_git(self, repo: str) -> GitMirror:
        """Serve ``repo`` over git's smart HTTP protocol at ``<web url>/<repo>.git`` (fetch and push
        with the bot's token as the Basic password): branches and ``refs/pull/N/head`` as the fake
        holds them; a pushed branch becomes a branch of the fake."""
        with self._lock:
            if self._git_root is None:
                self._git_root = Path(tempfile.mkdtemp(prefix="fakegithub-git-"))
            state = self._repo(repo)
            if state.git is None:
                state.git = GitMirror(self._git_root, state.full_name)
            return state.git

    def add_user(self, login: str) -> None:
        with self._lock:
            self._user(login)

    def set_permission(self, repo: str, login: str, level: Permission) -> None:
        with self._lock:
            state = self._repo(repo)
            self._user(login)
            if level is Permission.NONE:
                state.permissions.pop(login.lower(), None)
            else:
                state.permissions[login.lower()] = level

    def set_labels(self, repo: str, number: int, labels: Iterable[str]) -> None:
        with self._lock:
            state = self._repo(repo)
            names = []
            for label in labels:
                if label.lower() not in state.labels:
                    raise ValueError(f"label {label!r} is not defined in {repo}")
                names.append(state.labels[label.lower()])
            self._item(state, number).labels = names

    def register_app(self, app_id: str | int, public_key_pem: str, slug: str) -> None:
        """Accept GitHub App authentication: JWTs signed by the App's key, then installation tokens.
        The App is installed on every account that owns a repository here, and on every organisation."""
        with self._lock:
            self._app = _App(id=str(app_id), public_key=public_key_pem, slug=slug)
            self._user(f"{slug}[bot]")

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1, message: str | None = None,
                  *, retry_after: int | None = None, effect: bool = False) -> None:
        """Answer the next ``times`` requests whose method matches and whose path (without the API
        prefix) matches ``path_regex`` (``re.search``) with ``status`` and a JSON ``message``
        (a 403/429 with ``Retry-After: retry_after`` when given), without any effect — or, with
        ``effect``, after the request took effect (as when GitHub saves a comment, then fails)."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), re.compile(path_regex), status,
                                           message or HTTPStatus(status).phrase, times, retry_after, effect))

    def add_org_member(self, org: str, login: str, *, public: bool = True) -> None:
        """Make ``login`` a member of the organisation ``org`` (created on first use).  GitHub makes a
        membership private until its member publicises it; ``public=False`` tests that: a private
        member shows only to members of ``org`` (e.g. ``add_org_member(org, fake.bot_login)``) and
        to Apps."""
        with self._lock:
            self._user(org)
            self._orgs.setdefault(org.lower(), {})[self._user(login).lower()] = public

    def add_team(self, org: str, slug: str, repos: Iterable[str] = (), members: Iterable[str] = ()) -> None:
        """A team of ``org`` with access to ``repos`` (a review can be requested from it there) and
        ``members`` (active members, as the team membership endpoint shows them)."""
        with self._lock:
            self._user(org)
            self._teams[(org.lower(), slug.lower())] = {repo.lower() for repo in repos}
            self._team_members[(org.lower(), slug.lower())] = {self._user(m).lower() for m in members}

    def team_reviewers(self, repo: str, number: int) -> set[str]:
        """The slugs of the teams whose review the PR requests."""
        with self._lock:
            return set(self._item(self._repo(repo), number).team_reviewers)

    def add_hook(self, repo_or_org: str, url: str) -> int:
        """A webhook on a repository ("owner/name") or an organisation (created on first use);
        returns its id.  ``send`` delivers to it."""
        with self._lock:
            if "/" in repo_or_org:
                kind, owner = "Repository", self._repo(repo_or_org).full_name
            else:
                kind, owner = "Organization", self._user(repo_or_org)
                self._orgs.setdefault(owner.lower(), {})
            hook = _Hook(next(self._ids), kind, owner, url)
            self._hooks[hook.id] = hook
            return hook.id

    def set_app_hook(self, url: str) -> None:
        """The App's webhook URL (after ``register_app``): every installation's events go there."""
        with self._lock:
            if self._app is None:
                raise ValueError("register_app first")
            self._hooks[_APP_HOOK] = _Hook(_APP_HOOK, "App", "", url)

    def set_archived(self, repo: str, archived: bool = True) -> None:
        with self._lock:
            self._repo(repo).archived = archived

    def add_check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        status: str = "completed",
        conclusion: str | None = None,
        *,
        app: str = "github-actions",
        title: str | None = None,
    ) -> int:
        """A check run on a commit, as an App (``app``, its slug) would create it; returns its id.
        ``conclusion`` goes with "completed" and only with it.  A later run of the same ``app`` and
        ``name`` hides the earlier one from the default ("latest") listing."""
        if status not in _CHECK_STATUSES:
            raise ValueError(f"check run status must be one of {_CHECK_STATUSES}")
        if (status == "completed") != (conclusion is not None) or conclusion not in (None, *_CONCLUSIONS):
            raise ValueError(f"a completed check run, and only one, has a conclusion from {_CONCLUSIONS}")
        with self._lock:
            state = self._repo(repo)
            self._commit_of(state, sha)
            started_at = self._tick()
            completed_at = self._tick() if status == "completed" else None
            run = _CheckRun(next(self._ids), name, sha, status, conclusion, app, started_at, completed_at, title)
            state.check_runs.setdefault(sha, []).append(run)
            return run.id

    def add_status(self, repo: str, sha: str, context: str, state: str, *, creator: str = "jenkins-bot",
                   description: str | None = None, target_url: str | None = None) -> Delivery:
        """A commit status another system posts (external CI, Jenkins, another replica of the bot),
        and the ``status`` webhook GitHub sends for it: it names the sha and no PR."""
        if state not in _STATUS_STATES:
            raise ValueError(f"status state must be one of {_STATUS_STATES}")
        with self._lock:
            repo_state = self._repo(repo)
            self._commit_of(repo_state, sha)
            status = _Status(next(self._ids), context, state, description, target_url, self._user(creator), self._tick())
            repo_state.statuses.setdefault(sha, []).append(status)
            payload = self._payload("status__none__2", repo_state, creator)
            payload.update(id=status.id, sha=sha, name=repo_state.full_name, context=context, state=state,
                           description=description, target_url=target_url,
                           created_at=status.created_at, updated_at=status.created_at)
            payload["commit"] = {**payload["commit"], "sha": sha, "node_id": f"C_{sha[:12]}"}
        return self.delivery("status", payload)

    def add_workflow_run(
        self,
        repo: str,
        head_sha: str,
        name: str,
        conclusion: str | None,
        run_number: int | None = None,
        *,
        status: str | None = None,
        rerunnable: bool = True,
        event: str = "pull_request",
    ) -> int:
        """A GitHub Actions run of the workflow ``name`` (created on first use) for ``head_sha``;
        returns the run's id.  ``conclusion`` None: the run is in progress (or ``status``).
        ``run_number`` defaults to one more than the workflow's highest.  A run with
        ``rerunnable=False`` is refused re-runs with GitHub's 403, as for a run over 30 days old."""
        if conclusion not in (None, *_CONCLUSIONS):
            raise ValueError(f"conclusion must be None or one of {_CONCLUSIONS}")
        status = status or ("completed" if conclusion else "in_progress")
        if (status == "completed") != (conclusion is not None) or status not in _CHECK_STATUSES:
            raise ValueError("a completed run, and only one, has a conclusion")
        with self._lock:
            state = self._repo(repo)
            self._commit_of(state, head_sha)
            workflow_id = state.workflows.setdefault(name.lower(), next(self._ids))
            if run_number is None:
                numbers = [r.run_number for r in state.runs.values() if r.workflow_id == workflow_id]
                run_number = max(numbers, default=0) + 1
            created_at = self._tick()
            run = _WorkflowRun(
                id=next(self._ids),
                workflow_id=workflow_id,
                name=name,
                path=f".github/workflows/{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.yml",
                head_sha=head_sha,
                run_number=run_number,
                event=event,
                status=status,
                conclusion=conclusion,
                created_at=created_at,
                updated_at=created_at,
                rerunnable=rerunnable,
            )
            state.runs[run.id] = run
            return run.id

    def add_workflow(self, repo: str, file: str, *, dispatchable: bool = True,
                     inputs: dict[str, dict[str, Any]] | None = None, name: str | None = None) -> int:
        """A workflow file ``.github/workflows/<file>`` that ``POST .../dispatches`` can start (with an
        ``on: workflow_dispatch`` trigger unless ``dispatchable`` is False); ``inputs`` as declared
        there: ``{"environment": {"required": True, "options": ["staging", "prod"]}}``."""
        with self._lock:
            state = self._repo(repo)
            name = name or file.rsplit(".", 1)[0]
            workflow_id = state.workflows.setdefault(name.lower(), next(self._ids))
            state.workflow_files[file] = _Workflow(workflow_id, name, f".github/workflows/{file}", dispatchable,
                                                   dict(inputs or {}))
            return workflow_id

    def finish_run(self, repo: str, run_id: int, conclusion: str) -> Delivery:
        """A workflow run ends: its ``workflow_run`` ``completed`` webhook (sent by the run's actor)."""
        if conclusion not in _CONCLUSIONS:
            raise ValueError(f"conclusion must be one of {_CONCLUSIONS}")
        with self._lock:
            state = self._repo(repo)
            run = state.runs[run_id]
            run.status, run.conclusion, run.updated_at = "completed", conclusion, self._tick()
            payload = self._payload("workflow_run__completed__1", state, self.bot_login,
                                    workflow_run=self._workflow_run_json(state, run))
        return self.delivery("workflow_run", payload)

    def dispatches(self, repo: str) -> list[tuple[str, str, dict[str, Any], int]]:
        """(workflow file, ref, inputs, run id) of every accepted ``workflow_dispatch``, in order."""
        with self._lock:
            return list(self._repo(repo).dispatches)

    # ---- things people do ------------------------------------------------------------------

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
        """A PR from ``topic-<number>`` onto "main"; ``files``: what it changes (see ``set_changed_files``)."""
        files = _changed_files(files)
        with self._lock:
            state = self._repo(repo)
            item = self._new_item(state, author, title, body, is_pull=True)
            item.draft = draft
            item.files = files
            item.base_sha = state.branches[_DEFAULT_BRANCH]
            item.head_sha = self._commit(state, state.commits[item.base_sha])
            state.branches[_head_branch(item.number)] = item.head_sha
            payload = self._payload(
                "pull_request__opened__1", state, author, number=item.number, pull_request=self._pull_json(state, item)
            )
        return item.number, self.delivery("pull_request", payload)

    def open_issue(self, repo: str, author: str, title: str = "A bug", body: str = "") -> tuple[int, Delivery]:
        with self._lock:
            state = self._repo(repo)
            item = self._new_item(state, author, title, body, is_pull=False)
            payload = self._payload("issues__opened__1", state, author, issue=self._issue_json(state, item))
        return item.number, self.delivery("issues", payload)

    def comment(self, repo: str, number: int, author: str, body: str) -> Delivery:
        with self._lock:
            state = self._repo(repo)
            item = self._item(state, number)
            comment = self._add_comment(state, item, self._user(author), body)
            payload = self._payload(
                "issue_comment__created__1",
                state,
                author,
                issue=self._issue_json(state, item),
                comment=self._comment_json(state, item, comment),
            )
        return self.delivery("issue_comment", payload)

    def push(self, repo: str, number: int, pusher: str, *, files: dict[str, str | None] | None = None) -> Delivery:
        """A new head commit: its tree is the old head's with ``files`` written over it (None
        deletes a path); without ``files`` the tree is the same (a rebase, squash or reword)."""
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            tree = dict(state.commits[item.head_sha])
            for path, content in (files or {}).items():
                if content is None:
                    tree.pop(path, None)
                else:
                    tree[path] = content
            before, item.head_sha = item.head_sha, self._commit(state, tree)
            state.branches[_head_branch(number)] = item.head_sha
            payload = self._payload(
                "pull_request__synchronize__1",
                state,
                pusher,
                number=number,
                before=before,
                after=item.head_sha,
                pull_request=self._pull_json(state, item),
            )
        return self.delivery("pull_request", payload)

    def review(self, repo: str, number: int, author: str, state: str, body: str = "") -> Delivery:
        if state not in _REVIEW_STATES:
            raise ValueError(f"review state must be one of {_REVIEW_STATES}")
        with self._lock:
            repo_state = self._repo(repo)
            item = self._pull(repo_state, number)
            login = self._user(author)
            # a submitted review answers the request for it
            item.reviewers = [r for r in item.reviewers if r.lower() != login.lower()]
            # as on GitHub, submitting finishes the author's pending review, which keeps its place
            review = self._pending_review(item, login)
            if review is None:
                review = _Review(next(self._ids), login, body, item.head_sha, state)
                item.reviews.append(review)
            review.state, review.body, review.commit_id = state, body or review.body, item.head_sha
            review.submitted_at = self._tick()
            payload = self._payload(
                "pull_request_review__submitted__1",
                repo_state,
                login,
                review=self._review_json(repo_state, item, review, hook=True),
                pull_request=self._pull_json(repo_state, item),
            )
        return self.delivery("pull_request_review", payload)

    def edit_pull(self, repo: str, number: int, editor: str, *, title: str | None = None,
                  draft: bool | None = None, base: str | None = None, body: str | None = None) -> Delivery:
        """A person changes a PR's title (pull_request edited, with ``changes.title.from``), its
        base branch (edited, with ``changes.base.ref.from`` and ``changes.base.sha.from``; the branch
        must exist) or its draft state (converted_to_draft / ready_for_review): one change per call."""
        if [title, draft, base, body].count(None) != 3:
            raise ValueError("give one of a new title, a draft state, a base branch or a body")
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            extra: dict[str, Any] = {}
            if title is not None:
                action, extra["changes"] = "edited", {"title": {"from": item.title}}
                item.title = title
            elif body is not None:
                action, extra["changes"] = "edited", {"body": {"from": item.body}}
                item.body = body
            elif base is not None:
                if base not in state.branches:
                    raise ValueError(f"no branch {base!r} in {repo}")
                extra["changes"] = {"base": {"ref": {"from": item.base_ref}, "sha": {"from": item.base_sha}}}
                action, item.base_ref, item.base_sha = "edited", base, state.branches[base]
            else:
                action, item.draft = ("converted_to_draft" if draft else "ready_for_review"), bool(draft)
            payload = self._payload("pull_request__opened__1", state, editor, action=action, number=number,
                                    pull_request=self._pull_json(state, item), **extra)
        return self.delivery("pull_request", payload)

    def label(self, repo: str, number: int, who: str, label: str, *, add: bool = True) -> Delivery:
        """A person adds (or removes) a label in the web UI: pull_request / issues labeled or
        unlabeled, with ``label``; the issue events API records who did it."""
        with self._lock:
            state = self._repo(repo)
            item = self._item(state, number)
            name = state.labels[label.lower()]
            present = name in item.labels
            if add and not present:
                item.labels.append(name)
            elif not add and present:
                item.labels.remove(name)
            action = "labeled" if add else "unlabeled"
            if add != present:
                item.label_events.append((action, self._user(who), name, self._tick()))
            fields: dict[str, Any] = {"action": action, "label": self._label_json(state, name)}
            if item.is_pull:
                payload = self._payload("pull_request__opened__1", state, who, number=number,
                                        pull_request=self._pull_json(state, item), **fields)
                return self.delivery("pull_request", payload)
            payload = self._payload("issues__opened__1", state, who, issue=self._issue_json(state, item), **fields)
        return self.delivery("issues", payload)

    def start_review(self, repo: str, number: int, author: str, body: str = "") -> None:
        """A pending review (not part of FakeForge): started, not submitted, so no webhook.  GitHub
        shows it to its author alone; ``review`` by the same author submits it."""
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            login = self._user(author)
            if self._pending_review(item, login) is not None:
                raise ValueError(f"{login} already has a pending review on {repo}#{number}")
            item.reviews.append(_Review(next(self._ids), login, body, item.head_sha, "pending"))

    def dismiss_review(self, repo: str, number: int, author: str, dismisser: str) -> Delivery:
        """Dismiss ``author``'s latest approving or change-requesting review (not part of FakeForge):
        pull_request_review dismissed.  The review keeps its submitted_at."""
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            login = self._user(author)
            review = next(
                (
                    r
                    for r in reversed(item.reviews)
                    if r.author.lower() == login.lower() and r.state in ("approved", "changes_requested")
                ),
                None,
            )
            if review is None:
                raise ValueError(f"{login} has no review to dismiss on {repo}#{number}")
            review.state = "dismissed"
            payload = self._payload(
                "pull_request_review__dismissed__1",
                state,
                dismisser,
                review=self._review_json(state, item, review, hook=True),
                pull_request=self._pull_json(state, item),
            )
        return self.delivery("pull_request_review", payload)

    def set_file(self, repo: str, path: str, content: str | None, branch: str = _DEFAULT_BRANCH) -> str:
        """Commit ``content`` at ``path`` on ``branch`` (None deletes it); returns the new head sha.
        A branch that does not exist yet starts from "main"."""
        parts = path.split("/")
        if not all(parts) or any(part in (".", "..") for part in parts):
            raise ValueError(f"not a repository path: {path!r}")
        with self._lock:
            state = self._repo(repo)
            tree = dict(state.commits[state.branches.get(branch, state.branches[_DEFAULT_BRANCH])])
            if content is None:
                tree.pop(path, None)
            else:
                prefix = f"{path}/"
                if any(other.startswith(prefix) or path.startswith(f"{other}/") for other in tree):
                    raise ValueError(f"{path!r} would be both a file and a directory in {repo}")
                tree[path] = content
            state.branches[branch] = sha = self._commit(state, tree)
            for item in state.items.values():  # a PR's head follows its source branch
                if item.is_pull and _head_branch(item.number) == branch:
                    item.head_sha = sha
        return sha

    def head_branch(self, repo: str, number: int) -> str:
        return _head_branch(number)

    def set_changed_files(self, repo: str, number: int, files: Iterable[ChangedFile]) -> None:
        """What the PR changes, as ``GET /pulls/N/files`` will list it (at most 3000 of them).  Besides
        the neutral four, a status may be one of GitHub's own: "copied", "changed", "unchanged"."""
        files = _changed_files(files)
        with self._lock:
            self._pull(self._repo(repo), number).files = files

    def delete_user(self, login: str) -> None:
        """Delete an account (not part of FakeForge): its reviews then list with ``user: null``, as
        the REST schema allows.  (GitHub shows the rest of a deleted account's work as @ghost; the
        fake leaves that as it was.)"""
        with self._lock:
            self._deleted.add(self._user(login).lower())

    def set_mergeable(self, repo: str, number: int, state: str) -> None:
        """What GitHub says of merging the PR (``mergeable_state``): one of "clean" (the default),
        "unstable", "has_hooks", "dirty" (a conflict), "blocked" (branch protection), "behind",
        "draft", "unknown" (being computed: ``mergeable`` null).  The merge endpoint refuses "dirty",
        "blocked" and "behind"."""
        if state not in _MERGEABLE_STATES:
            raise ValueError(f"mergeable_state must be one of {_MERGEABLE_STATES}")
        with self._lock:
            self._pull(self._repo(repo), number).mergeable_state = state

    def merge(self, repo: str, number: int, merger: str) -> Delivery:
        """A person merges an open PR (not part of FakeForge), whatever its mergeable_state: its
        changes land on "main", and pull_request closed with merged true.  Not in ``merges``."""
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            if item.state != "open":
                raise ValueError(f"{repo}#{number} is not open")
            self._merge_into_base(state, item, self._user(merger))
            payload = self._payload(
                "pull_request__closed__1", state, merger, number=number, pull_request=self._pull_json(state, item)
            )
        return self.delivery("pull_request", payload)

    def send(self, delivery: Delivery, *, answer_lost: bool = False) -> list[int | None]:
        """Deliver ``delivery`` as GitHub would: to every hook of its repository, of the repository's
        organisation, and the App's hook (with an App); each attempt is recorded with what the
        receiver answered (``None``: no answer: refused, or with ``answer_lost`` timed out).
        Returns the status per hook.  Blocks: call it from a thread whose loop does not serve the
        receiver (``asyncio.to_thread`` from a test that runs prowlet)."""
        payload = json.loads(delivery.body)
        full_name = str((payload.get("repository") or {}).get("full_name") or "")
        with self._lock:
            hooks = [
                hook for hook in self._hooks.values()
                if (hook.kind == "Repository" and hook.owner.lower() == full_name.lower())
                or (hook.kind == "Organization" and hook.owner.lower() == full_name.split("/")[0].lower())
                or (hook.kind == "App" and self._app is not None)
            ]
        return [
            self._sender.run(self._attempt(hook, delivery.headers, delivery.body, answer_lost=answer_lost))
            for hook in hooks
        ]

    def hooks_idle(self, timeout: float = 30) -> None:
        """Wait until every redelivery asked for has been attempted (blocks, like ``send``)."""
        self._sender.idle(timeout)

    async def _attempt(
        self, hook: _Hook, headers: dict[str, str], body: bytes, *, redelivery: bool = False, answer_lost: bool = False
    ) -> int | None:
        """POST to the hook's URL and record the attempt (on the fake's loop, the lock not held)."""
        answer = await self._sender.post(hook.url, headers, body, answer_lost=answer_lost)
        payload = json.loads(body)
        with self._lock:
            hook.deliveries.append(_HookDelivery(
                id=next(self._ids),
                guid=headers["X-GitHub-Delivery"],
                delivered_at=_now(),
                redelivery=redelivery,
                duration=round(answer.seconds, 2),
                status=_delivery_status(answer),
                status_code=answer.status if answer.status is not None else _NO_ANSWER_CODE,
                event=headers["X-GitHub-Event"],
                action=payload.get("action"),
                installation_id=(payload.get("installation") or {}).get("id"),
                repository_id=(payload.get("repository") or {}).get("id"),
                headers=dict(headers),
                body=body,
            ))
        return answer.status

    # ---- inspection ------------------------------------------------------------------------

    def hook_deliveries(self, hook_id: int = _APP_HOOK) -> list[tuple[str, bool, int]]:
        """(guid, redelivery, status_code) of every attempt to deliver to the hook, oldest first."""
        with self._lock:
            return [(d.guid, d.redelivery, d.status_code) for d in self._hooks[hook_id].deliveries]

    def labels(self, repo: str, number: int) -> set[str]:
        with self._lock:
            return set(self._item(self._repo(repo), number).labels)

    def comments(self, repo: str, number: int) -> list[tuple[str, str]]:
        with self._lock:
            return [(c.author, c.body) for c in self._item(self._repo(repo), number).comments]

    def assignees(self, repo: str, number: int) -> set[str]:
        with self._lock:
            return set(self._item(self._repo(repo), number).assignees)

    def reviewers(self, repo: str, number: int) -> set[str]:
        with self._lock:
            return set(self._item(self._repo(repo), number).reviewers)

    def state(self, repo: str, number: int) -> str:
        with self._lock:
            item = self._item(self._repo(repo), number)
            return "merged" if item.merged_by else item.state

    def title(self, repo: str, number: int) -> str:
        with self._lock:
            return self._item(self._repo(repo), number).title

    def add_milestone(self, repo: str, title: str, *, closed: bool = False) -> int:
        """A milestone of the repository; returns its number."""
        with self._lock:
            state = self._repo(repo)
            number = len(state.milestones) + 1
            state.milestones[number] = _Milestone(next(self._ids), number, title, "closed" if closed else "open")
            return number

    def milestone(self, repo: str, number: int) -> str | None:
        """The title of the item's milestone, None when it has none."""
        with self._lock:
            state = self._repo(repo)
            item = self._item(state, number)
            return state.milestones[item.milestone].title if item.milestone else None

    def state_reason(self, repo: str, number: int) -> str | None:
        """An issue's ``state_reason`` (not part of FakeForge: GitLab has none)."""
        with self._lock:
            return self._item(self._repo(repo), number).state_reason

    def head_sha(self, repo: str, number: int) -> str:
        with self._lock:
            return self._pull(self._repo(repo), number).head_sha

    def statuses(self, repo: str, sha: str) -> list[tuple[str, str, str | None, str | None]]:
        """(context, state, description, target_url) of every status posted on ``sha``, in order."""
        with self._lock:
            entries = self._repo(repo).statuses.get(sha, [])
            return [(s.context, s.state, s.description, s.target_url) for s in entries]

    def reruns(self, repo: str) -> list[tuple[int, str]]:
        """(run id, "rerun" | "rerun-failed-jobs") of every re-run asked for, in order."""
        with self._lock:
            return list(self._repo(repo).reruns)

    def merges(self, repo: str) -> list[tuple[int, str, str]]:
        """(number, head sha, method) of every merge made through the API, in order."""
        with self._lock:
            return list(self._repo(repo).merges)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # ---- state helpers (called with the lock held) -----------------------------------------

    def _user(self, login: str) -> str:
        """The canonical spelling of ``login``, creating the user on first use."""
        return self._users.setdefault(login.lower(), (login, next(self._ids)))[0]

    def _repo(self, repo: str) -> _Repo:
        try:
            return self._repos[repo.lower()]
        except KeyError:
            raise KeyError(f"no repository {repo!r}; call add_repo first") from None

    def _item(self, state: _Repo, number: int) -> _Item:
        try:
            return state.items[number]
        except KeyError:
            raise KeyError(f"no issue or PR {state.full_name}#{number}") from None

    def _pull(self, state: _Repo, number: int) -> _Item:
        item = self._item(state, number)
        if not item.is_pull:
            raise ValueError(f"{state.full_name}#{number} is an issue, not a PR")
        return item

    def _new_item(self, state: _Repo, author: str, title: str, body: str, *, is_pull: bool) -> _Item:
        number = len(state.items) + 1  # issues and PRs share the sequence
        item = _Item(next(self._ids), number, self._user(author), title, body, is_pull, created_at=self._tick())
        state.items[number] = item
        return item

    def _add_comment(self, state: _Repo, item: _Item, author: str, body: str) -> _Comment:
        created_at = self._tick()
        comment = _Comment(next(self._ids), item.number, author, body, created_at=created_at, updated_at=created_at)
        item.comments.append(comment)
        state.comments[comment.id] = comment
        return comment

    def _commit_of(self, state: _Repo, ref: str) -> str:
        """The sha a commit ref (a sha or a branch) names; KeyError when none."""
        sha = state.branches.get(ref, ref)
        if sha not in state.commits:
            raise KeyError(f"no commit {ref!r} in {state.full_name}")
        return sha

    def _commit(self, state: _Repo, tree: dict[str, str]) -> str:
        """A new commit with (a copy of) ``tree``; returns its sha."""
        sha = hashlib.sha1(f"{state.full_name}:commit:{next(self._ids)}".encode()).hexdigest()
        state.commits[sha] = dict(tree)
        return sha

    def _tick(self) -> str:
        """The fake clock: one second later than the last event, for a new one."""
        self._clock += timedelta(seconds=1)
        return _iso(self._clock)

    def _merge_into_base(self, state: _Repo, item: _Item, merger: str) -> str:
        """Close ``item`` as merged: a commit on "main" with what the PR changes (every path where
        its head differs from where it started) over main's tree as it is now.  Returns its sha.
        (Whatever the method, one commit: the fake keeps no history to rebase or squash.)"""
        start, head = state.commits[item.base_sha], state.commits[item.head_sha]
        tree = dict(state.commits[state.branches[_DEFAULT_BRANCH]])
        for path in start.keys() | head.keys():
            if start.get(path) != head.get(path):
                if path in head:
                    tree[path] = head[path]
                else:
                    tree.pop(path, None)
        before = state.branches[_DEFAULT_BRANCH]
        sha = state.branches[_DEFAULT_BRANCH] = self._commit(state, tree)
        state.parents[sha] = [before]  # as a squash merge: one commit on top of main
        item.state, item.merged_by, item.closed_at, item.merge_commit_sha = "closed", merger, self._tick(), sha
        return sha

    def _mergeable_state(self, item: _Item) -> str:
        if item.merged_by:
            return "unknown"  # GitHub no longer computes it
        if item.draft and item.mergeable_state not in ("dirty", "unknown"):
            return "draft"
        return item.mergeable_state

    def _pending_review(self, item: _Item, login: str) -> _Review | None:
        return next((r for r in item.reviews if r.state == "pending" and r.author.lower() == login.lower()), None)

    def _level(self, state: _Repo, login: str) -> Permission:
        return state.permissions.get(login.lower(), Permission.NONE)

    def _association(self, state: _Repo, login: str) -> str:
        if login.lower() == state.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if self._level(state, login) else "NONE"

    def _installation_id(self, owner: str) -> int:
        return self._installations.setdefault(owner.lower(), next(self._ids))

    # ---- JSON shapes (as recorded from api.github.com) -------------------------------------

    def _api_path(self, state: _Repo, rest: str = "") -> str:
        return f"{self.api_url}/repos/{state.full_name}" + (f"/{rest}" if rest else "")

    def _html_url(self, state: _Repo, item: _Item) -> str:
        return f"{self._web_url}/{state.full_name}/{'pull' if item.is_pull else 'issues'}/{item.number}"

    def _user_json(self, login: str) -> dict[str, Any]:
        login, user_id = self._users[login.lower()]
        url = f"{self.api_url}/users/{quote(login)}"
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self._web_url}/{quote(login)}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
        }

    def _repo_json(self, state: _Repo) -> dict[str, Any]:
        return {
            "id": state.id,
            "node_id": f"R_{state.id}",
            "name": state.full_name.split("/")[1],
            "full_name": state.full_name,
            "private": False,
            "owner": self._user_json(state.owner),
            "html_url": f"{self._web_url}/{state.full_name}",
            "url": self._api_path(state),
            "default_branch": "main",
            "archived": state.archived,
        }

    def _milestone_json(self, state: _Repo, number: int | None) -> dict[str, Any] | None:
        if number is None:
            return None
        milestone = state.milestones[number]
        items = [item for item in state.items.values() if item.milestone == number]
        return {
            "url": self._api_path(state, f"milestones/{number}"),
            "html_url": f"{self._web_url}/{state.full_name}/milestone/{number}",
            "labels_url": self._api_path(state, f"milestones/{number}/labels"),
            "id": milestone.id,
            "node_id": f"MI_{milestone.id}",
            "number": number,
            "state": milestone.state,
            "title": milestone.title,
            "description": None,
            "creator": self._user_json(state.owner),
            "open_issues": sum(item.state == "open" for item in items),
            "closed_issues": sum(item.state == "closed" for item in items),
            "created_at": _iso(self._clock),
            "updated_at": _iso(self._clock),
            "closed_at": None,
            "due_on": None,
        }

    def _label_json(self, state: _Repo, name: str) -> dict[str, Any]:
        label_id = zlib.crc32(f"{state.full_name}:{name}".encode())
        return {
            "id": label_id,
            "node_id": f"LA_{label_id}",
            "url": self._api_path(state, f"labels/{quote(name, safe='')}"),
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _issue_json(self, state: _Repo, item: _Item) -> dict[str, Any]:
        api = self._api_path(state, f"issues/{item.number}")
        data = {
            "url": api,
            "repository_url": self._api_path(state),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": self._html_url(state, item),
            "id": item.id,
            "node_id": f"I_{item.id}",
            "number": item.number,
            "title": item.title,
            "user": self._user_json(item.author),
            "labels": [self._label_json(state, name) for name in item.labels],
            "state": item.state,
            "locked": False,
            "assignee": self._user_json(item.assignees[0]) if item.assignees else None,
            "assignees": [self._user_json(login) for login in item.assignees],
            "milestone": self._milestone_json(state, item.milestone),
            "comments": len(item.comments),
            "created_at": item.created_at,
            "updated_at": _iso(self._clock),
            "closed_at": item.closed_at,
            "author_association": self._association(state, item.author),
            "active_lock_reason": None,
            "body": item.body or None,
            "state_reason": item.state_reason,
        }
        if item.is_pull:
            pull_api = self._api_path(state, f"pulls/{item.number}")
            data["draft"] = item.draft
            data["pull_request"] = {
                "url": pull_api,
                "html_url": data["html_url"],
                "diff_url": f"{data['html_url']}.diff",
                "patch_url": f"{data['html_url']}.patch",
                "merged_at": item.closed_at if item.merged_by else None,
            }
        return data

    def _pull_json(self, state: _Repo, item: _Item, *, listed: bool = False) -> dict[str, Any]:
        """A PR as ``GET /pulls/N`` gives it or, ``listed``, as an entry of ``GET /pulls`` (without
        mergeability, merge state and counts)."""
        issue = self._issue_json(state, item)
        api = self._api_path(state, f"pulls/{item.number}")
        branch = {"repo": self._repo_json(state), "user": self._user_json(state.owner)}
        owner = state.owner
        mergeable_state = self._mergeable_state(item)
        data = {
            "url": api,
            "id": item.id,
            "node_id": f"PR_{item.id}",
            "html_url": issue["html_url"],
            "diff_url": f"{issue['html_url']}.diff",
            "patch_url": f"{issue['html_url']}.patch",
            "issue_url": issue["url"],
            "number": item.number,
            "state": item.state,
            "locked": False,
            "title": item.title,
            "user": issue["user"],
            "body": issue["body"],
            "created_at": item.created_at,
            "updated_at": issue["updated_at"],
            "closed_at": item.closed_at,
            "merged_at": issue["pull_request"]["merged_at"],
            "merge_commit_sha": item.merge_commit_sha,
            "assignee": issue["assignee"],
            "assignees": issue["assignees"],
            "requested_reviewers": [self._user_json(login) for login in item.reviewers],
            "requested_teams": [{"name": team, "slug": team, "permission": "push"} for team in item.team_reviewers],
            "labels": issue["labels"],
            "milestone": issue["milestone"],
            "draft": item.draft,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": self._api_path(state, "pulls/comments{/number}"),
            "comments_url": issue["comments_url"],
            "statuses_url": self._api_path(state, f"statuses/{item.head_sha}"),
            "head": {
                "label": f"{owner}:{item.head_ref or _head_branch(item.number)}",
                "ref": item.head_ref or _head_branch(item.number),
                "sha": item.head_sha,
            }
            | branch,
            "base": {"label": f"{owner}:{item.base_ref}", "ref": item.base_ref, "sha": item.base_sha} | branch,
            "_links": {
                "self": {"href": api},
                "html": {"href": issue["html_url"]},
                "issue": {"href": issue["url"]},
                "comments": {"href": issue["comments_url"]},
                "review_comments": {"href": f"{api}/comments"},
                "commits": {"href": f"{api}/commits"},
                "statuses": {"href": self._api_path(state, f"statuses/{item.head_sha}")},
            },
            "author_association": issue["author_association"],
            "auto_merge": None,
            "active_lock_reason": None,
            "merged": item.merged_by is not None,
            "mergeable": None if mergeable_state == "unknown" else mergeable_state != "dirty",
            "rebaseable": None if mergeable_state == "unknown" else mergeable_state != "dirty",
            "mergeable_state": mergeable_state,
            "merged_by": self._user_json(item.merged_by) if item.merged_by else None,
            "comments": len(item.comments),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": sum(_line_counts(f)[0] for f in item.files),
            "deletions": sum(_line_counts(f)[1] for f in item.files),
            "changed_files": len(item.files),
        }
        if listed:
            for key in _PULL_DETAIL_ONLY:
                del data[key]
        return data

    def _comment_json(self, state: _Repo, item: _Item, comment: _Comment) -> dict[str, Any]:
        return {
            "url": self._api_path(state, f"issues/comments/{comment.id}"),
            "html_url": f"{self._html_url(state, item)}#issuecomment-{comment.id}",
            "issue_url": self._api_path(state, f"issues/{item.number}"),
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "user": self._user_json(comment.author),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": self._association(state, comment.author),
            "body": comment.body,
            "performed_via_github_app": None,
        }

    def _review_json(self, state: _Repo, item: _Item, review: _Review, *, hook: bool = False) -> dict[str, Any]:
        """A review as the REST API lists it (state upper-case, body "" when empty, no submitted_at
        while pending) or, with ``hook``, as a webhook carries it (state lower-case, body null)."""
        html_url = f"{self._html_url(state, item)}#pullrequestreview-{review.id}"
        pull_url = self._api_path(state, f"pulls/{item.number}")
        data: dict[str, Any] = {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": None if review.author.lower() in self._deleted else self._user_json(review.author),
            "body": (review.body or None) if hook else review.body,
            "state": review.state if hook else review.state.upper(),
            "html_url": html_url,
            "pull_request_url": pull_url,
            "author_association": self._association(state, review.author),
            "_links": {"html": {"href": html_url}, "pull_request": {"href": pull_url}},
            "submitted_at": review.submitted_at,
            "commit_id": review.commit_id,
        }
        if review.submitted_at is None:
            del data["submitted_at"]
        return data

    def _file_json(self, state: _Repo, item: _Item, file: ChangedFile) -> dict[str, Any]:
        """One entry of ``GET /pulls/N/files``, shaped like GitHub's."""
        additions, deletions = _line_counts(file)
        quoted = quote(file.path)
        data: dict[str, Any] = {
            "sha": hashlib.sha1(f"{item.head_sha}:{file.path}".encode()).hexdigest(),
            "filename": file.path,
            "status": file.status,
            "additions": additions,
            "deletions": deletions,
            "changes": additions + deletions,
            "blob_url": f"{self._web_url}/{state.full_name}/blob/{item.head_sha}/{quoted}",
            "raw_url": f"{self._web_url}/{state.full_name}/raw/{item.head_sha}/{quoted}",
            "contents_url": f"{self._api_path(state, f'contents/{quoted}')}?ref={item.head_sha}",
        }
        if additions or deletions:  # GitHub leaves the patch out when there is none
            lines = [f"@@ -{deletions or '0,0'} +{additions or '0,0'} @@"]
            lines += ["-old line"] * deletions + ["+new line"] * additions
            data["patch"] = "\n".join(lines)
        if file.previous_path is not None:
            data["previous_filename"] = file.previous_path
        return data

    def _content_json(self, state: _Repo, path: str, ref: str, blob: str | None) -> dict[str, Any]:
        """A contents API entry: a file (with its content when ``blob`` is given) or, for ``blob``
        None, a directory."""
        quoted, quoted_ref = quote(path), quote(ref, safe="")
        url = f"{self._api_path(state, f'contents/{quoted}')}?ref={quoted_ref}"
        if blob is None:
            kind, size, sha = "dir", 0, hashlib.sha1(f"tree:{ref}:{path}".encode()).hexdigest()
        else:
            data = blob.encode()
            kind, size, sha = "file", len(data), hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        git_url = self._api_path(state, f"git/{'trees' if blob is None else 'blobs'}/{sha}")
        html_url = f"{self._web_url}/{state.full_name}/{'tree' if blob is None else 'blob'}/{quoted_ref}/{quoted}"
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": size,
            "url": url,
            "html_url": html_url,
            "git_url": git_url,
            "download_url": None if blob is None else f"{self._web_url}/{state.full_name}/raw/{quoted_ref}/{quoted}",
            "type": kind,
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def _status_json(self, state: _Repo, sha: str, status: _Status, *, creator: bool = True) -> dict[str, Any]:
        """A commit status as ``POST /statuses/{sha}`` answers it or, without ``creator``, as the
        combined status lists it."""
        data: dict[str, Any] = {
            "url": self._api_path(state, f"statuses/{sha}"),
            "avatar_url": "https://avatars.githubusercontent.com/u/31898046?v=4",
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
        }
        if creator:
            data["creator"] = self._user_json(status.creator)
        return data

    def _check_run_json(self, state: _Repo, run: _CheckRun) -> dict[str, Any]:
        api = self._api_path(state, f"check-runs/{run.id}")
        html_url = f"{self._web_url}/{state.full_name}/runs/{run.id}"
        suite_id = zlib.crc32(f"{state.full_name}:{run.head_sha}:{run.app}".encode())
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "head_sha": run.head_sha,
            "external_id": "",
            "url": api,
            "html_url": html_url,
            "details_url": html_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                "title": run.title,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": suite_id},
            "app": {
                "id": zlib.crc32(run.app.encode()),
                "slug": run.app,
                "node_id": f"A_{run.app}",
                "name": run.app,
                "owner": None,
            },
            "pull_requests": [],
        }

    def _workflow_run_json(self, state: _Repo, run: _WorkflowRun) -> dict[str, Any]:
        api = self._api_path(state, f"actions/runs/{run.id}")
        suite_id = zlib.crc32(f"{state.full_name}:suite:{run.id}".encode())
        return {
            "id": run.id,
            "name": run.name,
            "node_id": f"WFR_{run.id}",
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.path,
            "display_title": run.name,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "check_suite_id": suite_id,
            "check_suite_node_id": f"CS_{suite_id}",
            "url": api,
            "html_url": f"{self._web_url}/{state.full_name}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "actor": self._user_json(state.owner),
            "run_attempt": run.run_attempt,
            "run_started_at": run.created_at,
            "triggering_actor": self._user_json(state.owner),
            "jobs_url": f"{api}/jobs",
            "logs_url": f"{api}/logs",
            "check_suite_url": self._api_path(state, f"check-suites/{suite_id}"),
            "artifacts_url": f"{api}/artifacts",
            "cancel_url": f"{api}/cancel",
            "rerun_url": f"{api}/rerun",
            "previous_attempt_url": f"{api}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None,
            "workflow_url": self._api_path(state, f"actions/workflows/{run.workflow_id}"),
            "head_commit": None,
            "repository": self._repo_json(state),
            "head_repository": self._repo_json(state),
        }

    # ---- webhooks --------------------------------------------------------------------------

    def _payload(self, template: str, state: _Repo, sender: str, **fields: Any) -> dict[str, Any]:
        """A real payload with the fake's repository, sender and ``fields`` written over it.  Objects
        in ``fields`` replace the template's whole; the repository is merged, keeping its counters
        and flags (its URLs are rewritten to the fake's)."""
        text = (_FIXTURES / f"{template}.json").read_text()
        for real, fake in (
            (_TEMPLATE_REPO, state.full_name),
            ("https://api.github.com", self.api_url),
            ("https://github.com", self._web_url),
        ):
            text = text.replace(real, fake)
        payload = json.loads(text)
        payload["repository"] = {**payload["repository"], **self._repo_json(state)}
        payload["sender"] = self._user_json(self._user(sender))
        payload.update(fields)
        if self._app is not None:
            installation_id = self._installation_id(state.owner)
            payload["installation"] = {"id": installation_id, "node_id": f"IN_{installation_id}"}
        else:
            payload.pop("installation", None)  # repository webhooks carry none
        return payload

    def delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
        """The webhook the forge would send for ``payload`` (also for payloads a test builds itself)."""
        body = json.dumps(payload).encode()
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={signature}",
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
        }
        return Delivery(path="/hook/github", headers=headers, body=body)

    def limit_writes(self, writes: int, seconds: float) -> WriteLimit:
        """Enforce a secondary rate limit on content-creating requests (every method but GET), as
        GitHub does: over it, 403 "You have exceeded a secondary rate limit" with Retry-After."""
        self.write_limit = WriteLimit(writes, seconds)
        return self.write_limit

    # ---- HTTP ------------------------------------------------------------------------------

    def _routes(self) -> list[tuple[str, str, Callable[[web.Request, Any], web.Response], str | None]]:
        repo = "/repos/{owner}/{name}"
        issue = repo + "/issues/{number:\\d+}"
        pull = repo + "/pulls/{number:\\d+}"
        return [
            ("GET", "/user", self._get_user, None),
            ("GET", "/app", self._get_app, _APP_ROUTE),
            ("GET", repo + "/installation", self._get_installation, _APP_ROUTE + ":installation"),
            ("POST", "/app/installations/{id:\\d+}/access_tokens", self._create_token, _APP_ROUTE + ":token"),
            ("GET", repo, self._get_repo, None),
            ("GET", repo + "/labels", self._list_repo_labels, None),
            ("GET", repo + "/collaborators/{login}/permission", self._get_permission, None),
            ("GET", repo + "/issues", self._list_issues, None),
            ("GET", issue, self._get_issue, None),
            ("PATCH", issue, self._edit_issue, None),
            ("GET", repo + "/milestones", self._list_milestones, None),
            ("POST", issue + "/labels", self._add_labels, None),
            ("PUT", issue + "/labels", self._set_labels, None),
            ("DELETE", issue + "/labels/{label}", self._remove_label, None),
            ("GET", issue + "/comments", self._list_comments, None),
            ("GET", issue + "/events", self._list_issue_events, None),
            ("POST", issue + "/comments", self._create_comment, None),
            ("PATCH", repo + "/issues/comments/{id:\\d+}", self._edit_comment, None),
            ("POST", issue + "/assignees", self._add_assignees, None),
            ("DELETE", issue + "/assignees", self._remove_assignees, None),
            ("GET", repo + "/git/ref/{ref:.+}", self._get_git_ref, None),
            ("GET", repo + "/git/commits/{sha}", self._get_git_commit, None),
            ("GET", "/orgs/{owner}/teams/{team}/memberships/{login}", self._get_team_membership, None),
            ("GET", repo + "/contents/{path:.*}", self._get_contents, None),
            ("GET", repo + "/pulls", self._list_pulls, None),
            ("POST", repo + "/pulls", self._create_pull, None),
            ("GET", pull, self._get_pull, None),
            ("PUT", pull + "/merge", self._merge_pull, None),
            ("GET", pull + "/files", self._list_pull_files, None),
            ("GET", pull + "/reviews", self._list_reviews, None),
            ("POST", pull + "/requested_reviewers", self._request_reviewers, None),
            ("DELETE", pull + "/requested_reviewers", self._remove_reviewers, None),
            ("POST", repo + "/statuses/{sha}", self._create_status, None),
            ("GET", repo + "/commits/{ref}/status", self._combined_status, None),
            ("GET", repo + "/commits/{ref}/check-runs", self._list_check_runs, None),
            ("GET", "/orgs/{owner}/installation", self._get_org_installation, _APP_ROUTE + ":org-installation"),
            ("GET", "/orgs/{owner}/members/{login}", self._get_org_member, None),
            ("GET", "/orgs/{owner}/public_members/{login}", self._get_public_org_member, None),
            ("GET", repo + "/actions/runs", self._list_workflow_runs, None),
            ("POST", repo + "/actions/workflows/{workflow}/dispatches", self._dispatch_workflow, None),
            ("POST", repo + "/actions/runs/{id:\\d+}/rerun", self._rerun, None),
            ("POST", repo + "/actions/runs/{id:\\d+}/rerun-failed-jobs", self._rerun_failed_jobs, None),
            ("GET", "/app/installations", self._list_installations, _APP_ROUTE + ":installations"),
            ("GET", "/installation/repositories", self._list_installation_repos, None),
            ("GET", "/user/repos", self._list_user_repos, None),
            ("GET", "/orgs/{owner}/repos", self._list_org_repos, None),
            ("GET", "/users/{owner}/repos", self._list_owner_repos, None),
            ("GET", "/app/hook/config", self._get_app_hook_config, _APP_ROUTE + ":hook-config"),
            ("GET", "/app/hook/deliveries", self._list_hook_deliveries, _APP_ROUTE + ":hook-deliveries"),
            ("POST", "/app/hook/deliveries/{delivery:\\d+}/attempts", self._redeliver, _APP_ROUTE + ":hook-attempts"),
            ("GET", repo + "/hooks", self._list_hooks, None),
            ("GET", repo + "/hooks/{hook:\\d+}/deliveries", self._list_hook_deliveries, None),
            ("POST", repo + "/hooks/{hook:\\d+}/deliveries/{delivery:\\d+}/attempts", self._redeliver, None),
            ("GET", "/orgs/{owner}/hooks", self._list_hooks, None),
            ("GET", "/orgs/{owner}/hooks/{hook:\\d+}/deliveries", self._list_hook_deliveries, None),
            ("POST", "/orgs/{owner}/hooks/{hook:\\d+}/deliveries/{delivery:\\d+}/attempts", self._redeliver, None),
        ]

    def _endpoint(self, handler: Callable[[web.Request, Any], web.Response]) -> Callable[..., Any]:
        """An aiohttp handler that reads the JSON body, then runs ``handler`` with the lock held
        (never across an ``await``: the lock is not reentrant and the loop is one thread)."""

        async def endpoint(request: web.Request) -> web.Response:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return _error(400, "Problems parsing JSON")
            with self._lock:
                return handler(request, body)

        return endpoint

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if git.is_git_path(request.path) and self._git_root is not None:
            return await self._serve_git(request)
        path = request.rel_url.raw_path.removeprefix(_PREFIX)
        recorded = RecordedRequest(request.method, path, dict(request.query))
        with self._lock:
            self._requests.append(recorded)
        response = await self._answer(request, handler, path)
        recorded.status = response.status
        return response

    async def _answer(self, request: web.Request, handler: Callable[..., Any], path: str) -> web.StreamResponse:
        with self._lock:
            failure = self._take_failure(request.method, path)
            if failure is not None and failure.effect:
                pass  # answered below, once the request has taken effect
            elif failure is not None:
                response = _error(failure.status, failure.message)
                if failure.status in (403, 429) and failure.retry_after is not None:
                    response.headers["Retry-After"] = str(failure.retry_after)
                return response
            creates = request.method != "GET" and request.path != _GRAPHQL  # a query creates nothing
            wait = self.write_limit.retry_after() if self.write_limit and creates else None
            if wait is not None:
                response = _error(403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                                       "before you try again.")
                response.headers["Retry-After"] = str(wait)
                return response
            denied = self._authenticate(request)
        if denied is not None:
            return denied
        try:
            response = await handler(request)
        except _Abort as abort:
            return abort.response
        except web.HTTPException as exc:  # no such route: GitHub answers in JSON too
            return _error(exc.status, exc.reason)
        if failure is not None:  # it took effect; the answer is lost
            return _error(failure.status, failure.message)
        # Conditional requests: every GET carries an ETag; If-None-Match naming it gets a 304.
        return conditional(request.headers, response) if request.method == "GET" else response

    async def _serve_git(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            state = self._repos.get(git.repo_of(request.path).lower())
            if state is None or state.git is None or self._git_root is None:
                return web.Response(status=404, text="Repository not found.")
            refs = {f"refs/heads/{name}": sha for name, sha in state.branches.items()}
            parents = dict(state.parents)
            for item in state.items.values():
                if item.is_pull and item.head_sha:
                    refs[f"refs/pull/{item.number}/head"] = item.head_sha
                    if item.base_sha and item.head_sha not in parents:
                        parents[item.head_sha] = [item.base_sha]
            state.git.export(refs, state.commits, parents)
            response = git.serve(request, body, self._git_root, self.token)
            for branch, (git_sha, tree) in state.git.pushed().items():
                sha = state.branches[branch] = self._commit(state, tree)
                state.git.adopt(sha, git_sha)
        return response

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and failure.path.search(path):
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _authenticate(self, request: web.Request) -> web.Response | None:
        """None when the request may proceed; token requests get ``request[_LOGIN]``."""
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        route = request.match_info.route.name or ""
        if route.startswith(_APP_ROUTE):
            if scheme.lower() != "bearer" or not self._valid_jwt(credential):
                return _error(401, "A JSON web token could not be decoded")
            return None
        if scheme.lower() not in ("token", "bearer") or not credential:
            return _error(401, "Requires authentication")
        if secrets.compare_digest(credential, self.token):
            request[_LOGIN] = self.bot_login
            return None
        scope = self._installation_tokens.get(credential)
        if scope is None:
            return _error(401, "Bad credentials")
        owner = request.match_info.get("owner")
        if owner is not None and owner.lower() != scope:
            return _error(404, "Not Found")  # outside the installation: invisible, as on GitHub
        request[_LOGIN] = f"{self._app.slug}[bot]"
        request[_BY_INSTALLATION] = True
        request[_SCOPE] = scope
        return None

    def _valid_jwt(self, token: str) -> bool:
        if self._app is None:
            return False
        try:
            claims = jwt.decode(
                token, self._app.public_key, algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]}
            )
        except jwt.PyJWTError:
            return False
        return str(claims["iss"]) == self._app.id

    def _repo_of(self, request: web.Request) -> _Repo:
        state = self._repos.get(f"{request.match_info['owner']}/{request.match_info['name']}".lower())
        if state is None:
            raise _Abort(404, "Not Found")
        return state

    def _item_of(self, request: web.Request, *, pull: bool = False) -> tuple[_Repo, _Item]:
        state = self._repo_of(request)
        item = state.items.get(int(request.match_info["number"]))
        if item is None or (pull and not item.is_pull):
            raise _Abort(404, "Not Found")
        return state, item

    def _page(self, request: web.Request, entries: list[Any], key: str | None = None, **extra: Any) -> web.Response:
        """One page of ``entries`` with GitHub's Link header (per_page at most 100, default 30).  With
        ``key``, wrapped as GitHub wraps some lists: ``{**extra, "total_count": N, key: page}``."""
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = int(request.query.get("page", 1))
        last = max(1, -(-len(entries) // per_page))
        rels = {"prev": page - 1, "next": page + 1, "last": last, "first": 1}
        links = [
            f'<{request.url.update_query(page=number, per_page=per_page)}>; rel="{rel}"'
            for rel, number in rels.items()
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last)
        ]
        chunk = entries[(page - 1) * per_page : page * per_page]
        response = web.json_response(chunk if key is None else {**extra, "total_count": len(entries), key: chunk})
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    # ---- endpoints (run with the lock held) ------------------------------------------------

    def _get_user(self, request: web.Request, body: Any) -> web.Response:
        if request.get(_BY_INSTALLATION):
            raise _Abort(403, "Resource not accessible by integration")
        return web.json_response(self._user_json(request[_LOGIN]))

    def _get_app(self, request: web.Request, body: Any) -> web.Response:
        app = self._app
        return web.json_response(
            {
                "id": int(app.id) if app.id.isdigit() else app.id,
                "slug": app.slug,
                "node_id": f"A_{app.id}",
                "name": app.slug,
                "description": "",
                "external_url": f"{self._web_url}/{app.slug}",
                "html_url": f"{self._web_url}/apps/{app.slug}",
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "permissions": {"issues": "write", "pull_requests": "write", "metadata": "read"},
                "events": ["issue_comment", "issues", "pull_request", "pull_request_review"],
            }
        )

    def _get_installation(self, request: web.Request, body: Any) -> web.Response:
        return self._installation_json(self._repo_of(request).owner)

    def _get_org_installation(self, request: web.Request, body: Any) -> web.Response:
        org = request.match_info["owner"]
        if org.lower() not in self._orgs:
            raise _Abort(404, "Not Found")
        return self._installation_json(org)

    def _installation_json(self, owner: str) -> web.Response:
        return web.json_response(self._installation_data(owner))

    def _installation_data(self, owner: str) -> dict[str, Any]:
        installation_id = self._installation_id(owner)
        return (
            {
                "id": installation_id,
                "account": self._user_json(owner),
                "repository_selection": "all",
                "access_tokens_url": f"{self.api_url}/app/installations/{installation_id}/access_tokens",
                "repositories_url": f"{self.api_url}/installation/repositories",
                "html_url": f"{self._web_url}/settings/installations/{installation_id}",
                "app_id": int(self._app.id) if self._app.id.isdigit() else self._app.id,
                "app_slug": self._app.slug,
                "target_id": self._users[owner.lower()][1],
                "target_type": "Organization",
                "permissions": {"issues": "write", "pull_requests": "write", "metadata": "read"},
                "events": ["issue_comment", "issues", "pull_request", "pull_request_review"],
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "single_file_name": None,
            }
        )

    # ---- repositories and hooks (endpoints, lock held) --------------------------------------

    def _list_installations(self, request: web.Request, body: Any) -> web.Response:
        """The App is installed on every account owning a repository, and on every organisation."""
        owners = {state.owner.lower(): state.owner for state in self._repos.values()}
        owners |= {org: self._users[org][0] for org in self._orgs}
        return self._page(request, [self._installation_data(owner) for owner in sorted(owners.values())])

    def _list_installation_repos(self, request: web.Request, body: Any) -> web.Response:
        if not request.get(_BY_INSTALLATION):
            raise _Abort(403, "You must authenticate with an installation access token in order to list repositories for an installation.")
        repos = [s for s in self._sorted_repos() if s.owner.lower() == request[_SCOPE]]
        return self._page(request, [self._repo_json(s) for s in repos], "repositories", repository_selection="all")

    def _list_user_repos(self, request: web.Request, body: Any) -> web.Response:
        """What the token's user owns, collaborates on, or sees as a member of its organisation."""
        if request.get(_BY_INSTALLATION):
            raise _Abort(403, "Resource not accessible by integration")
        login = request[_LOGIN].lower()
        repos = [
            s for s in self._sorted_repos()
            if s.owner.lower() == login or self._level(s, login) or login in self._orgs.get(s.owner.lower(), {})
        ]
        return self._page(request, [self._repo_json(s) for s in repos])

    def _list_org_repos(self, request: web.Request, body: Any) -> web.Response:
        org = request.match_info["owner"].lower()
        if org not in self._orgs:
            raise _Abort(404, "Not Found")
        return self._page(request, [self._repo_json(s) for s in self._sorted_repos() if s.owner.lower() == org])

    def _list_owner_repos(self, request: web.Request, body: Any) -> web.Response:
        owner = request.match_info["owner"].lower()
        if owner not in self._users:
            raise _Abort(404, "Not Found")
        return self._page(request, [self._repo_json(s) for s in self._sorted_repos() if s.owner.lower() == owner])

    def _sorted_repos(self) -> list[_Repo]:
        return sorted(self._repos.values(), key=lambda state: state.full_name.lower())

    def _get_app_hook_config(self, request: web.Request, body: Any) -> web.Response:
        hook = self._hooks.get(_APP_HOOK)
        return web.json_response({"content_type": "json", "insecure_ssl": "0", "url": hook.url if hook else ""})

    def _list_hooks(self, request: web.Request, body: Any) -> web.Response:
        """A repository's hooks need admin on it, an organisation's membership in it (GitHub:
        admin:repo_hook / admin:org_hook); an App's installation may read them.  Else 404."""
        kind, owner = self._hook_owner(request)
        hooks = [h for h in self._hooks.values() if h.kind == kind and h.owner.lower() == owner.lower()]
        return self._page(request, [self._hook_json(hook) for hook in hooks])

    def _list_hook_deliveries(self, request: web.Request, body: Any) -> web.Response:
        """Newest first, ``per_page`` (default 30, at most 100) with a ``cursor`` in the Link header."""
        hook = self._hook_of(request)
        entries = list(reversed(hook.deliveries))
        per_page = min(int(request.query.get("per_page", 30)), 100)
        cursor = request.query.get("cursor")
        start = next((i for i, d in enumerate(entries) if f"v1_{d.id}" == cursor), 0) if cursor else 0
        chunk = entries[start : start + per_page]
        response = web.json_response([_delivery_json(d) for d in chunk])
        if start + per_page < len(entries):
            next_url = request.url.update_query(per_page=per_page, cursor=f"v1_{entries[start + per_page].id}")
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _redeliver(self, request: web.Request, body: Any) -> web.Response:
        """202, then the same body and headers (the same guid) go out again as a new attempt."""
        hook = self._hook_of(request)
        wanted = int(request.match_info["delivery"])
        original = next((d for d in hook.deliveries if d.id == wanted), None)
        if original is None:
            raise _Abort(404, "Not Found")
        self._sender.schedule(self._attempt(hook, original.headers, original.body, redelivery=True))
        return web.json_response({}, status=202)

    def _hook_owner(self, request: web.Request) -> tuple[str, str]:
        """("Repository" | "Organization", its name) for a hooks route the caller may read."""
        if "name" in request.match_info:
            state = self._repo_of(request)
            if not request.get(_BY_INSTALLATION) and self._level(state, request[_LOGIN]) < Permission.ADMIN:
                raise _Abort(404, "Not Found")
            return "Repository", state.full_name
        org = request.match_info["owner"]
        members = self._orgs.get(org.lower())
        if members is None or not (request.get(_BY_INSTALLATION) or request[_LOGIN].lower() in members):
            raise _Abort(404, "Not Found")
        return "Organization", org

    def _hook_of(self, request: web.Request) -> _Hook:
        if "hook" not in request.match_info:
            hook = self._hooks.get(_APP_HOOK)
        else:
            kind, owner = self._hook_owner(request)
            hook = self._hooks.get(int(request.match_info["hook"]))
            if hook is not None and (hook.kind != kind or hook.owner.lower() != owner.lower()):
                hook = None
        if hook is None:
            raise _Abort(404, "Not Found")
        return hook

    def _hook_json(self, hook: _Hook) -> dict[str, Any]:
        where = f"repos/{hook.owner}" if hook.kind == "Repository" else f"orgs/{quote(hook.owner)}"
        api = f"{self.api_url}/{where}/hooks/{hook.id}"
        last = hook.deliveries[-1] if hook.deliveries else None
        data = {
            "type": hook.kind,
            "id": hook.id,
            "name": "web",
            "active": True,
            "events": ["issue_comment", "issues", "pull_request", "pull_request_review"],
            "config": {"content_type": "json", "insecure_ssl": "0", "url": hook.url},
            "updated_at": "2024-01-01T00:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "url": api,
            "ping_url": f"{api}/pings",
            "deliveries_url": f"{api}/deliveries",
        }
        if hook.kind == "Repository":
            data["test_url"] = f"{api}/test"
            data["last_response"] = {
                "code": last.status_code if last else None,
                "status": ("active" if last.status == "OK" else "failed") if last else "unused",
                "message": None,
            }
        return data

    def _create_token(self, request: web.Request, body: Any) -> web.Response:
        installation_id = int(request.match_info["id"])
        owner = next((o for o, i in self._installations.items() if i == installation_id), None)
        if owner is None:
            raise _Abort(404, "Not Found")
        token = f"ghs_{secrets.token_hex(18)}"
        self._installation_tokens[token] = owner
        return web.json_response(
            {
                "token": token,
                "expires_at": _now(timedelta(hours=1)),
                "permissions": {"issues": "write", "pull_requests": "write", "metadata": "read"},
                "repository_selection": "all",
            },
            status=201,
        )

    def _get_repo(self, request: web.Request, body: Any) -> web.Response:
        return web.json_response(self._repo_json(self._repo_of(request)))

    def _list_repo_labels(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        return self._page(request, [self._label_json(state, name) for name in state.labels.values()])

    def _get_permission(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        login = request.match_info["login"]
        if login.lower() not in self._users:
            raise _Abort(404, "Not Found")
        level = self._level(state, login)
        return web.json_response(
            {
                "permission": _LEGACY_NAMES.get(level, "none"),
                "role_name": _ROLE_NAMES.get(level, "none"),
                "user": self._user_json(login),
            }
        )

    def _list_issues(self, request: web.Request, body: Any) -> web.Response:
        """Issues and PRs (PRs carry ``pull_request``), newest first; ``state`` open (the default),
        closed or all; ``labels`` comma-separated, every one on the item (case-insensitive);
        ``creator``: opened by that login."""
        state = self._repo_of(request)
        wanted = _state_filter(request)
        labels = {name.strip().lower() for name in request.query.get("labels", "").split(",") if name.strip()}
        creator = request.query.get("creator", "").lower()
        items = [
            item
            for item in state.items.values()
            if wanted in ("all", item.state) and labels <= {name.lower() for name in item.labels}
            and creator in ("", item.author.lower())
        ]
        newest_first = sorted(items, key=lambda item: item.number, reverse=True)
        return self._page(request, [self._issue_json(state, item) for item in newest_first])

    def _list_milestones(self, request: web.Request, body: Any) -> web.Response:
        """``state`` open (the default), closed or all; ordered by number (GitHub: by due date,
        and the fake's milestones have none)."""
        state = self._repo_of(request)
        wanted = _state_filter(request)
        found = [m.number for m in state.milestones.values() if wanted in ("all", m.state)]
        return self._page(request, [self._milestone_json(state, number) for number in found])

    def _get_issue(self, request: web.Request, body: Any) -> web.Response:
        return web.json_response(self._issue_json(*self._item_of(request)))

    def _edit_issue(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        title = (body or {}).get("title", item.title)
        if not isinstance(title, str) or not title.strip():
            raise _Abort(422, "Validation Failed", errors=[{"resource": "Issue", "field": "title", "code": "missing_field"}])
        if "milestone" in (body or {}):  # a milestone's number, or null to clear it
            number = body["milestone"]
            if number is not None and (not isinstance(number, int) or number not in state.milestones):
                raise _Abort(422, "Validation Failed",
                             errors=[{"resource": "Issue", "field": "milestone", "code": "invalid"}])
            item.milestone = number
        item.title = title
        new_state = (body or {}).get("state", item.state)
        reason = (body or {}).get("state_reason")
        if new_state not in ("open", "closed") or (new_state == "open" and item.merged_by):
            raise _Abort(422, "Validation Failed", errors=[{"resource": "Issue", "field": "state", "code": "invalid"}])
        if reason not in (None, "completed", "not_planned", "reopened"):
            raise _Abort(422, "Validation Failed", errors=[{"resource": "Issue", "field": "state_reason", "code": "invalid"}])
        if new_state != item.state:
            item.state, item.closed_at = new_state, (self._tick() if new_state == "closed" else None)
            if not item.is_pull:  # GitHub sets a reason on issues only: the one given, else the default
                item.state_reason = reason or ("completed" if new_state == "closed" else "reopened")
        return web.json_response(self._issue_json(state, item))

    def _add_labels(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        names = body.get("labels") if isinstance(body, dict) else body  # both forms are accepted
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise _Abort(422, "Validation Failed", errors=[{"resource": "Label", "code": "invalid"}])
        for name in names:
            name = state.labels.setdefault(name.lower(), name)  # unknown labels are created
            if name not in item.labels:
                item.labels.append(name)
                item.label_events.append(("labeled", request[_LOGIN], name, self._tick()))
        return web.json_response([self._label_json(state, name) for name in item.labels])

    def _set_labels(self, request: web.Request, body: Any) -> web.Response:
        """PUT /issues/N/labels: replaces every label (``[]`` removes them all); same body forms
        and label creation as POST."""
        state, item = self._item_of(request)
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise _Abort(422, "Validation Failed", errors=[{"resource": "Label", "code": "invalid"}])
        wanted = list(dict.fromkeys(state.labels.setdefault(n.lower(), n) for n in names))
        for name in item.labels:
            if name not in wanted:
                item.label_events.append(("unlabeled", request[_LOGIN], name, self._tick()))
        for name in wanted:
            if name not in item.labels:
                item.label_events.append(("labeled", request[_LOGIN], name, self._tick()))
        item.labels = wanted
        return web.json_response([self._label_json(state, name) for name in item.labels])

    def _remove_label(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        wanted = request.match_info["label"].lower()
        remaining = [name for name in item.labels if name.lower() != wanted]
        if len(remaining) == len(item.labels):
            raise _Abort(404, "Label does not exist")
        for name in item.labels:
            if name.lower() == wanted:
                item.label_events.append(("unlabeled", request[_LOGIN], name, self._tick()))
        item.labels = remaining
        return web.json_response([self._label_json(state, name) for name in item.labels])

    def _list_issue_events(self, request: web.Request, body: Any) -> web.Response:
        """GET /issues/N/events: the item's label events (the only kind modelled), oldest first."""
        state, item = self._item_of(request)
        events = [
            {
                "id": index + 1,
                "node_id": f"LE_{item.id}_{index}",
                "url": self._api_path(state, f"issues/events/{index + 1}"),
                "actor": self._user_json(actor),
                "event": event,
                "commit_id": None,
                "commit_url": None,
                "created_at": created_at,
                "label": {"name": name, "color": "ededed"},
                "performed_via_github_app": None,
            }
            for index, (event, actor, name, created_at) in enumerate(item.label_events)
        ]
        return self._page(request, events)

    def _list_comments(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        return self._page(request, [self._comment_json(state, item, c) for c in item.comments])

    def _create_comment(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        _check_comment_size(_comment_body(body))
        data = self._comment_json(state, item, self._add_comment(state, item, request[_LOGIN], _comment_body(body)))
        return web.json_response(data, status=201, headers={"Location": data["url"]})

    def _edit_comment(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        comment = state.comments.get(int(request.match_info["id"]))
        if comment is None:
            raise _Abort(404, "Not Found")
        _check_comment_size(_comment_body(body))
        comment.body, comment.updated_at = _comment_body(body), self._tick()
        return web.json_response(self._comment_json(state, state.items[comment.number], comment))

    def _add_assignees(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        for login in _logins(body, "assignees"):
            # GitHub drops, without an error, anyone who may not be assigned here
            if self._level(state, login) and login.lower() not in {a.lower() for a in item.assignees}:
                item.assignees.append(self._users[login.lower()][0])
        return web.json_response(self._issue_json(state, item), status=201)

    def _remove_assignees(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        gone = {login.lower() for login in _logins(body, "assignees")}
        item.assignees = [login for login in item.assignees if login.lower() not in gone]
        return web.json_response(self._issue_json(state, item))

    def _list_pulls(self, request: web.Request, body: Any) -> web.Response:
        """PRs newest first, in the list's shape; ``state`` open (the default), closed or all."""
        state = self._repo_of(request)
        wanted = _state_filter(request)
        pulls = [item for item in state.items.values() if item.is_pull and wanted in ("all", item.state)]
        if "head" in request.query:  # "owner:branch"
            owner, _, branch = request.query["head"].partition(":")
            if owner.lower() == state.owner.lower():
                pulls = [item for item in pulls if (item.head_ref or _head_branch(item.number)) == branch]
            else:
                pulls = []
        newest_first = sorted(pulls, key=lambda item: item.number, reverse=True)
        return self._page(request, [self._pull_json(state, item, listed=True) for item in newest_first])

    def _create_pull(self, request: web.Request, body: Any) -> web.Response:
        """POST /pulls {title, head, base, body}: a PR between two branches of the repository."""
        state = self._repo_of(request)
        user = request[_LOGIN]
        body = body if isinstance(body, dict) else {}
        head, base = body.get("head"), body.get("base")
        invalid = [f for f, v in (("title", body.get("title")), ("head", head), ("base", base)) if not v]
        if head and ":" in head:
            head = head.split(":", 1)[1]
        if not invalid and (head not in state.branches or base not in state.branches):
            invalid = ["head" if head not in state.branches else "base"]
        if invalid:
            raise _Abort(422, "Validation Failed",
                         errors=[{"resource": "PullRequest", "field": f, "code": "invalid"} for f in invalid])
        for other in state.items.values():
            if other.is_pull and other.state == "open" and other.head_ref == head and other.base_ref == base:
                raise _Abort(422, "Validation Failed", errors=[
                    {"resource": "PullRequest", "code": "custom",
                     "message": f"A pull request already exists for {state.owner}:{head}."}])
        item = self._new_item(state, user, body["title"], body.get("body") or "", is_pull=True)
        item.head_ref, item.base_ref = head, base
        item.head_sha, item.base_sha = state.branches[head], state.branches[base]
        return web.json_response(self._pull_json(state, item), status=201)

    def _get_pull(self, request: web.Request, body: Any) -> web.Response:
        return web.json_response(self._pull_json(*self._item_of(request, pull=True)))

    def _merge_pull(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request, pull=True)
        body = body if isinstance(body, dict) else {}
        method = body.get("merge_method", "merge")
        if method not in _MERGE_METHODS:
            raise _Abort(
                422, "Validation Failed", errors=[{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}]
            )
        if item.state != "open":
            raise _Abort(405, _NOT_MERGEABLE)
        if item.draft:
            raise _Abort(405, "Pull Request is still a draft")
        sha = body.get("sha")
        if sha is not None and sha != item.head_sha:
            raise _Abort(409, _HEAD_MODIFIED)
        refusal = _MERGE_REFUSALS.get(self._mergeable_state(item))
        if refusal is not None:
            raise _Abort(405, refusal)
        head = item.head_sha
        merge_sha = self._merge_into_base(state, item, request[_LOGIN])
        state.merges.append((item.number, head, method))
        return web.json_response({"sha": merge_sha, "merged": True, "message": "Pull Request successfully merged"})

    def _list_pull_files(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request, pull=True)
        files = item.files[:_MAX_PULL_FILES]
        return self._page(request, [self._file_json(state, item, file) for file in files])

    def _list_reviews(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request, pull=True)
        viewer = request[_LOGIN].lower()
        visible = [r for r in item.reviews if r.state != "pending" or r.author.lower() == viewer]
        return self._page(request, [self._review_json(state, item, review) for review in visible])

    def _get_git_ref(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        ref = request.match_info["ref"]  # already percent-decoded: "heads/release/1.0"
        kind, _, branch = ref.partition("/")
        if kind != "heads" or branch not in state.branches:
            raise _Abort(404, "Not Found")
        sha = state.branches[branch]
        return web.json_response(
            {
                "ref": f"refs/{ref}",
                "node_id": f"REF_{zlib.crc32(f'{state.full_name}:{ref}'.encode())}",
                "url": self._api_path(state, f"git/refs/{quote(ref)}"),
                "object": {"sha": sha, "type": "commit", "url": self._api_path(state, f"git/commits/{sha}")},
            }
        )

    def _get_git_commit(self, request: web.Request, body: Any) -> web.Response:
        """GET /repos/{o}/{r}/git/commits/{sha}: the git commit, naming its tree.  A tree's sha
        depends on its content alone, so commits with the same files name the same tree."""
        state = self._repo_of(request)
        sha = request.match_info["sha"]
        if not re.fullmatch(r"[0-9a-f]{4,40}", sha):
            raise _Abort(422, "The sha parameter must be exactly 40 characters and contain only [0-9a-f].")
        tree = state.commits.get(sha)
        if tree is None:
            raise _Abort(404, "Not Found")
        listing = "\0".join(f"{path}\0{text}" for path, text in sorted(tree.items()))
        tree_sha = hashlib.sha1(f"tree:{listing}".encode()).hexdigest()
        api = self._api_path(state)
        return web.json_response({
            "sha": sha, "node_id": f"C_{sha[:10]}", "url": f"{api}/git/commits/{sha}",
            "html_url": f"{self._web_url}/{state.full_name}/commit/{sha}", "message": "A commit",
            "tree": {"sha": tree_sha, "url": f"{api}/git/trees/{tree_sha}"},
            "parents": [], "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        })

    def _get_team_membership(self, request: web.Request, body: Any) -> web.Response:
        """GET /orgs/{org}/teams/{team_slug}/memberships/{username}: 200 with ``state`` "active" for
        a member; 404 for anyone else and for a team that does not exist."""
        org, team, login = (request.match_info[k].lower() for k in ("owner", "team", "login"))
        if login not in self._team_members.get((org, team), set()):
            raise _Abort(404, "Not Found")
        url = f"{self.api_url}/teams/{team}/memberships/{login}"
        return web.json_response({"url": url, "role": "member", "state": "active"})

    def _get_contents(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        ref = request.query.get("ref") or _DEFAULT_BRANCH
        sha = state.branches.get(ref, ref)
        if sha not in state.commits:
            raise _Abort(404, f"No commit found for the ref {ref}")
        tree = state.commits[sha]
        path = request.match_info["path"].strip("/")
        if path in tree:
            data = self._content_json(state, path, ref, tree[path])
            raw = tree[path].encode()
            if len(raw) > _MAX_CONTENTS:  # 1-100 MB: GitHub sends no content
                data |= {"content": "", "encoding": "none"}
            else:  # base64 wrapped at 60 characters, each line ending in "\n", as GitHub sends it
                encoded = base64.b64encode(raw).decode()
                lines = "".join(f"{encoded[i : i + 60]}\n" for i in range(0, len(encoded), 60))
                data |= {"content": lines, "encoding": "base64"}
            return web.json_response(data)
        prefix = f"{path}/" if path else ""
        children: dict[str, str | None] = {}  # name → content, None for a directory
        for other, content in tree.items():
            if other.startswith(prefix):
                name, _, rest = other[len(prefix) :].partition("/")
                children[name] = None if rest else content
        if not children and path:
            raise _Abort(404, "Not Found")
        entries = [self._content_json(state, prefix + name, ref, children[name]) for name in sorted(children)]
        return web.json_response(entries)

    def _request_reviewers(self, request: web.Request, body: Any) -> web.Response:
        """``reviewers`` (logins) and ``team_reviewers`` (slugs of the repository owner's teams), either
        may be left out; one name GitHub refuses fails the whole request."""
        state, item = self._item_of(request, pull=True)
        logins = _logins(body, "reviewers", optional=True)
        teams = _logins(body, "team_reviewers", optional=True)
        if any(login.lower() == item.author.lower() for login in logins):
            raise _Abort(422, "Review cannot be requested from pull request author.")
        owner = state.full_name.split("/", 1)[0].lower()
        team_ok = all(state.full_name.lower() in self._teams.get((owner, t.lower()), ()) for t in teams)
        if not all(self._level(state, login) for login in logins) or not team_ok:
            raise _Abort(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or teams you "
                f"specified is not a collaborator of the {state.full_name} repository.",
            )
        for login in logins:
            if login.lower() not in {r.lower() for r in item.reviewers}:
                item.reviewers.append(self._users[login.lower()][0])
        for team in teams:
            if team.lower() not in item.team_reviewers:
                item.team_reviewers.append(team.lower())
        return web.json_response(self._pull_json(state, item), status=201)

    def _remove_reviewers(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request, pull=True)
        gone = {login.lower() for login in _logins(body, "reviewers", optional=True)}
        gone_teams = {team.lower() for team in _logins(body, "team_reviewers", optional=True)}
        item.reviewers = [login for login in item.reviewers if login.lower() not in gone]
        item.team_reviewers = [team for team in item.team_reviewers if team not in gone_teams]
        return web.json_response(self._pull_json(state, item))

    def _create_status(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        sha = request.match_info["sha"]
        if sha not in state.commits:  # a full sha only, as GitHub wants here
            raise _Abort(422, f"No commit found for SHA: {sha}")
        body = body if isinstance(body, dict) else {}
        if body.get("state") not in _STATUS_STATES:
            raise _Abort(422, "Validation Failed", errors=[_status_error("state", "state is not included in the list")])
        description = body.get("description")
        if description is not None and len(description) > _MAX_DESCRIPTION:
            message = f"description is too long (maximum is {_MAX_DESCRIPTION} characters)"
            raise _Abort(422, "Validation Failed", errors=[_status_error("description", message)])
        status = _Status(
            id=next(self._ids),
            context=body.get("context") or "default",
            state=body["state"],
            description=description or None,
            target_url=body.get("target_url") or None,
            creator=request[_LOGIN],
            created_at=self._tick(),
        )
        state.statuses.setdefault(sha, []).append(status)
        data = self._status_json(state, sha, status)
        return web.json_response(data, status=201, headers={"Location": data["url"]})

    def _combined_status(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        sha = self._commit_ref(state, request.match_info["ref"])
        latest: dict[str, _Status] = {}
        for status in state.statuses.get(sha, []):
            latest.pop(status.context, None)  # the newest last
            latest[status.context] = status
        newest_first = list(reversed(latest.values()))
        states = {status.state for status in newest_first}
        if states & {"error", "failure"}:
            overall = "failure"
        elif not states or "pending" in states:
            overall = "pending"
        else:
            overall = "success"
        commit_url = self._api_path(state, f"commits/{sha}")
        return self._page(
            request,
            [self._status_json(state, sha, status, creator=False) for status in newest_first],
            "statuses",
            state=overall,
            sha=sha,
            repository=self._repo_json(state),
            commit_url=commit_url,
            url=f"{commit_url}/status",
        )

    def _graphql(self, request: web.Request, body: Any) -> web.Response:
        body = body if isinstance(body, dict) else {}
        if _folded(str(body.get("query") or "")) != _folded(_OPEN_PULLS_QUERY):
            return web.json_response({"errors": [{"message": "This fake answers one query only: the open-PR listing"}]})
        variables = body.get("variables") or {}
        state = self._repos.get(f"{variables.get('owner')}/{variables.get('name')}".lower())
        if state is None:
            name = f"{variables.get('owner')}/{variables.get('name')}"
            return web.json_response({"data": {"repository": None}, "errors": [{
                "type": "NOT_FOUND", "path": ["repository"],
                "message": f"Could not resolve to a Repository with the name '{name}'."}]})
        open_pulls = sorted((i for i in state.items.values() if i.is_pull and i.state == "open"), key=lambda i: i.number)
        cursor = variables.get("cursor")
        start = int(base64.b64decode(cursor).decode().rpartition(":")[2]) if cursor else 0
        page = open_pulls[start:start + 100]
        end = start + len(page)
        return web.json_response({"data": {"repository": {"pullRequests": {
            "pageInfo": {"hasNextPage": end < len(open_pulls),
                         "endCursor": base64.b64encode(f"cursor:v2:{end}".encode()).decode() if page else None},
            "nodes": [self._pull_node(state, item) for item in page],
        }}}})

    def _pull_node(self, state: _Repo, item: _Item) -> dict[str, Any]:
        merge_state = self._mergeable_state(item)
        contexts: list[dict[str, Any]] = []
        latest: dict[str, _Status] = {}
        for status in state.statuses.get(item.head_sha, []):
            latest[status.context] = status
        for status in latest.values():
            contexts.append({"__typename": "StatusContext", "context": status.context, "state": status.state.upper(),
                             "description": status.description, "targetUrl": status.target_url,
                             "createdAt": status.created_at})
        runs = state.check_runs.get(item.head_sha, [])
        newest = {(run.app, run.name): run for run in runs}
        for run in runs:
            if newest[(run.app, run.name)] is run:
                contexts.append({"__typename": "CheckRun", "databaseId": run.id, "name": run.name,
                                 "status": run.status.upper(), "conclusion": (run.conclusion or "").upper() or None,
                                 "title": run.title, "detailsUrl": f"{self._web_url}/{state.full_name}/runs/{run.id}",
                                 "startedAt": run.started_at, "completedAt": run.completed_at})
        rollup = {"contexts": {"totalCount": len(contexts), "nodes": contexts[:100]}} if contexts else None
        return {
            "number": item.number,
            "title": item.title,
            "body": item.body,
            "url": self._html_url(state, item),
            "isDraft": item.draft,
            "headRefOid": item.head_sha,
            "headRefName": item.head_ref or _head_branch(item.number),
            "baseRefName": item.base_ref,
            "mergeable": {"unknown": "UNKNOWN", "dirty": "CONFLICTING"}.get(merge_state, "MERGEABLE"),
            "mergeStateStatus": merge_state.upper(),
            "author": {"login": item.author},
            "labels": {"totalCount": len(item.labels), "nodes": [{"name": name} for name in item.labels[:100]]},
            "assignees": {"nodes": [{"login": self._user(login)} for login in item.assignees]},
            "commits": {"nodes": [{"commit": {"statusCheckRollup": rollup}}]},
        }

    def _list_check_runs(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        runs = state.check_runs.get(self._commit_ref(state, request.match_info["ref"]), [])
        if request.query.get("filter", "latest") == "latest":
            latest = {(run.app, run.name): run for run in runs}  # later runs replace earlier ones
            runs = [run for run in runs if latest[(run.app, run.name)] is run]
        if "check_name" in request.query:
            runs = [run for run in runs if run.name == request.query["check_name"]]
        if "status" in request.query:
            runs = [run for run in runs if run.status == request.query["status"]]
        newest_first = [self._check_run_json(state, run) for run in reversed(runs)]
        return self._page(request, newest_first, "check_runs")

    def _get_org_member(self, request: web.Request, body: Any) -> web.Response:
        org, login = request.match_info["owner"], request.match_info["login"]
        members = self._orgs.get(org.lower())
        if members is None:  # no such organisation, or a user account
            raise _Abort(404, "Not Found")
        if request.get(_BY_INSTALLATION) or request[_LOGIN].lower() in members:
            if login.lower() in members:
                return web.Response(status=204)
            raise _Abort(404, "User does not exist or is not a member of the organization")
        # not a member of the organisation: GitHub points at the public membership instead
        location = f"{self.api_url}/orgs/{quote(org, safe='')}/public_members/{quote(login, safe='')}"
        return web.Response(status=302, headers={"Location": location})

    def _get_public_org_member(self, request: web.Request, body: Any) -> web.Response:
        members = self._orgs.get(request.match_info["owner"].lower(), {})
        if not members.get(request.match_info["login"].lower(), False):
            raise _Abort(404, "Not Found")
        return web.Response(status=204)

    def _list_workflow_runs(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        runs = list(state.runs.values())
        for key in ("head_sha", "event"):
            if key in request.query:
                runs = [run for run in runs if getattr(run, key) == request.query[key]]
        newest_first = sorted(runs, key=lambda run: (run.created_at, run.id), reverse=True)
        return self._page(request, [self._workflow_run_json(state, run) for run in newest_first], "workflow_runs")

    def _dispatch_workflow(self, request: web.Request, body: Any) -> web.Response:
        """``POST .../actions/workflows/{workflow_id}/dispatches``: the workflow by file name or id;
        404 for an unknown one; 422 without a workflow_dispatch trigger, for an unknown ref, and for
        inputs the workflow does not declare, misses or refuses.  A queued run is created on the
        ref's head; with ``return_run_details`` the answer is 200 with the run's id and links, else
        204 with no body."""
        state = self._repo_of(request)
        key = request.match_info["workflow"]
        workflow = state.workflow_files.get(key) or next(
            (w for w in state.workflow_files.values() if str(w.id) == key), None)
        if workflow is None:
            raise _Abort(404, "Not Found")
        body = body if isinstance(body, dict) else {}
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise _Abort(422, "Invalid request.\n\n\"ref\" wasn't supplied.")
        if not workflow.dispatchable:
            raise _Abort(422, "Workflow does not have 'workflow_dispatch' trigger")
        branch = ref.removeprefix("refs/heads/")
        if branch not in state.branches:
            raise _Abort(422, f"No ref found for: {ref}")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise _Abort(422, "Invalid request.\n\nFor 'properties/inputs', is not an object.")
        unexpected = sorted(set(inputs) - set(workflow.inputs))
        if unexpected:
            raise _Abort(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        for name, declared in workflow.inputs.items():
            if declared.get("required") and name not in inputs:
                raise _Abort(422, f"Required input '{name}' not provided")
            options = declared.get("options")
            if options and name in inputs and inputs[name] not in options:
                raise _Abort(422, f"Provided value '{inputs[name]}' for input '{name}' not in the list of allowed values")
        numbers = [r.run_number for r in state.runs.values() if r.workflow_id == workflow.id]
        created_at = self._tick()
        run = _WorkflowRun(id=next(self._ids), workflow_id=workflow.id, name=workflow.name, path=workflow.path,
                           head_sha=state.branches[branch], run_number=max(numbers, default=0) + 1,
                           event="workflow_dispatch", status="queued", conclusion=None, created_at=created_at,
                           updated_at=created_at, head_branch=branch)
        state.runs[run.id] = run
        state.dispatches.append((workflow.path.rsplit("/", 1)[-1], ref, dict(inputs), run.id))
        if body.get("return_run_details") is not True or not self.dispatch_run_details:
            return web.Response(status=204)
        return web.json_response({
            "workflow_run_id": run.id,
            "run_url": self._api_path(state, f"actions/runs/{run.id}"),
            "html_url": f"{self._web_url}/{state.full_name}/actions/runs/{run.id}",
        })

    def _rerun(self, request: web.Request, body: Any) -> web.Response:
        return self._rerun_as(request, "rerun")

    def _rerun_failed_jobs(self, request: web.Request, body: Any) -> web.Response:
        return self._rerun_as(request, "rerun-failed-jobs")

    def _rerun_as(self, request: web.Request, kind: str) -> web.Response:
        state = self._repo_of(request)
        run = state.runs.get(int(request.match_info["id"]))
        if run is None:
            raise _Abort(404, "Not Found")
        if not run.rerunnable:
            raise _Abort(403, _CANNOT_RERUN)
        if run.status != "completed":  # the fake's own words: GitHub's 403 here is not recorded
            raise _Abort(403, "This workflow run is not completed")
        state.reruns.append((run.id, kind))
        run.status, run.conclusion, run.run_attempt, run.updated_at = "queued", None, run.run_attempt + 1, self._tick()
        return web.json_response({}, status=201)

    def _commit_ref(self, state: _Repo, ref: str) -> str:
        try:
            return self._commit_of(state, ref)
        except KeyError:
            raise _Abort(422, f"No commit found for SHA: {ref}") from None


def _delivery_status(answer: Answer) -> str:
    """GitHub's words for an attempt's outcome ("OK" for a 2xx; the no-answer wordings are the
    fake's own, GitHub's exact text is not recorded here)."""
    if answer.status is None:
        return answer.reason
    return "OK" if 200 <= answer.status < 300 else f"Invalid HTTP Response: {answer.status}"


def _delivery_json(delivery: _HookDelivery) -> dict[str, Any]:
    """An entry of a hook's deliveries list."""
    return {
        "id": delivery.id,
        "guid": delivery.guid,
        "delivered_at": delivery.delivered_at,
        "redelivery": delivery.redelivery,
        "duration": delivery.duration,
        "status": delivery.status,
        "status_code": delivery.status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": None,
    }


def _state_filter(request: web.Request) -> str:
    wanted = request.query.get("state", "open")
    if wanted not in ("open", "closed", "all"):
        raise _Abort(422, "Validation Failed", errors=[{"field": "state", "code": "invalid"}])
    return wanted


def _check_comment_size(text: str) -> None:
    if len(text) > _MAX_COMMENT:
        message = f"body is too long (maximum is {_MAX_COMMENT} characters)"
        raise _Abort(422, "Validation Failed",
                     errors=[{"resource": "IssueComment", "code": "custom", "field": "body", "message": message}])


def _status_error(field_name: str, message: str) -> dict[str, str]:
    return {"resource": "Status", "code": "custom", "field": field_name, "message": message}


def _changed_files(files: Iterable[ChangedFile]) -> list[ChangedFile]:
    files = list(files)
    for file in files:
        if file.status not in _FILE_STATUSES:
            raise ValueError(f"{file.path}: status must be one of {_FILE_STATUSES}")
        if (file.previous_path is not None) != (file.status in ("renamed", "copied")):
            raise ValueError(f"{file.path}: a previous path goes with a rename or copy, and only with one")
    return files


def _line_counts(file: ChangedFile) -> tuple[int, int]:
    """(additions, deletions) the fake reports for a PR's file: the file's own counts when seeded,
    else one line in and/or out."""
    if file.additions or file.deletions:
        return file.additions, file.deletions
    return {"added": (1, 0), "removed": (0, 1), "modified": (1, 1)}.get(file.status, (0, 0))


def _logins(body: Any, key: str, *, optional: bool = False) -> list[str]:
    logins = body.get(key) if isinstance(body, dict) else None
    if optional and logins is None and isinstance(body, dict):
        return []
    if not isinstance(logins, list) or not all(isinstance(login, str) for login in logins):
        raise _Abort(422, "Validation Failed", errors=[{"field": key, "code": "invalid"}])
    return logins


def _comment_body(body: Any) -> str:
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        raise _Abort(
            422, "Validation Failed", errors=[{"resource": "IssueComment", "field": "body", "code": "missing_field"}]
        )
    return text


def _head_branch(number: int) -> str:
    """A PR's source branch: set_file on it (or push) moves the PR's head, as on GitHub."""
    return f"topic-{number}"


def _folded(query: str) -> str:
    """A GraphQL document with its whitespace folded: how the fake tells the one query it answers."""
    return re.sub(r"\s+", " ", re.sub(r"\s*([{}():,])\s*", r"\1", query)).strip()
