"""FakeGitHub: the slice of GitHub's REST API that prowlet's adapter uses, plus the webhooks people cause.

Response shapes follow recorded api.github.com responses; webhook payloads start from the real examples
in ``tests/fixtures/github`` with the fake's state written over them.  Rules copied from GitHub:
issue and PR numbers share one sequence per repository; only collaborators (read or better) can be
assigned, anyone else is silently dropped; review requests for non-collaborators or the PR's author
are refused with 422; unknown labels are created when added; ``/`` in a label name must be
escaped in a URL.  Test-only extras: ``fail_next`` injects failures, ``register_app`` turns on GitHub
App authentication, ``merge`` merges a PR.  ``requests`` records paths as sent (percent-encoded).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import secrets
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

from bot.forge.base import Permission
from tests.fakes.base import Delivery, RecordedRequest

_PREFIX = "/api/v3"
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
_APP_ROUTE = "app"  # routes authenticated with the App's JWT instead of a token
_LOGIN = web.RequestKey("login", str)  # who the request's token belongs to
_BY_INSTALLATION = web.RequestKey("by_installation", bool)  # the token is an App installation's


@dataclass
class _Comment:
    id: int
    number: int  # of the issue or PR it is on
    author: str
    body: str
    created_at: str
    updated_at: str


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
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    comments: list[_Comment] = field(default_factory=list)
    head_sha: str | None = None
    base_sha: str | None = None


@dataclass
class _Repo:
    id: int
    full_name: str
    labels: dict[str, str] = field(default_factory=dict)  # lower-cased name → name
    permissions: dict[str, Permission] = field(default_factory=dict)  # lower-cased login → level
    items: dict[int, _Item] = field(default_factory=dict)
    comments: dict[int, _Comment] = field(default_factory=dict)  # by id, for PATCH /issues/comments/ID

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]


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


class _Abort(Exception):
    """Raised by a handler to answer with GitHub's JSON error body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = _error(status, message, **extra)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"message": message, **extra, "documentation_url": "https://docs.github.com/rest"}
    return web.json_response(body, status=status)


