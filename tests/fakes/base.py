"""What every fake forge offers the tests: seeding, inspection, and webhook deliveries.

A fake forge is a real HTTP server (aiohttp, on 127.0.0.1 and a free port, in its own thread with
its own event loop) that implements the slice of the forge's REST API that prowlet's adapter uses,
keeps state (a label the bot adds is visible to its next read), and records every request.

Like the real forge, the fake produces the webhook for something a *person* does (opens a PR,
comments, pushes, reviews); the test posts that delivery into prowlet.  Actions the bot takes
through the API change state but emit no webhook.

Usage::

    with FakeGitHub(webhook_secret="s3cret") as fake:
        fake.add_repo("acme/widgets", labels=["lgtm", "kind/bug"])
        fake.set_permission("acme/widgets", "alice", Permission.WRITE)
        number, delivery = fake.open_pull("acme/widgets", author="bob")
        delivery = fake.comment("acme/widgets", number, author="alice", body="/lgtm")
        # POST delivery.body with delivery.headers to prowlet at delivery.path
        assert "lgtm" in fake.labels("acme/widgets", number)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from bot.forge.base import ChangedFile, Permission


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as the forge would send it, already signed with the fake's secret."""

    path: str  # "/hook/github" | "/hook/gitlab"
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What a hook's receiver answered to one delivery attempt."""

    status: int | None  # None: no HTTP answer at all
    reason: str = ""  # why there was none: "failed to connect to host" | "timed out"
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class HookSender:
    """Sends webhooks from a fake forge's own event loop, as the forge's hook workers do.

    ``post`` runs on that loop; ``run`` runs a coroutine there from another thread and waits for
    it (never call it from the thread of the loop that serves the receiver: it would wait on
    itself).  ``schedule`` starts a send in the background (a redelivery the forge answered 202
    for); ``idle`` waits until every such send is over."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._session: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[Any]] = set()

    async def post(self, url: str, headers: dict[str, str], body: bytes, *, answer_lost: bool = False) -> Answer:
        """POST one delivery.  ``answer_lost``: the receiver gets it but the forge records no answer,
        as when the receiver answers after the forge's timeout."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        start = time.monotonic()
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                text = await response.text()
                answer = Answer(response.status, body=text, headers=dict(response.headers))
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
            return Answer(None, reason="failed to connect to host", seconds=time.monotonic() - start)
        if answer_lost:
            return Answer(None, reason="timed out", seconds=time.monotonic() - start)
        return Answer(answer.status, body=answer.body, headers=answer.headers, seconds=time.monotonic() - start)

    def schedule(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Start ``coroutine`` on the fake's loop (call from that loop)."""
        task = self._loop.create_task(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def idle(self, timeout: float = 30) -> None:
        self.run(self._drain(), timeout)

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def close(self) -> None:
        if self._session is not None:
            self.run(self._session.close(), 10)


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the API prefix, e.g. "/repos/acme/widgets/issues/1/labels"
    query: dict[str, str] = field(default_factory=dict)
    status: int = field(default=0, compare=False)  # the answer's status, once answered (304: a conditional read that found no change)

    @property
    def counted(self) -> bool:
        """Counts against the rate limit: every request but a 304 (GitHub does not count those)."""
        return self.status != 304


class WriteLimit:
    """A forge's secondary limit on writes: at most ``writes`` in any ``seconds`` (sliding), per
    fake (one identity).  A write over it is refused, and ``refused`` counts the refusals."""

    def __init__(self, writes: int, seconds: float) -> None:
        self.writes, self.seconds = writes, seconds
        self.refused = 0
        self._sent: list[float] = []

    def retry_after(self) -> int | None:
        """None when this write may go (and it is counted); else the whole seconds to wait."""
        now = time.monotonic()
        self._sent = [t for t in self._sent if t > now - self.seconds]
        if len(self._sent) < self.writes:
            self._sent.append(now)
            return None
        self.refused += 1
        return max(1, int(self._sent[0] + self.seconds - now + 0.999))


def failing_check(fake: Any, repo: str, number: int) -> None:
    """The head of PR/MR ``number`` fails CI as each forge reports it: a failed check run named
    "unit" on GitHub, a failed commit status on GitLab."""
    sha = fake.head_sha(repo, number)
    if fake.name == "github":
        fake.add_check_run(repo, sha, "unit", "completed", "failure")
    else:
        fake.add_status(repo, sha, "unit", "failed")


def etag_of(body: bytes, weak: bool = False) -> str:
    """An entity tag for a response body, as the forges make them (GitHub strong, GitLab weak)."""
    tag = '"' + hashlib.sha1(body).hexdigest() + '"'
    return f"W/{tag}" if weak else tag


def conditional(request_headers: Any, response: Any, weak: bool = False) -> Any:
    """What a forge answers a GET: the 200 with its ETag, or a bodiless 304 when the client's
    If-None-Match names that ETag (weak comparison, as both forges do).  Other answers unchanged."""
    body = getattr(response, "body", None)
    if response.status != 200 or not isinstance(body, bytes):
        return response
    etag = etag_of(body, weak)
    response.headers["ETag"] = etag
    wanted = {t.strip().removeprefix("W/") for t in request_headers.get("If-None-Match", "").split(",")}
    if etag.removeprefix("W/") in wanted:
        from aiohttp import web

        return web.Response(status=304, headers={"ETag": etag})
    return response


class FakeForge(Protocol):
    name: str  # "github" | "gitlab"
    webhook_secret: str
    bot_login: str  # the account the bot's token belongs to
    token: str  # the token the fake accepts

    @property
    def api_url(self) -> str:
        """What the adapter is pointed at: GitHub Enterprise style ``http://127.0.0.1:P/api/v3``
        for GitHub, the instance root ``http://127.0.0.1:P`` for GitLab."""

    def __enter__(self) -> FakeForge: ...

    def __exit__(self, *exc: object) -> None: ...

    # ---- seeding -------------------------------------------------------------------------
    def add_repo(self, repo: str, labels: Iterable[str] = ()) -> None:
        """Create a repository/project (GitLab: namespaces created as needed).  Any login used
        later is created as a user on first use."""

    def add_user(self, login: str) -> None: ...

    def set_permission(self, repo: str, login: str, level: Permission) -> None:
        """Make ``login`` a collaborator/member with this level (NONE removes them)."""

    # ---- things people do (each returns the webhook the forge would send) ----------------
    def open_pull(
        self, repo: str, author: str, title: str = "A change", body: str = "", draft: bool = False,
        *, files: Iterable[ChangedFile] = (),
    ) -> tuple[int, Delivery]:
        """A PR/MR from its own source branch (``head_branch``), started from "main", into "main";
        ``files`` is what the changed-files API lists (see ``set_changed_files``)."""

    def head_branch(self, repo: str, number: int) -> str:
        """The PR/MR's source branch: ``set_file`` on it or ``push`` moves the PR/MR's head."""

    def open_issue(self, repo: str, author: str, title: str = "A bug", body: str = "") -> tuple[int, Delivery]: ...

    def comment(self, repo: str, number: int, author: str, body: str) -> Delivery:
        """A comment on a PR/MR or issue (the fake knows which ``number`` is).  GitHub: issue_comment
        created; GitLab: Note Hook.  The comment is stored like any other."""

    def push(self, repo: str, number: int, pusher: str, *, files: dict[str, str | None] | None = None) -> Delivery:
        """New commits on a PR/MR: a new head sha.  GitHub: pull_request synchronize (``before``);
        GitLab: Merge Request Hook update with oldrev.  The new head's tree is the old one's with
        ``files`` written over it (None deletes); without ``files`` it is the same tree."""

    def edit_pull(self, repo: str, number: int, editor: str, *, title: str | None = None,
                  draft: bool | None = None, base: str | None = None, body: str | None = None) -> Delivery:
        """A new title, draft state, base branch (one existing, e.g. made with ``set_file``) or
        description (``body``) for a PR/MR.  GitHub: pull_request edited (``changes.title`` /
        ``changes.base`` / ``changes.body``) / converted_to_draft / ready_for_review; GitLab: Merge
        Request Hook update with ``changes`` (``title``, ``draft``, ``target_branch``,
        ``description``; the draft state is the title's "Draft:" prefix)."""

    def label(self, repo: str, number: int, who: str, label: str, *, add: bool = True) -> Delivery:
        """A person adds (``add``) or removes a label by hand.  GitHub: pull_request / issues labeled
        or unlabeled; GitLab: Merge Request / Issue Hook update with ``changes.labels``.  The forge
        records who did it (GitHub issue events, GitLab resource label events), as it does for the
        bot's own label changes through the API."""

    def review(self, repo: str, number: int, author: str, state: str, body: str = "") -> Delivery:
        """``state`` is "approved" | "changes_requested" | "commented" on GitHub (pull_request_review
        submitted) and "approved" | "unapproved" on GitLab (Merge Request Hook approved/unapproved)."""

    def set_file(self, repo: str, path: str, content: str | None, branch: str = "main") -> str:
        """Commit ``content`` at ``path`` on ``branch`` (None deletes it); returns the new head sha.
        Repositories start with one empty commit on "main", their default branch; PRs/MRs target
        it unless told otherwise."""

    def set_changed_files(self, repo: str, number: int, files: Iterable[ChangedFile]) -> None:
        """What the PR/MR changes, as the forge's changed-files API will list it."""

    def delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
        """The webhook, signed or tokened, that the forge would send for ``payload`` under the event
        name ``event`` (``X-GitHub-Event`` / ``X-Gitlab-Event``): for payloads a test builds itself."""

    def set_labels(self, repo: str, number: int, labels: Iterable[str]) -> None:
        """Seed labels on an item without a webhook (labels must exist in the repo)."""

    # ---- webhooks sent to hooks (repair of missed deliveries) ------------------------------
    def add_hook(self, repo_or_org: str, url: str) -> int:
        """A webhook on a repository/project or an organisation/group; returns its id."""

    def send(self, delivery: Delivery, *, answer_lost: bool = False) -> list[int | None]:
        """POST ``delivery`` to every matching hook and record each attempt with the receiver's
        status (None: no answer).  Blocks: never call it from the loop serving the receiver."""

    def hooks_idle(self, timeout: float = 30) -> None:
        """Wait until every redelivery asked for has been attempted."""

    def set_archived(self, repo: str, archived: bool = True) -> None: ...

    # ---- inspection ----------------------------------------------------------------------
    def labels(self, repo: str, number: int) -> set[str]: ...

    def comments(self, repo: str, number: int) -> list[tuple[str, str]]:
        """(author, body) in order, bot comments included (GitLab: non-system notes)."""

    def assignees(self, repo: str, number: int) -> set[str]: ...

    def reviewers(self, repo: str, number: int) -> set[str]:
        """GitHub: requested reviewers; GitLab: MR reviewers."""

    def state(self, repo: str, number: int) -> str:
        """"open" | "closed" | "merged"."""

    def title(self, repo: str, number: int) -> str: ...

    def milestone(self, repo: str, number: int) -> str | None:
        """The title of the item's milestone; None when it has none."""

    def add_milestone(self, repo: str, title: str, *, closed: bool = False) -> int:
        """An open (or ``closed``) milestone of the repository/project; returns what the forge's API
        sets it by (GitHub: its number; GitLab: its global id)."""

    def head_sha(self, repo: str, number: int) -> str: ...

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received, in order (for counting calls per command), read or write,
        each with its answer's status (304s apart: ``RecordedRequest.counted``)."""
