"""A repository's open PRs for merge automation, read as Prow's Tide reads them: one GraphQL query
per 100 PRs, each with its labels, head sha, mergeability and its head's statuses and check runs.

Over REST the same costs a page of ``GET /pulls`` per 100 PRs (which lacks mergeability), plus per
PR ``GET /pulls/N`` for its mergeability and, for each PR whose labels qualify, its combined status
and its check runs: at 1,000 open PRs that is hundreds of requests whenever PRs change, where this
is 10.  Pure: the query, its variables and the reading of its answer; the client sends it.

What is left to REST: a PR with more than 100 labels (its labels are read with ``GET /issues/N``)
or more than 100 statuses and checks (``statuses`` None: read with ``list_statuses``).
"""

from __future__ import annotations

from typing import Any

from bot.events import Item, ItemKind, ItemRef
from bot.forge.base import CommitStatus, Mergeability, PullState, StatusState

PAGE = 100  # GitHub's most per connection
# mergeStateStatus was a schema preview ("merge-info-preview"); the header keeps older GitHub
# Enterprise Server versions answering it and is ignored where the field is generally available.
ACCEPT = "application/vnd.github.merge-info-preview+json"

QUERY = """
query OpenPulls($owner: String!, $name: String!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequests(states: [OPEN], first: 100, after: $cursor, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        title
        body
        url
        isDraft
        headRefOid
        headRefName
        baseRefName
        mergeable
        mergeStateStatus
        author { login }
        labels(first: 100) { totalCount nodes { name } }
        assignees(first: 100) { nodes { login } }
        commits(last: 1) {
          nodes {
            commit {
              statusCheckRollup {
                contexts(first: 100) {
                  totalCount
                  nodes {
                    __typename
                    ... on StatusContext { context state description targetUrl createdAt }
                    ... on CheckRun { databaseId name status conclusion title detailsUrl startedAt completedAt }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
""".strip()

_MERGE_STATES = {  # mergeStateStatus, as REST's mergeable_state (bot.forge.github.client) reads it
    "CLEAN": Mergeability.CLEAN,
    "UNSTABLE": Mergeability.CLEAN,  # non-required checks failing: it merges
    "HAS_HOOKS": Mergeability.CLEAN,
    "DIRTY": Mergeability.CONFLICT,
    "BLOCKED": Mergeability.BLOCKED,
    "BEHIND": Mergeability.BLOCKED,
    "DRAFT": Mergeability.BLOCKED,
    "UNKNOWN": Mergeability.UNKNOWN,
}
_STATUS_STATES = {  # StatusContext.state
    "SUCCESS": StatusState.SUCCESS,
    "PENDING": StatusState.PENDING,
    "EXPECTED": StatusState.PENDING,  # branch protection expects it and nothing has reported yet
    "FAILURE": StatusState.FAILURE,
    "ERROR": StatusState.ERROR,
}
_CONCLUSIONS = {  # CheckRun.conclusion of a completed run (as REST's check runs are read)
    "SUCCESS": StatusState.SUCCESS,
    "NEUTRAL": StatusState.SUCCESS,
    "SKIPPED": StatusState.SUCCESS,
    "FAILURE": StatusState.FAILURE,
    "TIMED_OUT": StatusState.FAILURE,
    "ACTION_REQUIRED": StatusState.FAILURE,
    "STARTUP_FAILURE": StatusState.FAILURE,
    "CANCELLED": StatusState.ERROR,
    "STALE": StatusState.ERROR,
}


def variables(repo: str, cursor: str | None) -> dict[str, Any]:
    owner, name = repo.split("/", 1)
    return {"owner": owner, "name": name, "cursor": cursor}