def _now(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        self._app: _App | None = None
        self._installations: dict[str, int] = {}  # lower-cased owner → installation id
        self._installation_tokens: dict[str, str] = {}  # token → lower-cased owner it is scoped to
        self._port = 0
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
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> web.AppRunner:
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler, name in self._routes():
            app.router.add_route(method, _PREFIX + path, self._endpoint(handler), name=name)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._port = runner.addresses[0][1]
        return runner

    # ---- seeding ---------------------------------------------------------------------------

    def add_repo(self, repo: str, labels: Iterable[str] = ()) -> None:
        with self._lock:
            self._user(repo.split("/")[0])
            state = self._repos.setdefault(repo.lower(), _Repo(id=next(self._ids), full_name=repo))
            for label in labels:
                state.labels[label.lower()] = label

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
        The App is installed on every account that owns a repository here."""
        with self._lock:
            self._app = _App(id=str(app_id), public_key=public_key_pem, slug=slug)
            self._user(f"{slug}[bot]")

    def fail_next(self, method: str, path_regex: str, status: int, times: int = 1, message: str | None = None) -> None:
        """Answer the next ``times`` requests whose method matches and whose path (without the API
        prefix) matches ``path_regex`` (``re.search``) with ``status`` and a JSON ``message``."""
        with self._lock:
            self._failures.append(
                _Failure(method.upper(), re.compile(path_regex), status, message or HTTPStatus(status).phrase, times)
            )

    # ---- things people do ------------------------------------------------------------------

    def open_pull(
        self, repo: str, author: str, title: str = "A change", body: str = "", draft: bool = False
    ) -> tuple[int, Delivery]:
        with self._lock:
            state = self._repo(repo)
            item = self._new_item(state, author, title, body, is_pull=True)
            item.draft = draft
            item.head_sha = self._sha(state, item)
            item.base_sha = self._sha(state, item)
            payload = self._payload(
                "pull_request__opened__1", state, author, number=item.number, pull_request=self._pull_json(state, item)
            )
        return item.number, self._delivery("pull_request", payload)

    def open_issue(self, repo: str, author: str, title: str = "A bug", body: str = "") -> tuple[int, Delivery]:
        with self._lock:
            state = self._repo(repo)
            item = self._new_item(state, author, title, body, is_pull=False)
            payload = self._payload("issues__opened__1", state, author, issue=self._issue_json(state, item))
        return item.number, self._delivery("issues", payload)

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
        return self._delivery("issue_comment", payload)

    def push(self, repo: str, number: int, pusher: str) -> Delivery:
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            before, item.head_sha = item.head_sha, self._sha(state, item)
            payload = self._payload(
                "pull_request__synchronize__1",
                state,
                pusher,
                number=number,
                before=before,
                after=item.head_sha,
                pull_request=self._pull_json(state, item),
            )
        return self._delivery("pull_request", payload)

    def review(self, repo: str, number: int, author: str, state: str, body: str = "") -> Delivery:
        if state not in _REVIEW_STATES:
            raise ValueError(f"review state must be one of {_REVIEW_STATES}")
        with self._lock:
            repo_state = self._repo(repo)
            item = self._pull(repo_state, number)
            login = self._user(author)
            # a submitted review answers the request for it
            item.reviewers = [r for r in item.reviewers if r.lower() != login.lower()]
            review_id = next(self._ids)
            html_url = f"{self._html_url(repo_state, item)}#pullrequestreview-{review_id}"
            review = {
                "id": review_id,
                "node_id": f"PRR_{review_id}",
                "user": self._user_json(login),
                "body": body or None,
                "commit_id": item.head_sha,
                "submitted_at": _now(),
                "state": state,
                "html_url": html_url,
                "pull_request_url": self._api_path(repo_state, f"pulls/{number}"),
                "author_association": self._association(repo_state, login),
                "_links": {
                    "html": {"href": html_url},
                    "pull_request": {"href": self._api_path(repo_state, f"pulls/{number}")},
                },
            }
            payload = self._payload(
                "pull_request_review__submitted__1",
                repo_state,
                login,
                review=review,
                pull_request=self._pull_json(repo_state, item),
            )
        return self._delivery("pull_request_review", payload)

    def merge(self, repo: str, number: int, merger: str) -> Delivery:
        """Merge an open PR (not part of FakeForge): pull_request closed with merged true."""
        with self._lock:
            state = self._repo(repo)
            item = self._pull(state, number)
            if item.state != "open":
                raise ValueError(f"{repo}#{number} is not open")
            item.state, item.merged_by, item.closed_at = "closed", self._user(merger), _now()
            payload = self._payload(
                "pull_request__closed__1", state, merger, number=number, pull_request=self._pull_json(state, item)
            )
        return self._delivery("pull_request", payload)

    # ---- inspection ------------------------------------------------------------------------

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

    def head_sha(self, repo: str, number: int) -> str:
        with self._lock:
            return self._pull(self._repo(repo), number).head_sha

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
        item = _Item(next(self._ids), number, self._user(author), title, body, is_pull, created_at=_now())
        state.items[number] = item
        return item

    def _add_comment(self, state: _Repo, item: _Item, author: str, body: str) -> _Comment:
        comment = _Comment(next(self._ids), item.number, author, body, created_at=_now(), updated_at=_now())
        item.comments.append(comment)
        state.comments[comment.id] = comment
        return comment

    def _sha(self, state: _Repo, item: _Item) -> str:
        return hashlib.sha1(f"{state.full_name}#{item.number}:{next(self._ids)}".encode()).hexdigest()

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
            "milestone": None,
            "comments": len(item.comments),
            "created_at": item.created_at,
            "updated_at": _now(),
            "closed_at": item.closed_at,
            "author_association": self._association(state, item.author),
            "active_lock_reason": None,
            "body": item.body or None,
            "state_reason": None,
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

    def _pull_json(self, state: _Repo, item: _Item) -> dict[str, Any]:
        issue = self._issue_json(state, item)
        api = self._api_path(state, f"pulls/{item.number}")
        branch = {"repo": self._repo_json(state), "user": self._user_json(state.owner)}
        owner = state.owner
        return {
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
            "merge_commit_sha": None,
            "assignee": issue["assignee"],
            "assignees": issue["assignees"],
            "requested_reviewers": [self._user_json(login) for login in item.reviewers],
            "requested_teams": [],
            "labels": issue["labels"],
            "milestone": None,
            "draft": item.draft,
            "head": {"label": f"{owner}:change-{item.number}", "ref": f"change-{item.number}", "sha": item.head_sha}
            | branch,
            "base": {"label": f"{owner}:main", "ref": "main", "sha": item.base_sha} | branch,
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
            "mergeable": None if item.merged_by else True,
            "mergeable_state": "unknown" if item.merged_by else "clean",
            "merged_by": self._user_json(item.merged_by) if item.merged_by else None,
            "comments": len(item.comments),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": 1,
            "deletions": 1,
            "changed_files": 1,
        }

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

    def _delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
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
            ("GET", repo + "/labels", self._list_repo_labels, None),
            ("GET", repo + "/collaborators/{login}/permission", self._get_permission, None),
            ("GET", issue, self._get_issue, None),
            ("PATCH", issue, self._edit_issue, None),
            ("POST", issue + "/labels", self._add_labels, None),
            ("DELETE", issue + "/labels/{label}", self._remove_label, None),
            ("GET", issue + "/comments", self._list_comments, None),
            ("POST", issue + "/comments", self._create_comment, None),
            ("PATCH", repo + "/issues/comments/{id:\\d+}", self._edit_comment, None),
            ("POST", issue + "/assignees", self._add_assignees, None),
            ("DELETE", issue + "/assignees", self._remove_assignees, None),
            ("GET", pull, self._get_pull, None),
            ("POST", pull + "/requested_reviewers", self._request_reviewers, None),
            ("DELETE", pull + "/requested_reviewers", self._remove_reviewers, None),
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
        path = request.rel_url.raw_path.removeprefix(_PREFIX)
        with self._lock:
            self._requests.append(RecordedRequest(request.method, path, dict(request.query)))
            failure = self._take_failure(request.method, path)
            if failure is not None:
                return _error(failure.status, failure.message)
            denied = self._authenticate(request)
        if denied is not None:
            return denied
        try:
            return await handler(request)
        except _Abort as abort:
            return abort.response
        except web.HTTPException as exc:  # no such route: GitHub answers in JSON too
            return _error(exc.status, exc.reason)

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

    def _page(self, request: web.Request, entries: list[Any]) -> web.Response:
        """One page of ``entries`` with GitHub's Link header (per_page at most 100, default 30)."""
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = int(request.query.get("page", 1))
        last = max(1, -(-len(entries) // per_page))
        rels = {"prev": page - 1, "next": page + 1, "last": last, "first": 1}
        links = [
            f'<{request.url.update_query(page=number, per_page=per_page)}>; rel="{rel}"'
            for rel, number in rels.items()
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last)
        ]
        response = web.json_response(entries[(page - 1) * per_page : page * per_page])
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
        state = self._repo_of(request)
        installation_id = self._installation_id(state.owner)
        return web.json_response(
            {
                "id": installation_id,
                "account": self._user_json(state.owner),
                "repository_selection": "all",
                "access_tokens_url": f"{self.api_url}/app/installations/{installation_id}/access_tokens",
                "repositories_url": f"{self.api_url}/installation/repositories",
                "html_url": f"{self._web_url}/settings/installations/{installation_id}",
                "app_id": int(self._app.id) if self._app.id.isdigit() else self._app.id,
                "app_slug": self._app.slug,
                "target_id": self._users[state.owner.lower()][1],
                "target_type": "Organization",
                "permissions": {"issues": "write", "pull_requests": "write", "metadata": "read"},
                "events": ["issue_comment", "issues", "pull_request", "pull_request_review"],
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
                "single_file_name": None,
            }
        )

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

    def _get_issue(self, request: web.Request, body: Any) -> web.Response:
        return web.json_response(self._issue_json(*self._item_of(request)))

    def _edit_issue(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        new_state = (body or {}).get("state", item.state)
        if new_state not in ("open", "closed") or (new_state == "open" and item.merged_by):
            raise _Abort(422, "Validation Failed", errors=[{"resource": "Issue", "field": "state", "code": "invalid"}])
        if new_state != item.state:
            item.state, item.closed_at = new_state, (_now() if new_state == "closed" else None)
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
        return web.json_response([self._label_json(state, name) for name in item.labels])

    def _remove_label(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        wanted = request.match_info["label"].lower()
        remaining = [name for name in item.labels if name.lower() != wanted]
        if len(remaining) == len(item.labels):
            raise _Abort(404, "Label does not exist")
        item.labels = remaining
        return web.json_response([self._label_json(state, name) for name in item.labels])

    def _list_comments(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        return self._page(request, [self._comment_json(state, item, c) for c in item.comments])

    def _create_comment(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request)
        data = self._comment_json(state, item, self._add_comment(state, item, request[_LOGIN], _comment_body(body)))
        return web.json_response(data, status=201, headers={"Location": data["url"]})

    def _edit_comment(self, request: web.Request, body: Any) -> web.Response:
        state = self._repo_of(request)
        comment = state.comments.get(int(request.match_info["id"]))
        if comment is None:
            raise _Abort(404, "Not Found")
        comment.body, comment.updated_at = _comment_body(body), _now()
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

    def _get_pull(self, request: web.Request, body: Any) -> web.Response:
        return web.json_response(self._pull_json(*self._item_of(request, pull=True)))

    def _request_reviewers(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request, pull=True)
        logins = _logins(body, "reviewers")
        if any(login.lower() == item.author.lower() for login in logins):
            raise _Abort(422, "Review cannot be requested from pull request author.")
        if not all(self._level(state, login) for login in logins):
            raise _Abort(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or teams you "
                f"specified is not a collaborator of the {state.full_name} repository.",
            )
        for login in logins:
            if login.lower() not in {r.lower() for r in item.reviewers}:
                item.reviewers.append(self._users[login.lower()][0])
        return web.json_response(self._pull_json(state, item), status=201)

    def _remove_reviewers(self, request: web.Request, body: Any) -> web.Response:
        state, item = self._item_of(request, pull=True)
        gone = {login.lower() for login in _logins(body, "reviewers")}
        item.reviewers = [login for login in item.reviewers if login.lower() not in gone]
        return web.json_response(self._pull_json(state, item))


def _logins(body: Any, key: str) -> list[str]:
    logins = body.get(key) if isinstance(body, dict) else None
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
