"""``ForgeClient`` for GitHub and GitHub Enterprise, over PyGithub.

PyGithub objects are read only in this module.  Every call is blocking; ``AsyncForge`` runs it off the
event loop.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from github import Auth, Github, GithubException, GithubIntegration, RateLimitExceededException
from github.CheckRun import CheckRun
from github.GithubObject import NotSet
from github.Issue import Issue
from github.PullRequest import PullRequest
from github.Requester import Requester

from bot.events import Item, ItemKind, ItemRef, ReviewState
from bot.forge.github import open_pulls
from bot.forge.transport import Transport, connect_only_retries, retry_after
from bot.repo_globs import listing_plan, repo_matches
from bot.forge.base import (
    RunStarted,
    Milestone,
    Capabilities,
    ChangedFile,
    ChangedFiles,
    Comment,
    CommitStatus,
    DeliveryAttempt,
    ForbiddenError,
    ForgeError,
    ForgeUnavailableError,
    GitSource,
    Hook,
    HookLevel,
    HookScope,
    InvalidRequestError,
    Mergeability,
    MergeMethod,
    MergeRefusedError,
    NotFoundError,
    Permission,
    PullState,
    RateLimitedError,
    Review,
    StatusState,
)

# PyGithub's own retry is not used: its default (GithubRetry) repeats POSTs on 5xx (a second
# comment) and sleeps out rate limits on the worker thread.  The transport repeats only what never
# left (``bot.forge.transport.connect_only_retries``); a 5xx, a lost answer or a rate limit surface
# at once as ForgeUnavailableError / RateLimitedError, and the client's retry layer
# (``bot.forge.layers.Retrying``) repeats what its policy row says is safe, one request an attempt.

_ROLES = {
    "admin": Permission.ADMIN,
    "maintain": Permission.MAINTAIN,
    "write": Permission.WRITE,
    "triage": Permission.TRIAGE,
    "read": Permission.READ,
    "none": Permission.NONE,
}

# A PR file's status on GitHub → ChangedFile.status.  A copy leaves its source as it was, so it is
# only an added file; "changed" (mode only) and "unchanged" are modifications in place.
_MAX_PULL_FILES = 3000  # GET /pulls/N/files lists no more
_FILE_STATUSES = {
    "added": "added",
    "removed": "removed",
    "modified": "modified",
    "renamed": "renamed",
    "copied": "added",
    "changed": "modified",
    "unchanged": "modified",
}

# Submitted reviews' REST states.  PENDING (started, not submitted; only its author sees it) is no
# verdict and is left out.
_REVIEW_STATES = {
    "APPROVED": ReviewState.APPROVED,
    "CHANGES_REQUESTED": ReviewState.CHANGES_REQUESTED,
    "COMMENTED": ReviewState.COMMENTED,
    "DISMISSED": ReviewState.DISMISSED,
}

# A completed check run's conclusion → the commit-status state it counts as.  A conclusion GitHub
# adds later is an ERROR (not a success) until it is mapped here.
_CHECK_CONCLUSIONS = {
    "success": StatusState.SUCCESS,
    "neutral": StatusState.SUCCESS,
    "skipped": StatusState.SUCCESS,
    "failure": StatusState.FAILURE,
    "timed_out": StatusState.FAILURE,
    "action_required": StatusState.FAILURE,
    "startup_failure": StatusState.FAILURE,
    "cancelled": StatusState.ERROR,
    "stale": StatusState.ERROR,
}

_STATUS_STATES = {state.value: state for state in StatusState}  # GitHub's four, by name

# A PR's ``mergeable_state`` → what the bot may expect of a merge now.  "unknown" (or ``mergeable``
# null): GitHub computes it in the background after a push or a base change; ask again later.
# "unstable" (non-required checks failing) and "has_hooks" (pre-receive hooks will run) do merge.
_MERGEABLE_STATES = {
    "clean": Mergeability.CLEAN,
    "unstable": Mergeability.CLEAN,
    "has_hooks": Mergeability.CLEAN,
    "dirty": Mergeability.CONFLICT,
    "blocked": Mergeability.BLOCKED,  # branch protection: reviews, required checks, rules
    "behind": Mergeability.BLOCKED,  # protection wants the head up to date with its base
    "draft": Mergeability.BLOCKED,
    "unknown": Mergeability.UNKNOWN,
}

# GitHub's refusals of a merge: 405 not mergeable (conflict, protection, draft, closed), 409 the head
# is not the sha given, 422 e.g. a merge method the repository does not allow.
_MERGE_REFUSALS = (405, 409, 422)

_MAX_DESCRIPTION = 140  # GitHub refuses a longer commit-status description with 422

# GitHub token formats (personal, OAuth, user-to-server, installation, refresh, fine-grained)
_TOKEN_PATTERN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")

R = TypeVar("R")


def _neutral_errors(method: Callable[..., R]) -> Callable[..., R]:
    """Turn every PyGithub/requests exception raised by ``method`` into a ``ForgeError``."""

    @functools.wraps(method)
    def wrapper(self: GitHubClient, *args: Any, **kwargs: Any) -> R:
        with self.neutral_errors(method.__name__):
            return method(self, *args, **kwargs)

    return wrapper


class GitHubClient:
    name = "github"
    capabilities = Capabilities()

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        app_id: str | None = None,
        app_private_key: str | None = None,
        timeout: float = 15.0,
        transport: Transport | None = None,
    ) -> None:
        """``api_url``: ``https://api.github.com`` or GitHub Enterprise's ``https://HOST/api/v3``.
        Authenticate with either ``token`` or a GitHub App (``app_id`` and ``app_private_key``).
        ``transport``: conditional requests and the request meter (``bot.forge.transport``)."""
        options: dict[str, Any] = dict(
            base_url=api_url.rstrip("/"),
            timeout=math.ceil(timeout),  # PyGithub accepts whole seconds only
            per_page=100,
            retry=connect_only_retries(),  # the transport's policy (mounted over PyGithub's adapter)
            # PyGithub's throttle is off: it sleeps on the worker thread before every request, per
            # thread.  Writes are paced by the client's write budget instead (bot.forge.budget).
            seconds_between_requests=0,
            seconds_between_writes=0,
            # objects stay bare URLs until an attribute they lack is read: no needless GETs
            lazy=True,
        )
        self._token = token
        self._web_url = _web_url(api_url)
        self._github: Github | None = None
        self._integration: GithubIntegration | None = None
        self._installations: dict[str, Github] = {}  # by lower-cased owner: one installation each
        self.transport = transport or Transport(self.name)
        if token is not None and app_id is None and app_private_key is None:
            self._github = Github(auth=Auth.Token(token), **options)
            _use_transport(self._github.requester, self.transport)
        elif token is None and app_id is not None and app_private_key is not None:
            self._integration = GithubIntegration(auth=Auth.AppAuth(app_id, app_private_key), **options)
            _use_transport(self._integration.requester, self.transport)
        else:
            raise ValueError("give either token, or both app_id and app_private_key")

    # ---- ForgeClient -----------------------------------------------------------------------

    @_neutral_errors
    def whoami(self) -> str:
        """Asks the forge each time: the layered client caches it, and readiness re-checks the
        credentials through it."""
        if self._integration is not None:
            return f"{self._integration.get_app().slug}[bot]"
        return self._github.get_user().login

    @_neutral_errors
    def get_item(self, ref: ItemRef) -> Item:
        repo = self._gh(ref.repo).get_repo(ref.repo)
        if ref.kind is ItemKind.ISSUE:
            issue = repo.get_issue(ref.number)
            if issue.pull_request is None:
                return Item(
                    ref=ItemRef(ref.repo, ref.number, ItemKind.ISSUE),
                    author=issue.user.login,
                    title=issue.title or "",
                    body=issue.body or "",
                    state=issue.state,
                    labels=frozenset(label.name for label in issue.labels),
                    assignees=frozenset(user.login for user in issue.assignees),
                    url=issue.html_url,
                )
        # A PR's own endpoint carries everything an Item needs, so a PR ref costs one request.
        return _pull_item(ref.repo, repo.get_pull(ref.number))

    @_neutral_errors
    def repo_labels(self, repo: str) -> frozenset[str]:
        return frozenset(label.name for label in self._gh(repo).get_repo(repo).get_labels())

    @_neutral_errors
    def add_labels(self, ref: ItemRef, labels: Sequence[str]) -> None:
        if labels:
            self._issue(ref).add_to_labels(*labels)

    @_neutral_errors
    def remove_label(self, ref: ItemRef, label: str) -> None:
        # Not Issue.remove_from_labels: it leaves "/" unescaped, and "kind/bug" then names no route.
        url = f"/repos/{ref.repo}/issues/{ref.number}/labels/{quote(label, safe='')}"
        try:
            self._gh(ref.repo).requester.requestJsonAndCheck("DELETE", url)
        except GithubException as exc:
            if exc.status != 404:  # 404: the label is not on the item
                raise

    def remove_labels(self, ref: ItemRef, labels: Sequence[str]) -> None:
        for label in labels:
            self.remove_label(ref, label)

    @_neutral_errors
    def change_labels(self, ref: ItemRef, add: Sequence[str], remove: Sequence[str]) -> None:
        if not remove:
            self.add_labels(ref, add)  # one POST .../labels
        elif not add and len(remove) == 1:
            self.remove_label(ref, remove[0])  # one DELETE .../labels/{name}
        else:
            # GitHub removes one label per request; several changes are one PUT .../labels that
            # replaces them all, computed from the labels the item has now (a read: no write token).
            requester = self._gh(ref.repo).requester
            url = f"/repos/{ref.repo}/issues/{ref.number}"
            _, issue = requester.requestJsonAndCheck("GET", url)
            gone = {label.lower() for label in remove}
            kept = [label["name"] for label in issue.get("labels") or [] if label["name"].lower() not in gone]
            present = {label.lower() for label in kept}
            wanted = kept + [label for label in dict.fromkeys(add) if label.lower() not in present]
            requester.requestJsonAndCheck("PUT", f"{url}/labels", input={"labels": wanted})

    @_neutral_errors
    def comment(self, ref: ItemRef, body: str) -> int:
        return self._issue(ref).create_comment(body).id

    @_neutral_errors
    def edit_comment(self, ref: ItemRef, comment_id: int, body: str) -> None:
        self._issue(ref).get_comment(comment_id).edit(body)

    @_neutral_errors
    def list_comments(self, ref: ItemRef) -> list[Comment]:
        return [
            Comment(
                id=comment.id, author=comment.user.login, body=comment.body or "", created_at=_iso(comment.created_at)
            )
            for comment in self._issue(ref).get_comments()
        ]

    @_neutral_errors
    def add_assignees(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        if not logins:
            return frozenset()
        issue = self._issue(ref)
        issue.add_to_assignees(*logins)
        # GitHub answers 201 and silently drops logins that cannot be assigned here.
        assigned = {user.login.lower() for user in issue.assignees}
        return frozenset(login for login in logins if login.lower() not in assigned)

    @_neutral_errors
    def remove_assignees(self, ref: ItemRef, logins: Sequence[str]) -> None:
        if logins:
            self._issue(ref).remove_from_assignees(*logins)

    @_neutral_errors
    def request_review(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        owner = ref.repo.split("/", 1)[0].lower()
        foreign = [n for n in logins if "/" in n and n.split("/", 1)[0].lower() != owner]  # only the PR's org's teams
        logins = [n for n in logins if n not in foreign]
        if not logins:
            return frozenset(foreign)
        pull = self._pull(ref)
        if _request_reviews(pull, logins):
            return frozenset(foreign)
        if len(logins) == 1:
            return frozenset(foreign) | frozenset(logins)
        # One login GitHub refuses fails the whole batch; ask one by one so the others are requested.
        return frozenset(foreign) | frozenset(login for login in logins if not _request_reviews(pull, [login]))

    @_neutral_errors
    def remove_review_request(self, ref: ItemRef, logins: Sequence[str]) -> None:
        if logins:
            users, teams = _users_and_teams(logins)
            self._pull(ref).delete_review_request(reviewers=users or NotSet, team_reviewers=teams or NotSet)

    @_neutral_errors
    def label_added_by(self, ref: ItemRef, label: str) -> str | None:
        # GET /issues/N/events, every page, oldest first (a PR is an issue too).  Raw: only
        # "labeled" entries are wanted, and their actor and label come with the listing.
        adder = None
        url = f"/repos/{ref.repo}/issues/{ref.number}/events"
        for event in _pages(self._gh(ref.repo), url, {"per_page": 100}):
            name = (event.get("label") or {}).get("name") or ""
            if event.get("event") == "labeled" and name.lower() == label.lower():
                adder = (event.get("actor") or {}).get("login")
        return adder

    @_neutral_errors
    def pulls_by(self, repo: str, login: str, limit: int = 2) -> list[int]:
        # GET /issues?creator=&state=all lists the user's issues and PRs, newest first; PRs carry
        # ``pull_request``.  Lazy pages: it stops as soon as ``limit`` PRs are found.
        found: list[int] = []
        params = {"creator": login, "state": "all", "per_page": 100}
        for entry in _pages(self._gh(repo), f"/repos/{repo}/issues", params):
            if entry.get("pull_request") is not None:
                found.append(entry["number"])
                if len(found) >= limit:
                    break
        return found

    @_neutral_errors
    def set_open(self, ref: ItemRef, is_open: bool, *, not_planned: bool = False) -> None:
        if is_open:
            self._issue(ref).edit(state="open")
        elif not_planned and ref.kind is ItemKind.ISSUE:
            self._issue(ref).edit(state="closed", state_reason="not_planned")
        else:
            self._issue(ref).edit(state="closed")

    @_neutral_errors
    def set_title(self, ref: ItemRef, title: str) -> None:
        self._issue(ref).edit(title=title)  # PATCH /issues/N: a PR is an issue too

    @_neutral_errors
    def list_milestones(self, repo: str) -> list[Milestone]:
        return [Milestone(m.number, m.title) for m in self._gh(repo).get_repo(repo).get_milestones(state="open")]

    @_neutral_errors
    def set_milestone(self, ref: ItemRef, milestone: Milestone | None) -> None:
        # Raw request: PATCH /issues/N takes the milestone's number, or null to clear it.
        url = f"/repos/{ref.repo}/issues/{ref.number}"
        self._gh(ref.repo).requester.requestJsonAndCheck(
            "PATCH", url, input={"milestone": milestone.id if milestone else None})

    @_neutral_errors
    def permission(self, repo: str, login: str) -> Permission:
        # Raw request: PyGithub returns either ``permission`` or ``role_name`` and both are needed.
        url = f"/repos/{repo}/collaborators/{quote(login, safe='')}/permission"
        try:
            _, data = self._gh(repo).requester.requestJsonAndCheck("GET", url)
        except GithubException as exc:
            if exc.status == 404:  # no such user
                return Permission.NONE
            raise
        # role_name tells maintain and triage apart (permission folds them into write and read);
        # for a custom role, fall back to the base permission it extends.
        role = data.get("role_name")
        if role not in _ROLES:
            role = data.get("permission")
        return _ROLES.get(role, Permission.NONE)

    @_neutral_errors
    def default_branch(self, repo: str) -> str:
        # GET /repos/{owner}/{repo}, one request: the lazy repository completes itself on first read.
        return self._gh(repo).get_repo(repo).default_branch

    @_neutral_errors
    def branch_sha(self, repo: str, branch: str) -> str:
        # GET /git/ref/heads/{branch}: one small exact-match answer (the branches endpoint returns the
        # whole head commit and protection too).  PyGithub quotes the ref but keeps "/", as GitHub
        # wants it: "heads/release/1.0".  Lazy: the one request is made by reading ``object``.
        return self._gh(repo).get_repo(repo).get_git_ref(f"heads/{branch}").object.sha

    @_neutral_errors
    def read_file(self, repo: str, path: str, sha: str) -> str | None:
        # GET /contents/{path}?ref={sha}, one request; PyGithub quotes each path component, "/" kept.
        try:
            content = self._gh(repo).get_repo(repo).get_contents(path, ref=sha)
        except GithubException as exc:
            message = exc.data.get("message") if isinstance(exc.data, dict) else None
            if exc.status == 404 and not str(message or "").startswith("No commit found"):
                return None  # no such file (or repository: GitHub's 404 does not say which)
            if exc.status == 403 and "too_large" in str(exc.data):  # over 100 MB
                raise InvalidRequestError(self._redact(f"GitHub read_file failed: {path} is over 100 MB")) from exc
            raise  # an unknown commit is NotFoundError, not "no file"
        # A directory comes as a list of its entries; a submodule, or a symlink whose target is not
        # a file in the repository, as an object of another type.  None of them is a file to read.
        if isinstance(content, list) or content.type != "file":
            return None
        if content.encoding != "base64":
            # Files of 1-100 MB come with encoding "none" and no content.
            text = f"GitHub read_file failed: {path} ({content.size} bytes) is over the contents API's 1 MB"
            raise InvalidRequestError(self._redact(text))
        try:
            data = base64.b64decode(content.content or "")
        except binascii.Error as exc:
            raise ForgeError(self._redact(f"GitHub read_file failed: {path} came with undecodable base64")) from exc
        return data.decode("utf-8", errors="replace")

    @_neutral_errors
    def changed_files(self, ref: ItemRef, head_sha: str | None = None) -> ChangedFiles:
        # GET /pulls/N/files, every page.  GitHub lists at most 3000 files for a PR (30 pages of
        # 100); for a larger PR the rest is silently missing, and no API gives it (the compare API
        # stops at 300).  Only a list that reached the cap can be short, so only then is the PR's
        # own count (``changed_files`` of GET /pulls/N, one request) asked for.
        pull = self._pull(ref)
        files = []
        for file in pull.get_files():
            status = _FILE_STATUSES.get(file.status, "modified")
            previous = file.previous_filename if status == "renamed" else None
            files.append(ChangedFile(path=file.filename, status=status, previous_path=previous,
                                     additions=file.additions or 0, deletions=file.deletions or 0))
        if len(files) < _MAX_PULL_FILES:
            return ChangedFiles(files, total=str(len(files)))
        total = pull.changed_files
        return ChangedFiles(files, complete=total <= len(files), total=str(total))

    def comments_and_reviews(self, ref: ItemRef) -> tuple[list[Comment], list[Review]]:
        """Two requests: GitHub's comments and reviews are separate lists, neither a hint of the other."""
        return self.list_comments(ref), self.list_reviews(ref)

    @_neutral_errors
    def list_reviews(self, ref: ItemRef) -> list[Review]:
        # GET /pulls/N/reviews, every page.  GitHub lists reviews by creation; one started as
        # pending and submitted later is ordered by when it was submitted (a stable sort).
        reviews = []
        for review in self._pull(ref).get_reviews():
            state = _REVIEW_STATES.get(review.state)
            if state is None or review.user is None:  # pending; or its author's account is deleted
                continue
            reviews.append(Review(author=review.user.login, state=state, submitted_at=_iso(review.submitted_at),
                                  body=review.body or ""))
        return sorted(reviews, key=lambda review: review.submitted_at)

    @_neutral_errors
    def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        # POST /statuses/{sha}, one request: the lazy commit takes its sha from its URL.  A status
        # with a context already on the commit replaces it in the combined status.  Never retried.
        self._gh(repo).get_repo(repo).get_commit(sha).create_status(
            state=status.state.value,
            target_url=status.target_url or NotSet,
            description=_cut(status.description, _MAX_DESCRIPTION) or NotSet,
            context=status.context,
        )

    @_neutral_errors
    def list_statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        """Commit statuses *and* check runs, as one list: merge readiness and /retest must see both,
        since GitHub Actions and most Apps report only check runs while classic CI, and this bot,
        post statuses.  A check run counts as a status named after it: queued or in progress (or any
        other unfinished state) → PENDING; success, neutral, skipped → SUCCESS; failure, timed_out,
        action_required, startup_failure → FAILURE; cancelled, stale (or a conclusion unknown here) →
        ERROR.  Its description is its output's title, its target its details URL.

        One entry per context: when a context is both a status and a check run, or two check suites
        have a run of one name, the latest wins (a status's updated_at, a run's completed_at or else
        started_at; on a tie the status, then the later run)."""
        github = self._gh(repo)
        candidates: list[tuple[tuple[str, int, int], CommitStatus]] = []  # (recency, status)
        for entry in _combined_statuses(github, repo, sha):
            state = _STATUS_STATES.get(entry.get("state"), StatusState.ERROR)
            status = CommitStatus(
                context=entry.get("context") or "default",
                state=state,
                description=entry.get("description") or "",
                target_url=entry.get("target_url") or None,
            )
            candidates.append(((entry.get("updated_at") or "", 1, entry.get("id") or 0), status))
        # GET /commits/{sha}/check-runs, every page; GitHub's default filter lists each suite's
        # latest run of a name, so a re-run replaces the run it repeats.
        for run in github.get_repo(repo).get_commit(sha).get_check_runs():
            recency = (_iso(run.completed_at or run.started_at), 0, run.id)
            candidates.append((recency, _check_run_status(run)))
        latest: dict[str, tuple[tuple[str, int, int], CommitStatus]] = {}
        for recency, status in candidates:
            if status.context not in latest or recency > latest[status.context][0]:
                latest[status.context] = (recency, status)
        return [status for _, status in latest.values()]

    @_neutral_errors
    def is_org_member(self, org: str, login: str) -> bool:
        """GET /orgs/{org}/members/{login}: 204 a member, 404 not (or no such user, or ``org`` is a
        user account).  GitHub shows private membership only to members of the organisation and to
        Apps (with the "members: read" organisation permission): to anyone else it answers 302 to
        the public-membership check, which is then asked (one more request), so for a bot account
        outside the organisation only *public* members count.  Make the bot's account a member of
        the organisation, or use an App, for private members to count."""
        try:
            github = self._gh_owner(org)
        except GithubException as exc:
            if exc.status == 404:  # the App is not installed on this organisation: nothing to see
                return False
            raise
        members = f"/orgs/{quote(org, safe='')}/members/{quote(login, safe='')}"
        try:
            headers, _ = github.requester.requestJsonAndCheck("GET", members)
            if "location" not in headers:  # 204
                return True
            # 302: PyGithub does not follow it; ask the public-membership endpoint it points at
            public = f"/orgs/{quote(org, safe='')}/public_members/{quote(login, safe='')}"
            github.requester.requestJsonAndCheck("GET", public)
        except GithubException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    @_neutral_errors
    def is_team_member(self, org: str, team: str, login: str) -> bool:
        """GET /orgs/{org}/teams/{team_slug}/memberships/{username}: ``state`` "active" for a member
        (or maintainer); "pending" for an invitation not yet accepted; 404 for anyone else, and for
        a team the bot cannot see (a secret team it is not in needs "members: read" for an App)."""
        try:
            github = self._gh_owner(org)
        except GithubException as exc:
            if exc.status == 404:
                return False
            raise
        path = f"/orgs/{quote(org, safe='')}/teams/{quote(team, safe='')}/memberships/{quote(login, safe='')}"
        try:
            _, data = github.requester.requestJsonAndCheck("GET", path)
        except GithubException as exc:
            if exc.status == 404:
                return False
            raise
        return (data or {}).get("state") == "active"

    @_neutral_errors
    def same_tree(self, repo: str, old_sha: str, new_sha: str) -> bool:
        """GET /repos/{o}/{r}/git/commits/{sha} for each commit: the git commit names its tree.  A
        commit GitHub no longer has (force-pushed away and collected) is 404 (422 for a malformed
        sha): then the trees cannot be shown equal."""
        if old_sha == new_sha:
            return True
        github = self._gh(repo)
        trees = []
        for sha in (old_sha, new_sha):
            try:
                _, data = github.requester.requestJsonAndCheck(
                    "GET", f"/repos/{repo}/git/commits/{quote(sha, safe='')}")
            except GithubException as exc:
                if exc.status in (404, 422):
                    return False
                raise
            trees.append(((data or {}).get("tree") or {}).get("sha"))
        return trees[0] is not None and trees[0] == trees[1]

    @_neutral_errors
    def git_source(self, ref: ItemRef) -> GitSource:
        """``<web url>/<repo>.git`` and ``refs/pull/N/head``, with HTTP Basic credentials
        ``x-access-token:<token>`` in a header: the bot's token, or for an App the installation's
        (fetched, or renewed near its expiry, by PyGithub: at most one request).  The header is a
        secret: GitSource keeps it out of its repr; never log it."""
        token = self._gh(ref.repo).requester.auth.token
        credentials = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
        return GitSource(
            url=f"{self._web_url}/{ref.repo}.git",
            ref=f"refs/pull/{ref.number}/head",
            header=f"Authorization: Basic {credentials}",
        )

    @_neutral_errors
    def create_pull(self, repo: str, head_branch: str, base_branch: str, title: str, body: str) -> int:
        # GET /pulls?head=owner:branch&state=open first: a retried call must not open a second PR
        # (GitHub would refuse it with 422 anyway, in words we would have to parse).
        requester = self._gh(repo).requester
        owner = repo.split("/", 1)[0]
        _, existing = requester.requestJsonAndCheck(
            "GET", f"/repos/{repo}/pulls", parameters={"head": f"{owner}:{head_branch}", "state": "open"})
        if existing:
            return int(existing[0]["number"])
        _, created = requester.requestJsonAndCheck(
            "POST", f"/repos/{repo}/pulls",
            input={"title": title, "head": head_branch, "base": base_branch, "body": body})
        return int(created["number"])

    @_neutral_errors
    def list_open_pulls(self, repo: str) -> list[PullState]:
        """One GraphQL query per 100 open PRs, oldest first, with labels, head sha, mergeability and
        the head's statuses and check runs (``bot.forge.github.open_pulls``).  GraphQL answers
        errors with a 200 and ``errors``: a missing repository is NotFoundError, others raise."""
        requester = self._gh(repo).requester
        pulls: dict[int, PullState] = {}  # by number: a PR opened during the walk may repeat one
        overflowing: list[int] = []
        cursor: str | None = None
        while True:
            headers, data = requester.requestJsonAndCheck(
                "POST", requester.graphql_url, input={"query": open_pulls.QUERY, "variables": open_pulls.variables(repo, cursor)},
                headers={"Accept": open_pulls.ACCEPT})
            data = data if isinstance(data, dict) else {}
            if data.get("errors") or not (data.get("data") or {}).get("repository"):
                errors = data.get("errors") or []
                if any(e.get("type") == "RATE_LIMITED" for e in errors):  # GraphQL's own budget, spent
                    raise requester.createException(403, headers, {"message": "API rate limit exceeded (GraphQL)"})
                status = 404 if not errors or any(e.get("type") == "NOT_FOUND" for e in errors) else 400
                raise requester.createException(status, headers, data)
            page, cursor, more = open_pulls.read_page(repo, data)
            for pull in page:
                pulls.setdefault(pull.item.ref.number, pull)
            overflowing += more
            if cursor is None:
                break
        for number in overflowing:  # more labels than a page holds: the issue has them all
            pull = pulls[number]
            labels = self.get_item(pull.item.ref).labels
            pulls[number] = replace(pull, item=replace(pull.item, labels=labels))
        return list(pulls.values())

    @_neutral_errors
    def mergeability(self, ref: ItemRef) -> PullState:
        """``GET /pulls/N``, one request (an issue's number: NotFoundError).  ``mergeable_state``:
        clean, unstable, has_hooks → CLEAN; dirty → CONFLICT; blocked, behind, draft → BLOCKED;
        unknown, or ``mergeable`` null → UNKNOWN (GitHub is computing it: ask again).  A state GitHub
        adds later is CONFLICT when ``mergeable`` is false, else BLOCKED.  A PR that is closed or
        merged is BLOCKED (GitHub no longer computes it).  ``reason`` is the ``mergeable_state`` (or
        "closed" / "merged") for CONFLICT and BLOCKED, "" otherwise."""
        pull = self._pull(ref)
        item = _pull_item(ref.repo, pull)
        if item.state != "open":
            return PullState(item=item, mergeable=Mergeability.BLOCKED, reason=item.state)
        state = pull.mergeable_state or "unknown"
        if pull.mergeable is None:
            verdict = Mergeability.UNKNOWN
        else:
            verdict = _MERGEABLE_STATES.get(
                state, Mergeability.BLOCKED if pull.mergeable else Mergeability.CONFLICT
            )
        reason = state if verdict in (Mergeability.CONFLICT, Mergeability.BLOCKED) else ""
        return PullState(item=item, mergeable=verdict, reason=reason)

    @_neutral_errors
    def merge(self, ref: ItemRef, sha: str, method: MergeMethod) -> None:
        """``PUT /pulls/N/merge`` with ``sha`` and ``merge_method``: GitHub merges only if the head is
        still ``sha``.  Its refusals (405 not mergeable, 409 head moved, 422) are MergeRefusedError
        with GitHub's message.  Never retried, not even on 502/503/504 (policy NOT_REPEATABLE): GitHub may
        have merged before the answer was lost, so after ForgeUnavailableError read the PR again
        (``mergeability``: its state is "merged" if it was) rather than merge again."""
        if not sha:
            raise InvalidRequestError("GitHub merge failed: no head sha to merge at")
        try:
            status = self._pull(ref).merge(merge_method=method.value, sha=sha)
        except GithubException as exc:
            if exc.status in _MERGE_REFUSALS and not isinstance(exc, RateLimitExceededException):
                message = exc.data.get("message") if isinstance(exc.data, dict) else None
                raise MergeRefusedError(self._redact(str(message or f"HTTP {exc.status}"))) from exc
            raise
        if not status.merged:  # GitHub answers 200 only for a merge; be safe all the same
            raise MergeRefusedError(self._redact(status.message or "GitHub did not merge"))

    @_neutral_errors
    def open_issues_with_label(self, repo: str, label: str) -> list[int]:
        """``GET /issues?state=open&labels=<label>``, every page of 100, without the PRs GitHub lists
        among issues.  Raw: PyGithub would fetch each issue to learn it is not a PR.  GitHub splits
        ``labels`` at commas, so a label with a comma in its name matches nothing."""
        url = f"/repos/{repo}/issues"
        parameters = {"state": "open", "labels": label, "per_page": 100}
        return [
            entry["number"]
            for entry in _pages(self._gh(repo), url, parameters)
            if "pull_request" not in entry and entry.get("state", "open") == "open"
        ]

    # ---- repositories in scope, and repair of missed deliveries ----------------------------

    @_neutral_errors
    def list_repos(self, globs: Sequence[str]) -> list[str]:
        """An App: every installation's repositories (``GET /app/installations``, then
        ``GET /installation/repositories`` with each installation's token), whatever the globs.
        A token: ``GET /user/repos`` when a glob's owner is not literal (``*``), else each literal
        owner's ``GET /orgs/{owner}/repos`` (``/users/{owner}/repos`` for a user account); a glob
        without wildcards names its repository without a request.  Every page of 100; archived
        repositories left out."""
        plan = listing_plan(globs, nested=False)
        found: dict[str, str] = {}
        for entry in self._repo_listings(plan):
            if not entry.get("archived"):
                found.setdefault(entry["full_name"].lower(), entry["full_name"])
        if self._integration is None:  # an App's listing is complete; a token's exact names are taken as given
            for repo in plan.exact:
                found.setdefault(repo.lower(), repo)
        return sorted((name for name in found.values() if repo_matches(name, globs)), key=str.lower)

    def hook_scopes(self, repos: Sequence[str]) -> list[HookScope]:
        """The App's hook (App credentials only), each owner's organisation hooks, each repository's."""
        owners = {repo.split("/", 1)[0].lower(): repo.split("/", 1)[0] for repo in repos}
        scopes = [HookScope(HookLevel.APP)] if self._integration is not None else []
        scopes += [HookScope(HookLevel.ORG, owner) for owner in sorted(owners.values(), key=str.lower)]
        return scopes + [HookScope(HookLevel.REPO, repo) for repo in repos]

    @_neutral_errors
    def find_hooks(self, scope: HookScope, url: str) -> list[Hook]:
        """App: ``GET /app/hook/config`` (JWT), one request.  Organisation / repository:
        ``GET /orgs/{org}/hooks`` / ``GET /repos/{o}/{r}/hooks``, which need the organisation's
        owner or the repository's admin (token: ``admin:org_hook`` / ``admin:repo_hook``; App:
        "webhooks: read" on the organisation / repository); GitHub answers 404 otherwise."""
        wanted = url.rstrip("/")
        if scope.level is HookLevel.APP:
            if self._integration is None:
                raise NotFoundError("GitHub find_hooks failed: the App hook needs GitHub App credentials")
            _, config = self._integration.requester.requestJsonAndCheck("GET", "/app/hook/config")
            return [Hook(scope, 0)] if str((config or {}).get("url") or "").rstrip("/") == wanted else []
        if scope.level is HookLevel.ORG:
            requester, path = self._gh_owner(scope.name).requester, f"/orgs/{quote(scope.name, safe='')}/hooks"
        else:
            requester, path = self._gh(scope.name).requester, f"/repos/{scope.name}/hooks"
        return [
            Hook(scope, entry["id"])
            for entry in _requester_pages(requester, path, {"per_page": 100})
            if str((entry.get("config") or {}).get("url") or "").rstrip("/") == wanted
        ]

    @_neutral_errors
    def hook_deliveries(self, hook: Hook, since: datetime) -> list[DeliveryAttempt]:
        """``GET .../deliveries`` (``/app/hook/deliveries`` with the JWT), newest first, 100 a page,
        following the cursor in the Link header until an attempt is older than ``since``.  Each
        attempt (a redelivery too) is one entry; ``guid`` is the X-GitHub-Delivery it carried."""
        requester, base = self._hook_route(hook)
        attempts = []
        for entry in _requester_pages(requester, f"{base}/deliveries", {"per_page": 100}):
            at = _parse_time(entry.get("delivered_at"))
            if at < since:
                break
            code = entry.get("status_code") or 0  # 0: no HTTP answer (refused, timed out)
            event = str(entry.get("event") or "") + (f".{entry['action']}" if entry.get("action") else "")
            attempts.append(DeliveryAttempt(
                attempt_id=str(entry["id"]), delivery_id=str(entry.get("guid") or ""), at=at,
                ok=200 <= int(code) < 300, event=event, status=str(entry.get("status") or ""),
            ))
        return attempts

    @_neutral_errors
    def redeliver(self, hook: Hook, attempt_id: str) -> None:
        """``POST .../deliveries/{id}/attempts``: GitHub answers 202 and sends the same payload with
        the same X-GitHub-Delivery (recorded as a new attempt, ``redelivery: true``).  GitHub keeps
        deliveries redeliverable for 3 days.  A POST: never retried."""
        requester, base = self._hook_route(hook)
        requester.requestJsonAndCheck("POST", f"{base}/deliveries/{quote(attempt_id, safe='')}/attempts")

    @_neutral_errors
    def dispatch_workflow(self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str]) -> RunStarted:
        """``POST .../actions/workflows/{file or id}/dispatches`` with ``return_run_details``: GitHub
        answers 200 with ``workflow_run_id`` and ``html_url`` (since February 2026), or 204 with
        nothing (older GitHub Enterprise Server): then the run id is None.  A POST: never retried."""
        path = f"/repos/{repo}/actions/workflows/{quote(workflow, safe='')}/dispatches"
        body = {"ref": ref, "inputs": dict(inputs), "return_run_details": True}
        _, data = self._gh(repo).requester.requestJsonAndCheck("POST", path, input=body)
        data = data if isinstance(data, dict) else {}
        run_id = data.get("workflow_run_id")
        return RunStarted(run_id if isinstance(run_id, int) else None, str(data.get("html_url") or ""))

    def start_pipeline(self, repo: str, ref: str, variables: Mapping[str, str]) -> RunStarted:
        raise InvalidRequestError("GitLab pipelines are not supported on GitHub (use an Actions workflow)")

    def _hook_route(self, hook: Hook) -> tuple[Requester, str]:
        scope = hook.scope
        if scope.level is HookLevel.APP:
            if self._integration is None:
                raise NotFoundError("GitHub: the App hook needs GitHub App credentials")
            return self._integration.requester, "/app/hook"
        if scope.level is HookLevel.ORG:
            return self._gh_owner(scope.name).requester, f"/orgs/{quote(scope.name, safe='')}/hooks/{hook.id}"
        return self._gh(scope.name).requester, f"/repos/{scope.name}/hooks/{hook.id}"

    def _repo_listings(self, plan: Any) -> Iterator[dict[str, Any]]:
        if self._integration is not None:
            for installation in self._integration.get_installations():
                login = installation.account.login
                github = self._installation(login, lambda installation=installation: installation)
                yield from _requester_pages(
                    github.requester, "/installation/repositories", {"per_page": 100}, key="repositories"
                )
            return
        if plan.everything:
            yield from _pages(self._github, "/user/repos", {"per_page": 100})
            return
        for owner in sorted(plan.namespaces):
            try:
                yield from _pages(self._github, f"/orgs/{quote(owner, safe='')}/repos", {"per_page": 100, "type": "all"})
            except GithubException as exc:
                if exc.status != 404:  # 404: not an organisation; a user's, then
                    raise
                try:
                    yield from _pages(self._github, f"/users/{quote(owner, safe='')}/repos", {"per_page": 100})
                except GithubException as again:
                    if again.status != 404:  # no such account: nothing to list
                        raise

    # ---- shared with bot.forge.github.actions ----------------------------------------------

    def sdk(self, repo: str) -> Github:
        """The PyGithub client acting on ``repo`` (the token's or the App installation's), so that
        ``GitHubActions`` shares this client's authentication and transport (a request is repeated
        only when it never left).  Call it inside ``neutral_errors``: an App's first call for an owner looks its
        installation up."""
        return self._gh(repo)

    @contextlib.contextmanager
    def neutral_errors(self, action: str) -> Iterator[None]:
        """Inside, every PyGithub/requests exception becomes a ``ForgeError`` (as in every method of
        this client), its message naming ``action`` and carrying no token."""
        try:
            yield
        except GithubException as exc:
            raise self._neutral_error(action, exc) from exc
        except requests.RequestException as exc:
            raise ForgeUnavailableError(self._redact(f"GitHub {action} failed: {exc}")) from exc

    # ---- helpers ---------------------------------------------------------------------------

    def _gh(self, repo: str) -> Github:
        """The PyGithub client acting on ``repo``: the token's, or the App installation's."""
        if self._integration is None:
            return self._github
        owner, name = repo.split("/", 1)
        return self._installation(owner, lambda: self._integration.get_repo_installation(owner, name))

    def _gh_owner(self, owner: str) -> Github:
        """The PyGithub client acting on an organisation's own routes (``/orgs/...``)."""
        if self._integration is None:
            return self._github
        return self._installation(owner, lambda: self._integration.get_org_installation(owner))

    def _installation(self, owner: str, lookup: Callable[[], Any]) -> Github:
        """An App installation's client; one per owner (an account has one installation of the App)."""
        github = self._installations.get(owner.lower())
        if github is None:
            installation = lookup()
            # PyGithub renews the installation token itself when it nears expiry.
            github = self._integration.get_github_for_installation(installation.id)
            _use_transport(github.requester, self.transport)
            # a race between threads costs one extra lookup, nothing more
            self._installations[owner.lower()] = github
        return github

    def _issue(self, ref: ItemRef) -> Issue:
        """Lazy: no request until it is used."""
        return self._gh(ref.repo).get_repo(ref.repo).get_issue(ref.number)

    def _pull(self, ref: ItemRef) -> PullRequest:
        """Lazy: no request until it is used.  An issue's number gives NotFoundError then."""
        return self._gh(ref.repo).get_repo(ref.repo).get_pull(ref.number)

    def _neutral_error(self, action: str, exc: GithubException) -> ForgeError:
        status = exc.status
        message = exc.data.get("message") if isinstance(exc.data, dict) else None
        text = self._redact(f"GitHub {action} failed: HTTP {status}" + (f" {message}" if message else ""))
        headers = exc.headers or {}
        if (
            isinstance(exc, RateLimitExceededException)
            or status == 429
            or (status == 403 and headers.get("x-ratelimit-remaining") == "0")
            or (status == 403 and "retry-after" in headers)  # a secondary rate limit
        ):
            return RateLimitedError(text, retry_after(headers))
        if status in (404, 410):
            return NotFoundError(text)
        if status in (401, 403):
            return ForbiddenError(text)
        if status in (400, 409, 422):
            return InvalidRequestError(text)
        if status >= 500:
            return ForgeUnavailableError(text)
        return ForgeError(text)

    def _redact(self, text: str) -> str:
        """Error text may quote a response or URL; never let a token through."""
        if self._token:
            text = text.replace(self._token, "***")
        return _TOKEN_PATTERN.sub("***", text)[:500]