def read_page(repo: str, data: dict[str, Any]) -> tuple[list[PullState], str | None, list[int]]:
    """The PRs of one answer, the cursor of the next page (None: the last), and the numbers of PRs
    whose labels did not fit (to be read otherwise).  KeyError/TypeError: not this query's answer."""
    connection = data["data"]["repository"]["pullRequests"]
    pulls, overflowing = [], []
    for node in connection["nodes"] or []:
        labels = node["labels"]
        if labels["totalCount"] > len(labels["nodes"]):
            overflowing.append(node["number"])
        pulls.append(_pull(repo, node))
    info = connection["pageInfo"]
    return pulls, info["endCursor"] if info["hasNextPage"] else None, overflowing


def _pull(repo: str, node: dict[str, Any]) -> PullState:
    item = Item(
        ref=ItemRef(repo, node["number"], ItemKind.PULL),
        author=(node.get("author") or {}).get("login"),  # null: a deleted account ("ghost")
        title=node.get("title") or "",
        body=node.get("body") or "",
        state="open",
        draft=bool(node.get("isDraft")),
        labels=frozenset(label["name"] for label in node["labels"]["nodes"]),
        assignees=frozenset(user["login"] for user in node["assignees"]["nodes"]),  # 10 at most on GitHub
        head_sha=node["headRefOid"],
        base_ref=node["baseRefName"],
        head_ref=node.get("headRefName"),
        url=node.get("url"),
    )
    mergeable, reason = _mergeability(node.get("mergeable"), node.get("mergeStateStatus"))
    return PullState(item=item, mergeable=mergeable, reason=reason, statuses=_statuses(node))


def _mergeability(mergeable: str | None, state: str | None) -> tuple[Mergeability, str]:
    """``mergeable`` UNKNOWN (GitHub still computing it) → UNKNOWN; else by ``mergeStateStatus``,
    a state added later being CONFLICT when CONFLICTING, else BLOCKED.  The reason is REST's word."""
    if mergeable not in ("MERGEABLE", "CONFLICTING"):
        return Mergeability.UNKNOWN, ""
    fallback = Mergeability.CONFLICT if mergeable == "CONFLICTING" else Mergeability.BLOCKED
    verdict = _MERGE_STATES.get(state or "", fallback)
    if verdict is Mergeability.UNKNOWN:
        return verdict, ""
    reason = (state or "").lower() if verdict in (Mergeability.CONFLICT, Mergeability.BLOCKED) else ""
    return verdict, reason


def _statuses(node: dict[str, Any]) -> tuple[CommitStatus, ...] | None:
    """The head's statuses and check runs, one per context (the latest wins, as ``list_statuses``
    decides it); None when they did not fit in the page."""
    commits = (node.get("commits") or {}).get("nodes") or []
    rollup = commits[0]["commit"].get("statusCheckRollup") if commits else None
    if rollup is None:
        return ()  # nothing reported on the head yet
    contexts = rollup["contexts"]
    if contexts["totalCount"] > len(contexts["nodes"]):
        return None
    latest: dict[str, tuple[tuple[str, int, int], CommitStatus]] = {}
    for entry in contexts["nodes"]:
        recency, status = _context(entry)
        if status.context not in latest or recency > latest[status.context][0]:
            latest[status.context] = (recency, status)
    return tuple(status for _, status in latest.values())


def _context(entry: dict[str, Any]) -> tuple[tuple[str, int, int], CommitStatus]:
    if entry["__typename"] == "StatusContext":
        status = CommitStatus(
            context=entry.get("context") or "default",
            state=_STATUS_STATES.get(entry.get("state") or "", StatusState.ERROR),
            description=entry.get("description") or "",
            target_url=entry.get("targetUrl") or None,
        )
        return (entry.get("createdAt") or "", 1, 0), status
    if entry.get("status") != "COMPLETED":  # queued, in progress, waiting, requested, pending
        state = StatusState.PENDING
    else:
        state = _CONCLUSIONS.get(entry.get("conclusion") or "", StatusState.ERROR)
    status = CommitStatus(
        context=entry["name"],
        state=state,
        description=entry.get("title") or "",
        target_url=entry.get("detailsUrl") or None,
    )
    return (entry.get("completedAt") or entry.get("startedAt") or "", 0, entry.get("databaseId") or 0), status
