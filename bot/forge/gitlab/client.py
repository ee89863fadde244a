"""``ForgeClient`` for GitLab (gitlab.com or self-managed) on python-gitlab.

Blocking: callers run it off the event loop (``bot.forge.offloop``).  python-gitlab objects and
exceptions never leave this package (``bot.forge.gitlab.pipelines`` borrows the client through
``GitLabClient.sdk``).  Projects, MRs and issues are reached through lazy objects, so an operation
costs only the requests it needs.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import gitlab
import requests
from cachetools import TTLCache
from gitlab.exceptions import GitlabError

from bot.events import Item, ItemKind, ItemRef, ReviewState
from bot.forge.transport import Transport, retry_after
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

# The system note GitLab adds to an MR for every approval (SystemNotes::MergeRequestsService#approve_mr).
_APPROVAL_NOTE = "approved this merge request"

# "locked" is the short-lived state of a merge request while it is being merged: still open.
_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "merged"}

# GitLab access levels, highest first, with the permission each grants.  Levels between these
# (Minimal access 5, Planner 15) get the next lower one.
_ACCESS_LEVELS = (
    (50, Permission.ADMIN),  # Owner
    (40, Permission.MAINTAIN),  # Maintainer
    (30, Permission.WRITE),  # Developer
    (20, Permission.TRIAGE),  # Reporter
    (10, Permission.READ),  # Guest
)

# The item attribute listing people and the update parameter that sets it.
_PEOPLE_PARAMS = {"assignees": "assignee_ids", "reviewers": "reviewer_ids"}

# Commit statuses.  GitHub's four states as GitLab's: GitLab has no "error", so ERROR is posted as
# "failed" with ``_ERROR_MARK`` before the description, and read back as ERROR (the mark removed):
# a status the bot sets round-trips.  Description cut to GitHub's 140 (GitLab would take 255).
_POSTED_STATES = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failed",
    StatusState.ERROR: "failed",
}
_ERROR_MARK = "error"
_MAX_DESCRIPTION = 140
# Every status GitLab gives commit statuses and CI jobs, as neutral states.  Not finished yet
# (created ... manual) is PENDING: a ``when: manual`` job stays PENDING until someone plays it.
# "canceled" (and "canceling") is ERROR: the check did not run to a verdict.  "skipped" is SUCCESS:
# GitLab skips a job when an earlier one failed (that one is already a FAILURE of its own) or when
# it is not needed (``when: on_failure`` in a green pipeline); reading it as ERROR would turn green
# heads red.  A status GitLab adds later is PENDING: never mistaken for a verdict.
_READ_STATES = {
    "created": StatusState.PENDING,
    "waiting_for_resource": StatusState.PENDING,
    "preparing": StatusState.PENDING,
    "waiting_for_callback": StatusState.PENDING,
    "pending": StatusState.PENDING,
    "running": StatusState.PENDING,
    "scheduled": StatusState.PENDING,
    "manual": StatusState.PENDING,
    "success": StatusState.SUCCESS,
    "skipped": StatusState.SUCCESS,
    "failed": StatusState.FAILURE,
    "canceled": StatusState.ERROR,
    "canceling": StatusState.ERROR,
}
# GitLab refuses to re-post the state a status already holds; for "pending" that is a no-op.
_ALREADY_PENDING = re.compile(r"cannot transition status via :enqueue from :pending", re.IGNORECASE)

# An MR's ``detailed_merge_status`` (GitLab 15.6+) as a verdict.  Only "mergeable" is CLEAN and only
# "conflict" is CONFLICT.  The statuses of a check still running are UNKNOWN: ask again later.  So
# are "ci_must_pass" and "ci_still_running": prowlet judges statuses itself, and its own pending
# merge status is part of the MR pipeline, so reading them as BLOCKED would never let it turn green
# under "Pipelines must succeed".  Every other status is BLOCKED, with GitLab's word as the reason:
# "discussions_not_resolved", "draft_status", "not_approved", "not_open", "need_rebase" (a
# fast-forward-only project whose MR is behind its target: GitLab merges it after a rebase, so it is
# not a conflict), and any status GitLab adds later.  GitLab reports one status at a time, the first
# failing check: a draft that also conflicts is BLOCKED "draft_status".
_DETAILED_UNKNOWN = frozenset(
    {"checking", "unchecked", "preparing", "approvals_syncing", "ci_must_pass", "ci_still_running"}
)
# GitLab before 15.6 has only ``merge_status``, which says nothing of pipelines, discussions or
# approvals: "can_be_merged" is CLEAN although GitLab may still refuse the merge (``merge`` then
# raises MergeRefusedError); "cannot_be_merged" is CONFLICT; "unchecked", "checking",
# "cannot_be_merged_recheck" and anything else are UNKNOWN.
_LEGACY_VERDICTS = {"can_be_merged": Mergeability.CLEAN, "cannot_be_merged": Mergeability.CONFLICT}
# How GitLab refuses to accept an MR (PUT .../merge): 405 not mergeable now (closed, draft, pipeline,
# discussions, approvals...), 406 conflicts (older GitLab), 409 the head is not ``sha``, 422 "Branch
# cannot be merged" (conflicts, or the merge failed).  401/403 (no right to merge into the target
# branch) stay ForbiddenError.
_MERGE_REFUSALS = frozenset({405, 406, 409, 422})


class _Gitlab(gitlab.Gitlab):
    """python-gitlab that never repeats a request itself: a 429 is not slept out on the worker
    thread and a 5xx or a broken connection is not retried (``retry_transient_errors`` off for
    every call: an SDK-level retry under the client's retry layer would multiply the attempts and
    sleep on the thread).  They surface as RateLimitedError (with the wait GitLab asked for) and
    ForgeUnavailableError, and the client's retry layer (``bot.forge.layers.Retrying``) waits or
    repeats as the method's policy says; the transport repeats only a connection that was never
    opened (``bot.forge.transport``)."""

    def http_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["obey_rate_limit"] = False
        kwargs["retry_transient_errors"] = False
        return super().http_request(*args, **kwargs)


class GitLabClient:
    name = "gitlab"
    capabilities = Capabilities(consumes_quick_actions=True, pull_noun="merge request", closes_as_not_planned=False,
                                team_reviews=False, max_comment_chars=1_000_000,
                                removes_labels_at_once=True, dispatches_workflows=False, starts_pipelines=True)

    def __init__(self, url: str, *, token: str, timeout: float = 15.0, transport: Transport | None = None) -> None:
        # No retries here (``_Gitlab``): the client's retry layer repeats what its policy row says
        # is safe.  Every request goes through ``transport``: conditional reads, the request meter,
        # and a repeat only of a connection that was never opened.
        self.transport = transport or Transport(self.name)
        session = requests.Session()
        self.transport.mount(session)
        self._gl = _Gitlab(
            url, private_token=token, timeout=timeout, per_page=100, session=session
        )
        self._token = token
        self._user_ids: TTLCache[str, int | None] = TTLCache(maxsize=4096, ttl=600)
        self._user_ids_lock = threading.Lock()  # cachetools caches are not thread-safe

    def whoami(self) -> str:
        """Asks the forge each time: the layered client caches it, and readiness re-checks the
        credentials through it."""
        with self._errors("read the current user"):
            self._gl.auth()
            return self._gl.user.username

    def get_item(self, ref: ItemRef) -> Item:
        return _item(ref, self._get(ref))

    def repo_labels(self, repo: str) -> frozenset[str]:
        with self._errors(f"list the labels of {repo}"):
            labels = self._project(repo).labels.list(include_ancestor_groups=True, get_all=True)
        return frozenset(label.name for label in labels)

    # add_labels/remove_labels change only the named labels: no read-modify-write race, and
    # adding a present label or removing an absent one is a no-op.
    def add_labels(self, ref: ItemRef, labels: Sequence[str]) -> None:
        if labels:
            self._update(ref, "add labels to", add_labels=",".join(labels))

    def remove_label(self, ref: ItemRef, label: str) -> None:
        self._update(ref, "remove a label from", remove_labels=label)

    def remove_labels(self, ref: ItemRef, labels: Sequence[str]) -> None:
        if labels:
            self._update(ref, "remove labels from", remove_labels=",".join(labels))

    def change_labels(self, ref: ItemRef, add: Sequence[str], remove: Sequence[str]) -> None:
        # One PUT .../merge_requests/:iid (or issues/:iid) with add_labels and remove_labels.
        data = {name: ",".join(labels) for name, labels in (("add_labels", add), ("remove_labels", remove)) if labels}
        if data:
            self._update(ref, "change the labels of", **data)

    def comment(self, ref: ItemRef, body: str) -> int:
        with self._errors(f"comment on {ref}"):
            note = self._notes(ref).create({"body": body})
        return note.id

    def edit_comment(self, ref: ItemRef, comment_id: int, body: str) -> None:
        with self._errors(f"edit a comment on {ref}"):
            self._notes(ref).update(comment_id, {"body": body})

    def list_comments(self, ref: ItemRef) -> list[Comment]:
        return [_comment(note) for note in self._all_notes(ref) if not note.system]

    def comments_and_reviews(self, ref: ItemRef) -> tuple[list[Comment], list[Review]]:
        # GitLab's approval service adds the system note "approved this merge request" to every
        # approval (and "unapproved ..." to a withdrawal); system notes cannot be deleted.  So
        # notes without one mean an MR nobody ever approved: no need to ask for its approvals.
        _require_pull(ref, "reviews")
        notes = self._all_notes(ref)
        comments = [_comment(note) for note in notes if not note.system]
        approved_once = any(note.system and note.body.strip() == _APPROVAL_NOTE for note in notes)
        return comments, self.list_reviews(ref) if approved_once else []

    def _all_notes(self, ref: ItemRef) -> list[Any]:
        # GitLab lists notes newest first unless asked otherwise.
        with self._errors(f"list the comments on {ref}"):
            return self._notes(ref).list(sort="asc", order_by="created_at", get_all=True)

    def add_assignees(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        return self._add_people(ref, "assignees", logins)

    def remove_assignees(self, ref: ItemRef, logins: Sequence[str]) -> None:
        self._remove_people(ref, "assignees", logins)

    def request_review(self, ref: ItemRef, logins: Sequence[str]) -> frozenset[str]:
        _require_pull(ref)
        return self._add_people(ref, "reviewers", logins)

    def remove_review_request(self, ref: ItemRef, logins: Sequence[str]) -> None:
        _require_pull(ref)
        self._remove_people(ref, "reviewers", logins)

    def set_open(self, ref: ItemRef, is_open: bool, *, not_planned: bool = False) -> None:
        # GitLab has no "not planned" state (capabilities say so): a plain close.
        self._update(ref, "reopen" if is_open else "close", state_event="reopen" if is_open else "close")

    def set_title(self, ref: ItemRef, title: str) -> None:
        self._update(ref, "retitle", title=title)

    def list_milestones(self, repo: str) -> list[Milestone]:
        with self._errors(f"list the milestones of {repo}"):
            # include_ancestors: the milestones of the project's groups can be set on its items too.
            found = self._project(repo).milestones.list(state="active", include_ancestors=True, get_all=True)
        return [Milestone(m.id, m.title) for m in found]

    def set_milestone(self, ref: ItemRef, milestone: Milestone | None) -> None:
        # GitLab: milestone_id 0 unassigns the milestone.
        self._update(ref, "set the milestone of", milestone_id=milestone.id if milestone else 0)

    def permission(self, repo: str, login: str) -> Permission:
        user_id = self._user_id(login)
        if user_id is None:
            return Permission.NONE
        try:
            with self._errors(f"read the access of {login} to {repo}"):
                level = self._project(repo).members_all.get(user_id).access_level
        except NotFoundError:
            return Permission.NONE
        return next((perm for minimum, perm in _ACCESS_LEVELS if level >= minimum), Permission.NONE)

    def default_branch(self, repo: str) -> str:
        # GET /projects/:id, one request (python-gitlab encodes the path, "/" included).
        with self._errors(f"read the project {repo}"):
            return self._gl.projects.get(repo).default_branch

    def branch_sha(self, repo: str, branch: str) -> str:
        # python-gitlab URL-encodes the name, "/" included ("release/1.0" → "release%2F1.0").
        with self._errors(f"read the branch {branch} of {repo}"):
            return self._project(repo).branches.get(branch).commit["id"]

    def read_file(self, repo: str, path: str, sha: str) -> str | None:
        # The raw endpoint: the content itself, not JSON with base64 in it.  python-gitlab encodes
        # the whole path ("docs/a b.md" → "docs%2Fa%20b.md").  Only GitLab's "404 File Not Found"
        # means "no such file here"; a 404 for the project or the commit ("404 Commit Not Found")
        # is a NotFoundError, so that a wrong repo or sha is never mistaken for a missing file.
        with self._errors(f"read {path} at {sha[:12]} in {repo}"):
            try:
                content = self._project(repo).files.raw(file_path=path, ref=sha)
            except GitlabError as err:
                if err.response_code == 404 and "file not found" in str(err.error_message).lower():
                    return None
                raise
        return content.decode("utf-8", errors="replace")

    def changed_files(self, ref: ItemRef, head_sha: str | None = None) -> ChangedFiles:
        # GET .../merge_requests/:iid/diffs (GitLab 15.7+), every page.  python-gitlab has no
        # manager for it (``mr.diffs`` is the *versions* API), hence the raw list.  No fallback to
        # the deprecated ``/changes``: every supported GitLab has ``/diffs``, and ``/changes`` is
        # capped and unpaginated.  Like ``/changes``, it lists at most the instance's
        # ``diff_max_files`` files (1,000 by default): GitLab keeps no more for an MR, and stops
        # earlier when the diff passes its line or size limits.  Whether it stopped is only in the
        # MR itself: ``changes_count`` is a string, "1000+" when the diff overflowed.
        _require_pull(ref, "changed files")
        path = f"{self._items(ref).path}/{ref.number}/diffs"
        with self._errors(f"list the changed files of {ref}"):
            diffs = self._gl.http_list(path, per_page=self._gl.per_page, get_all=True)
        count = str(self._get(ref).get("changes_count") or len(diffs))
        return ChangedFiles((_changed_file(diff) for diff in diffs), complete=not count.endswith("+"), total=count)

    def label_added_by(self, ref: ItemRef, label: str) -> str | None:
        # GET .../resource_label_events, every page, oldest first (GitLab 11.3+, all tiers).
        path = f"{self._items(ref).path}/{ref.number}/resource_label_events"
        with self._errors(f"list the label events of {ref}"):
            events = self._gl.http_list(path, per_page=self._gl.per_page, get_all=True)
        adder = None
        for event in events:
            if event.get("action") == "add" and ((event.get("label") or {}).get("name") or "") == label:
                adder = (event.get("user") or {}).get("username")
        return adder

    def pulls_by(self, repo: str, login: str, limit: int = 2) -> list[int]:
        # GET /projects/:id/merge_requests?author_username=&state=all, newest first: one page.
        with self._errors(f"list the merge requests of {login} in {repo}"):
            mrs = self._project(repo).mergerequests.list(
                author_username=login, state="all", per_page=limit, get_all=False)
        return [mr.iid for mr in mrs][:limit]

    def list_reviews(self, ref: ItemRef) -> list[Review]:
        # The MR's current approvals (GitLab Free included).  GitLab says who approved but not
        # when, and forgets withdrawn approvals: each is APPROVED with no submitted_at.
        _require_pull(ref, "reviews")
        with self._errors(f"list the approvals of {ref}"):
            approvals = self._items(ref).get(ref.number, lazy=True).approvals.get()
        return [
            Review(approval["user"]["username"], ReviewState.APPROVED)
            for approval in approvals.approved_by
        ]

    def set_status(self, repo: str, sha: str, status: CommitStatus) -> None:
        # POST /projects/:id/statuses/:sha.  GitLab updates the bot's pending/running status of
        # that name in place and starts a new one after a finished one.  Retried on transient
        # errors: a repeat is harmless (see below, or one more record with the same verdict).
        description = status.description[:_MAX_DESCRIPTION]
        if status.state is StatusState.ERROR:
            description = f"{_ERROR_MARK}: {description}" if description else _ERROR_MARK
        data = {"state": _POSTED_STATES[status.state], "name": status.context, "description": description}
        if status.target_url:
            data["target_url"] = status.target_url
        with self._errors(f"set the status {status.context} on {sha[:12]} in {repo}"):
            statuses = self._project(repo).commits.get(sha, lazy=True).statuses
            try:
                statuses.create(data)
            except GitlabError as err:
                # "pending" again on a pending status: GitLab answers 400 "Cannot transition status
                # via :enqueue from :pending" and cannot change a pending status's description or
                # target_url.  Replace it: finish the old one (GitLab then counts it as retried)
                # and post the new one, which GitLab creates afresh after a finished status.
                if not (err.response_code == 400 and _ALREADY_PENDING.search(str(err.error_message))):
                    raise
                statuses.create({"state": "canceled", "name": status.context, "description": "Superseded."})
                statuses.create(data)

    def list_statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        # Every status (all=true, not only GitLab's own idea of "latest"), CI jobs included, every
        # page, oldest first; the latest (highest id) per name wins.
        with self._errors(f"list the statuses of {sha[:12]} in {repo}"):
            statuses = self._project(repo).commits.get(sha, lazy=True).statuses.list(all=True, get_all=True)
        latest: dict[str, Any] = {}
        for status in statuses:
            if status.name not in latest or status.id > latest[status.name].id:
                latest[status.name] = status
        return [_commit_status(status.attributes) for status in latest.values()]

    def is_org_member(self, org: str, login: str) -> bool:
        # GET /groups/:org/members/all/:user_id: direct, inherited and shared-group members, at
        # any access level.  404 for a non-member and for a group that does not exist (a user
        # namespace, or one the bot cannot see) alike.
        user_id = self._user_id(login)
        if user_id is None:
            return False
        try:
            with self._errors(f"read the membership of {login} in {org}"):
                self._gl.groups.get(org, lazy=True).members_all.get(user_id)
        except NotFoundError:
            return False
        return True

    def is_team_member(self, org: str, team: str, login: str) -> bool:
        # GitLab has no teams: a team is the subgroup org/team (members of parent groups inherit).
        return self.is_org_member(f"{org}/{team}", login)

    def same_tree(self, repo: str, old_sha: str, new_sha: str) -> bool:
        # A GitLab commit does not name its tree, so: GET /projects/:id/repository/compare with
        # from=old, to=new, straight=true (a plain old..new diff, not from the merge base, which
        # would show a rebase's upstream changes).  GitLab answers 200 with nothing in it when a
        # commit is unknown, so "same" needs the head commit named and no diff; a compare that
        # timed out proves nothing.
        if old_sha == new_sha:
            return True
        try:
            with self._errors(f"compare {old_sha[:12]} with {new_sha[:12]} in {repo}"):
                data = self._gl.http_get(f"/projects/{quote(repo, safe='')}/repository/compare",
                                         query_data={"from": old_sha, "to": new_sha, "straight": "true"})
        except NotFoundError:
            return False
        return bool(data.get("commit")) and not data.get("compare_timeout") and not data.get("diffs")

    def git_source(self, ref: ItemRef) -> GitSource:
        # GitLab keeps every MR's head at refs/merge-requests/:iid/head in the target project,
        # forks' MRs included.  A token authenticates git over HTTPS as the password of any user
        # name; "oauth2" is GitLab's convention.  No request: ``ref.repo`` is the project's path.
        _require_pull(ref, "git source")
        credentials = base64.b64encode(f"oauth2:{self._token}".encode()).decode()
        return GitSource(
            url=f"{self._gl.url}/{ref.repo}.git",
            ref=f"refs/merge-requests/{ref.number}/head",
            header=f"Authorization: Basic {credentials}",
        )

    def create_pull(self, repo: str, head_branch: str, base_branch: str, title: str, body: str) -> int:
        # GET /merge_requests?source_branch=&state=opened first: a retried call must not open a
        # second MR (GitLab would refuse it with 409 anyway).
        with self._errors(f"open a merge request from {head_branch} onto {base_branch} in {repo}"):
            mrs = self._project(repo).mergerequests
            existing = mrs.list(source_branch=head_branch, state="opened", get_all=False)
            if existing:
                return int(existing[0].iid)
            created = mrs.create({"source_branch": head_branch, "target_branch": base_branch, "title": title,
                                  "description": body})
        return int(created.iid)

    def list_open_pulls(self, repo: str) -> list[PullState]:
        # GET /projects/:id/merge_requests?state=opened, every page (100 a page), oldest first: with
        # offset pagination, an MR opened during the walk lands on the last page instead of
        # shifting the others into a page already read.  One closed during the walk can still shift
        # one MR past us; the next sweep sees it.  The list's merge status is whatever GitLab last
        # computed: possibly "unchecked", i.e. UNKNOWN (it asks GitLab to recheck those, below).
        with self._errors(f"list the open merge requests of {repo}"):
            # with_merge_status_recheck: GitLab rechecks a stale ("unchecked") merge status in the
            # background (for the Developer role and up), so the next listing tells it without a
            # read per MR.
            mrs = self._project(repo).mergerequests.list(
                state="opened", order_by="created_at", sort="asc", with_merge_status_recheck="true", get_all=True
            )
        pulls: dict[int, PullState] = {}  # by iid: a page boundary that moved may repeat an MR
        for mr in mrs:
            pulls.setdefault(mr.iid, _pull_state(ItemRef(repo, mr.iid, ItemKind.PULL), mr.attributes))
        return list(pulls.values())

    def mergeability(self, ref: ItemRef) -> PullState:
        # One GET of the MR; reading it makes GitLab recheck a stale merge status in the background,
        # so an UNKNOWN ("checking") becomes a verdict on a later read.
        _require_pull(ref, "mergeability")
        return _pull_state(ref, self._get(ref))

    def merge(self, ref: ItemRef, sha: str, method: MergeMethod) -> None:
        # PUT .../merge_requests/:iid/merge with ``sha``: GitLab merges only if the source branch's
        # head is still ``sha`` (409 otherwise).  GitLab, not the caller, decides how: the project's
        # merge method (merge commit, merge commit with semi-linear history, or fast-forward) applies
        # to MERGE and REBASE alike, so REBASE is not a rebase unless the project fast-forwards.
        # SQUASH asks GitLab to squash (squash=true); MERGE and REBASE send squash=false, which GitLab
        # reads as "not asked": an MR whose author ticked "squash", or a project that always
        # squashes, is squashed anyway (and a project that never squashes ignores SQUASH).
        # Never retried: a merge that failed with a 502 may have happened.  No fast path through a
        # lazy MR object: python-gitlab's ``merge()`` sends extra options in the query string.
        _require_pull(ref, "merge")
        path = f"{self._items(ref).path}/{ref.number}/merge"
        data = {"sha": sha, "squash": method is MergeMethod.SQUASH}
        with self._errors(f"merge {ref}"):
            try:
                self._gl.http_put(path, post_data=data)
            except GitlabError as err:
                if err.response_code in _MERGE_REFUSALS:
                    detail = self._redact(str(err.error_message))[:200]
                    raise MergeRefusedError(
                        f"GitLab refused to merge {ref}: {err.response_code} {detail}".rstrip()
                    ) from err
                raise

    def open_issues_with_label(self, repo: str, label: str) -> list[int]:
        # GET /projects/:id/issues?state=opened&labels=<label>, every page.  Issues only (GitLab
        # lists MRs elsewhere), incidents and other work item types included.  A label name has no
        # comma (GitLab forbids it), so ``labels`` names exactly one.
        with self._errors(f"list the open issues labelled {label} in {repo}"):
            issues = self._project(repo).issues.list(state="opened", labels=[label], get_all=True)
        return sorted({issue.iid for issue in issues})

    # ---- repositories in scope, and repair of missed deliveries ------------------------------

    def list_repos(self, globs: Sequence[str]) -> list[str]:
        # A glob with a literal leading group: GET /groups/:id/projects?include_subgroups=true for
        # its deepest literal group ("group/sub/*" → group/sub); a user's namespace then
        # GET /users/:id/projects.  Otherwise GET /projects?membership=true: what the bot is a
        # member of.  archived=false, every page of 100.  A glob without wildcards names its
        # project without a request.
        plan = listing_plan(globs, nested=True)
        found: dict[str, str] = {}
        with self._errors("list the projects in scope"):
            for entry in self._project_listings(plan):
                if not entry.get("archived"):
                    found.setdefault(entry["path_with_namespace"].lower(), entry["path_with_namespace"])
        for repo in plan.exact:
            found.setdefault(repo.lower(), repo)
        return sorted((name for name in found.values() if repo_matches(name, globs)), key=str.lower)

    def hook_scopes(self, repos: Sequence[str]) -> list[HookScope]:
        # Group hooks (GitLab Premium) of every ancestor group, outermost first, then project hooks.
        groups: dict[str, str] = {}
        for repo in repos:
            parts = repo.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                group = "/".join(parts[:depth])
                groups.setdefault(group.lower(), group)
        ordered = sorted(groups.values(), key=lambda g: (g.count("/"), g.lower()))
        return [HookScope(HookLevel.ORG, g) for g in ordered] + [HookScope(HookLevel.REPO, r) for r in repos]

    def find_hooks(self, scope: HookScope, url: str) -> list[Hook]:
        # GET /projects/:id/hooks (Maintainer) or /groups/:id/hooks (Owner): 403 without the role.
        if scope.level is HookLevel.APP:
            raise NotFoundError("GitLab has no App hook")
        wanted = url.rstrip("/")
        with self._errors(f"list the hooks of {scope.name}"):
            hooks = self._gl.http_list(f"{_hooks_path(scope)}", per_page=100, get_all=True)
        return [Hook(scope, hook["id"]) for hook in hooks if str(hook.get("url") or "").rstrip("/") == wanted]

    def hook_deliveries(self, hook: Hook, since: datetime) -> list[DeliveryAttempt]:
        # GET .../hooks/:hook_id/events (GitLab 17.3+): the last 7 days, newest first, at most 20 a
        # page; pages are fetched as they are read, so reading stops at ``since``.  The stored
        # request headers carry the Idempotency-Key (17.4+) and X-Gitlab-Event-UUID that intake
        # dedups on; a resend keeps the Idempotency-Key.  Success is a 2xx response_status; a
        # delivery that got no answer says "internal error".
        attempts = []
        with self._errors(f"list the events of hook {hook.id} of {hook.scope.name}"):
            events = self._gl.http_list(f"{_hooks_path(hook.scope)}/{hook.id}/events", per_page=20, iterator=True)
            for event in events:
                at = _parse_time(event.get("created_at"))
                if at < since:
                    break
                headers = event.get("request_headers") or {}
                delivery = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID") or f"event-{event['id']}"
                status = str(event.get("response_status") or "")
                attempts.append(DeliveryAttempt(
                    attempt_id=str(event["id"]), delivery_id=str(delivery), at=at, ok=status.startswith("2"),
                    event=str(headers.get("X-Gitlab-Event") or event.get("trigger") or ""), status=status,
                ))
        return attempts

    def redeliver(self, hook: Hook, attempt_id: str) -> None:
        # POST .../events/:hook_event_id/resend (GitLab 17.4+): GitLab sends it again at once, with
        # the same body and Idempotency-Key.  Limited to 5 a minute per hook and user: a 429 is
        # not waited out (RateLimitedError), and not retried (nor is any error: a POST).
        path = f"{_hooks_path(hook.scope)}/{hook.id}/events/{quote(attempt_id, safe='')}/resend"
        with self._errors(f"resend event {attempt_id} of hook {hook.id} of {hook.scope.name}"):
            self._gl.http_post(path)

    def dispatch_workflow(self, repo: str, workflow: str, ref: str, inputs: Mapping[str, str]) -> RunStarted:
        raise InvalidRequestError("GitHub Actions workflows are not supported on GitLab (use a pipeline)")

    def start_pipeline(self, repo: str, ref: str, variables: Mapping[str, str]) -> RunStarted:
        # POST /projects/:id/pipeline: a branch pipeline with these variables (env_var type, so a
        # value reaches jobs as an environment variable, never as a file or a script).  Not retried:
        # a POST that failed with a 502 may still have started a pipeline.
        data = {"ref": ref, "variables": [{"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()]}
        with self._errors(f"start a pipeline on {ref} of {repo}"):
            pipeline = self._project(repo).pipelines.create(data, retry_transient_errors=False)
        return RunStarted(int(pipeline.id), str(getattr(pipeline, "web_url", "") or ""))

    def _project_listings(self, plan: Any) -> Iterator[dict[str, Any]]:
        pages = {"per_page": 100, "get_all": True}
        if plan.everything:
            yield from self._gl.http_list("/projects", query_data={"membership": True, "archived": False}, **pages)
            return
        for namespace in sorted(plan.namespaces):
            try:
                yield from self._gl.http_list(
                    f"/groups/{quote(namespace, safe='')}/projects",
                    query_data={"include_subgroups": True, "archived": False},
                    **pages,
                )
            except GitlabError as err:
                if err.response_code != 404:
                    raise
                if "/" in namespace:  # a nested path names a group or nothing
                    continue
                try:  # a user's namespace
                    yield from self._gl.http_list(
                        f"/users/{quote(namespace, safe='')}/projects", query_data={"archived": False}, **pages
                    )
                except GitlabError as again:
                    if again.response_code != 404:
                        raise

    @contextmanager
    def sdk(self, repo: str, action: str) -> Iterator[Any]:
        """The lazy python-gitlab project ``repo`` (no request yet), for this package's other
        modules: the same connection, capped retries and error mapping as this client's calls.
        Errors inside the block become ForgeErrors saying GitLab could not ``action``."""
        with self._errors(action):
            yield self._project(repo)

    # ---- helpers -----------------------------------------------------------------------------

    def _add_people(self, ref: ItemRef, field: str, logins: Sequence[str]) -> frozenset[str]:
        """Add users to the item's assignees/reviewers; returns the logins GitLab did not take."""
        current = self._get(ref)[field]
        present = {user["username"].lower() for user in current}
        wanted = {login.lower(): login for login in logins if login.lower() not in present}
        ids = {login: self._user_id(login) for login in wanted.values()}
        found = {login: user_id for login, user_id in ids.items() if user_id is not None}
        unknown = frozenset(ids.keys() - found.keys())
        if not found:
            return unknown
        all_ids = [user["id"] for user in current] + list(found.values())
        updated = self._update(ref, f"add {field} to", **{_PEOPLE_PARAMS[field]: all_ids})
        # GitLab silently drops whom it may not add: non-members, or more than one assignee on Free.
        taken = {user["username"].lower() for user in updated[field]}
        return unknown | frozenset(login for login in found if login.lower() not in taken)

    def _remove_people(self, ref: ItemRef, field: str, logins: Sequence[str]) -> None:
        drop = {login.lower() for login in logins}
        current = self._get(ref)[field]
        keep = [user["id"] for user in current if user["username"].lower() not in drop]
        if len(keep) < len(current):
            self._update(ref, f"remove {field} from", **{_PEOPLE_PARAMS[field]: keep})

    def _user_id(self, login: str) -> int | None:
        """The id of the user named ``login`` (case-insensitive), None when there is none; cached."""
        key = login.lower()
        with self._user_ids_lock:
            if key in self._user_ids:
                return self._user_ids[key]
        with self._errors(f"look up the user {login}"):
            users = self._gl.users.list(username=login, get_all=False)
        user_id = users[0].id if users else None
        with self._user_ids_lock:
            self._user_ids[key] = user_id
        return user_id

    def _project(self, repo: str) -> Any:
        return self._gl.projects.get(repo, lazy=True)

    def _items(self, ref: ItemRef) -> Any:
        project = self._project(ref.repo)
        return project.mergerequests if ref.kind is ItemKind.PULL else project.issues

    def _notes(self, ref: ItemRef) -> Any:
        return self._items(ref).get(ref.number, lazy=True).notes

    def _get(self, ref: ItemRef) -> dict[str, Any]:
        with self._errors(f"read {ref}"):
            return self._items(ref).get(ref.number).attributes

    def _update(self, ref: ItemRef, verb: str, **data: Any) -> dict[str, Any]:
        with self._errors(f"{verb} {ref}"):
            return self._items(ref).update(ref.number, data)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn python-gitlab and requests errors into neutral ForgeErrors whose text has no token."""
        try:
            yield
        except GitlabError as err:
            detail = self._redact(str(err.error_message))[:200]
            text = f"GitLab could not {action}: {err.response_code or 'error'} {detail}".rstrip()
            if err.response_code == 429:
                raise RateLimitedError(text, retry_after(self.transport.last_headers())) from err
            raise _error_class(err.response_code)(text) from err
        except requests.RequestException as err:
            raise ForgeUnavailableError(f"GitLab could not {action}: {type(err).__name__}") from err

    def _redact(self, text: str) -> str:
        """``text`` without the token, in case a server or proxy echoes it in an error."""
        return text.replace(self._token, "***") if self._token else text


def _hooks_path(scope: HookScope) -> str:
    kind = "groups" if scope.level is HookLevel.ORG else "projects"
    return f"/{kind}/{quote(scope.name, safe='')}/hooks"


def _parse_time(text: str | None) -> datetime:
    """GitLab's ISO 8601 time as an aware UTC datetime; the epoch when absent."""
    if not text:
        return datetime.fromtimestamp(0, UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _comment(note: Any) -> Comment:
    return Comment(note.id, note.author["username"], note.body, _utc(note.created_at))


def _require_pull(ref: ItemRef, what: str = "reviewers") -> None:
    """InvalidRequestError unless ``ref`` is a merge request (GitLab issues have no ``what``)."""
    if ref.kind is not ItemKind.PULL:
        raise InvalidRequestError(f"{ref}: GitLab issues have no {what}")


def _item(ref: ItemRef, data: dict[str, Any]) -> Item:
    """An MR or issue, as GitLab gives it in a list or alone, as an Item."""
    is_pull = ref.kind is ItemKind.PULL
    return Item(
        ref=ref,
        author=data["author"]["username"],
        title=data["title"],
        body=data.get("description") or "",
        state=_STATES[data["state"]],
        draft=bool(data.get("draft") or data.get("work_in_progress")),
        labels=frozenset(data["labels"]),
        assignees=frozenset(user["username"] for user in data["assignees"]),
        head_sha=data["sha"] if is_pull else None,
        base_ref=data["target_branch"] if is_pull else None,
        head_ref=data.get("source_branch") if is_pull else None,
        url=data["web_url"],
    )


def _pull_state(ref: ItemRef, data: dict[str, Any]) -> PullState:
    return PullState(_item(ref, data), *_merge_verdict(data))


def _merge_verdict(data: dict[str, Any]) -> tuple[Mergeability, str]:
    """GitLab's verdict on merging an MR, and GitLab's word for a CONFLICT or BLOCKED one: from
    ``detailed_merge_status``, or ``merge_status`` on GitLab before 15.6 (see ``_LEGACY_VERDICTS``)."""
    detailed = data.get("detailed_merge_status")
    if not detailed:
        legacy = data.get("merge_status") or ""
        verdict = _LEGACY_VERDICTS.get(legacy, Mergeability.UNKNOWN)
        return verdict, legacy if verdict is Mergeability.CONFLICT else ""
    if detailed == "mergeable":
        return Mergeability.CLEAN, ""
    if detailed in _DETAILED_UNKNOWN:
        return Mergeability.UNKNOWN, ""
    if detailed == "conflict":
        return Mergeability.CONFLICT, detailed
    return Mergeability.BLOCKED, detailed


def _changed_file(diff: dict[str, Any]) -> ChangedFile:
    """One entry of GitLab's MR diffs as a ChangedFile."""
    counts = _line_counts(diff.get("diff") or "")
    if diff["new_file"]:
        return ChangedFile(diff["new_path"], "added", None, *counts)
    if diff["deleted_file"]:
        return ChangedFile(diff["old_path"], "removed", None, *counts)
    if diff["renamed_file"]:
        return ChangedFile(diff["new_path"], "renamed", diff["old_path"], *counts)
    return ChangedFile(diff["new_path"], "modified", None, *counts)


def _line_counts(diff: str) -> tuple[int, int]:
    """(additions, deletions) in a unified diff's hunks.  GitLab gives no counts, and no text for a
    diff it collapsed as too large: that file then counts 0 (see README, Differences from Prow)."""
    lines = diff.splitlines()  # hunks only: GitLab's diff text has no ---/+++ file header
    return sum(line.startswith("+") for line in lines), sum(line.startswith("-") for line in lines)


def _commit_status(data: dict[str, Any]) -> CommitStatus:
    """One of GitLab's commit statuses (or CI jobs) as a CommitStatus; see ``_READ_STATES``.  A
    lossy state with no description of its own says GitLab's state in it ("canceled", "manual")."""
    gitlab_state = data["status"]
    state = _READ_STATES.get(gitlab_state, StatusState.PENDING)
    description = data.get("description") or ""
    if state is StatusState.FAILURE and (
        description == _ERROR_MARK or description.startswith(f"{_ERROR_MARK}: ")
    ):
        state, description = StatusState.ERROR, description[len(_ERROR_MARK) + 2 :]
    elif not description and gitlab_state != _POSTED_STATES.get(state):
        description = gitlab_state
    return CommitStatus(data["name"], state, description, data.get("target_url") or None)


def _utc(timestamp: str | None) -> str:
    """GitLab's ISO 8601 time ("2026-01-01T00:00:00.000Z", or with an offset on instances set to
    another time zone) as UTC to the second: "2026-01-01T00:00:00Z"."""
    if not timestamp:
        return ""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_class(status: int | None) -> type[ForgeError]:
    if status == 404:
        return NotFoundError
    if status in (401, 403):
        return ForbiddenError
    if status == 429:
        return RateLimitedError
    if status is not None and 400 <= status < 500:
        return InvalidRequestError
    return ForgeUnavailableError  # 5xx, redirects, unparsable answers