def _use_transport(requester: Requester, transport: Transport) -> None:
    """Send this requester's HTTP through ``transport``.  PyGithub opens its connections from a
    class it keeps per requester (no public hook for a session); a subclass of that class mounts
    the transport's adapter, with its retry policy and PyGithub's pool size, on each new session."""
    attribute = "_Requester__connectionClass"
    base = getattr(requester, attribute, None)
    if base is None:  # a PyGithub without it: fail at start-up, not at the first request
        raise RuntimeError("this PyGithub version has no per-requester connection class to route through")

    class Connection(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            transport.mount(self.session, pool_connections=self.pool_size, pool_maxsize=self.pool_size)

    setattr(requester, attribute, Connection)


def _iso(moment: datetime | None) -> str:
    """A PyGithub time as ISO 8601 UTC to the second ("2026-01-01T00:00:00Z"); "" for none."""
    if moment is None:
        return ""
    if moment.tzinfo is None:  # PyGithub gives aware datetimes; be safe if one is naive
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _web_url(api_url: str) -> str:
    """Where people and git reach the instance: https://api.github.com → https://github.com,
    GitHub Enterprise Server's https://HOST/api/v3 → https://HOST, and an ``api.`` host (GitHub
    Enterprise Cloud with data residency: api.SUBDOMAIN.ghe.com) → the host without it."""
    parts = urlsplit(api_url.rstrip("/"))
    host, path = parts.netloc, parts.path
    if path.lower().endswith("/api/v3"):
        path = path[: -len("/api/v3")]
    elif host.lower().startswith("api."):
        host = host[len("api.") :]
    return urlunsplit((parts.scheme, host, path, "", ""))


def _pull_item(repo: str, pull: PullRequest) -> Item:
    """An Item from a PR as ``GET /pulls/N`` or the PR list gives it.  Reads only what both carry
    (``merged`` only for a closed PR), so a PR from the list costs no request of its own."""
    state = pull.state
    if state == "closed" and pull.merged:
        state = "merged"
    return Item(
        ref=ItemRef(repo, pull.number, ItemKind.PULL),
        author=pull.user.login,
        title=pull.title or "",
        body=pull.body or "",
        state=state,
        draft=bool(pull.draft),
        labels=frozenset(label.name for label in pull.labels),
        assignees=frozenset(user.login for user in pull.assignees),
        head_sha=pull.head.sha,
        base_ref=pull.base.ref,
        head_ref=pull.head.ref,
        url=pull.html_url,
    )


_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def _pages(github: Github, url: str, parameters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every entry of a listing, page after page, following the Link header's "next" (which repeats
    the query).  Raw JSON, for what PyGithub objects would fetch one by one."""
    return _requester_pages(github.requester, url, parameters)


def _requester_pages(
    requester: Requester, url: str, parameters: dict[str, Any] | None, key: str | None = None
) -> Iterator[dict[str, Any]]:
    """``_pages`` on a requester (also the App's, authenticated with its JWT); ``key``: the list
    is wrapped in an object under that key.  Lazy: a caller that stops early asks no more pages."""
    next_url: str | None = url
    while next_url is not None:
        headers, data = requester.requestJsonAndCheck("GET", next_url, parameters=parameters)
        yield from ((data or {}).get(key) or []) if key else (data or [])
        match = _NEXT_LINK.search(headers.get("link") or "")
        next_url, parameters = (match.group(1) if match else None), None


def _parse_time(text: str | None) -> datetime:
    """GitHub's ISO 8601 time as an aware UTC datetime; the epoch when absent."""
    if not text:
        return datetime.fromtimestamp(0, UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _combined_statuses(github: Github, repo: str, sha: str) -> Iterator[dict[str, Any]]:
    """The statuses of ``GET /commits/{sha}/status`` (the latest of each context), every page.
    Raw: PyGithub reads only the first page of the combined status.  Pages are counted against
    ``total_count`` rather than a Link header."""
    url = f"/repos/{repo}/commits/{quote(sha, safe='')}/status"
    seen, page = 0, 1
    while True:
        _, data = github.requester.requestJsonAndCheck("GET", url, parameters={"per_page": 100, "page": page})
        entries = (data or {}).get("statuses") or []
        yield from entries
        seen += len(entries)
        if not entries or seen >= (data or {}).get("total_count", 0):
            return
        page += 1


def _check_run_status(run: CheckRun) -> CommitStatus:
    if run.status != "completed":  # queued, in_progress, waiting, requested, pending
        state = StatusState.PENDING
    else:
        state = _CHECK_CONCLUSIONS.get(run.conclusion or "", StatusState.ERROR)
    output = run.output
    return CommitStatus(
        context=run.name,
        state=state,
        description=(output.title if output is not None else None) or "",
        target_url=run.details_url or run.html_url or None,
    )


def _users_and_teams(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Logins, and the slugs of the teams named "org/team" (GitHub wants the slug alone: a PR can
    only ask teams of its own organisation)."""
    users = [n for n in names if "/" not in n]
    teams = [n.split("/", 1)[1] for n in names if "/" in n]
    return users, teams


def _request_reviews(pull: PullRequest, logins: Sequence[str]) -> bool:
    """False when GitHub refuses the request (422: not a collaborator, the PR's author, or a team
    without access to the repository)."""
    users, teams = _users_and_teams(logins)
    try:
        pull.create_review_request(reviewers=users or NotSet, team_reviewers=teams or NotSet)
    except GithubException as exc:
        if exc.status != 422:
            raise
        return False
    return True
