"""``NativeCI`` for GitHub Actions: re-run a PR head's workflow runs from ``/retest`` and ``/test NAME``.

Runs on the ``GitHubClient``'s own PyGithub client (``GitHubClient.sdk``), so it shares its
authentication (token, or App installation: the App needs the "actions: write" permission), its
transport (a request is repeated only when it never left: a second POST would re-run twice) and its
error mapping (``GitHubClient.neutral_errors``).  PyGithub objects are read only in this module and in
the client.  Every call is blocking; ``AsyncNativeCI`` runs it off the event loop.

Which runs: those of ``GET /actions/runs?head_sha=SHA`` (every page).  A workflow can have several runs
for one head (a new run after a push of the same commit, ``push`` and ``pull_request`` both
triggering it, a manual run); only its *latest* run (highest run_number, then created_at, then id)
speaks for it.  A run that is re-run keeps its id and run_number (GitHub counts attempts instead), so
after a re-run the latest run is the re-run one, queued: asking again does not re-run it twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from github.WorkflowRun import WorkflowRun

from bot.events import ItemRef
from bot.forge.base import ForbiddenError
from bot.forge.github.client import GitHubClient

log = structlog.get_logger("prowlet.github-actions")

# What ``/retest`` re-runs: a finished run that did not succeed and can be repeated.  (Not
# action_required, which waits for a person's approval, nor startup_failure, a broken workflow file
# that a re-run would break again; neither has failed jobs to re-run.)
_FAILED = frozenset({"failure", "cancelled", "timed_out"})


class GitHubActions:
    name = "github-actions"

    def __init__(self, client: GitHubClient) -> None:
        self._client = client

    def retest(self, ref: ItemRef, head_sha: str) -> list[str]:
        """``POST /actions/runs/{id}/rerun-failed-jobs`` for each workflow whose latest run for
        ``head_sha`` failed, was cancelled or timed out; returns those workflows' names (sorted).
        GitHub's 403 for one run (a run over 30 days old "cannot be rerun", or one still running) is
        logged and that run skipped, the others are still re-run; but when every run that needed it
        was refused, ForbiddenError says why (rather than [], which would mean "nothing failed")."""
        with self._client.neutral_errors("retest"):
            latest = _latest_runs(self._runs(ref.repo, head_sha))
        failed = sorted((run for run in latest if run.conclusion in _FAILED), key=lambda run: run.name.lower())
        rerun: list[str] = []
        refused: list[tuple[str, ForbiddenError]] = []
        for run in failed:
            try:
                self._post(ref.repo, run, "rerun-failed-jobs", "retest")
            except ForbiddenError as err:
                log.warning("workflow run not re-run", repo=ref.repo, workflow=run.name, run_id=run.id, error=str(err))
                refused.append((run.name, err))
                continue
            rerun.append(run.name)
        if refused and not rerun:
            names = ", ".join(name for name, _ in refused)
            raise ForbiddenError(f"{refused[0][1]} (not re-run: {names})") from refused[0][1]
        return rerun

    def run(self, ref: ItemRef, head_sha: str, name: str) -> str | None:
        """``POST /actions/runs/{id}/rerun`` (every job) for the latest run for ``head_sha`` of the
        workflow called ``name`` (case-insensitive); returns the workflow's name as GitHub spells it,
        or None when no workflow of that name ran for ``head_sha``.  Two workflow files with the same
        name: each one's latest run is re-run.  Errors, 403 included, are raised."""
        with self._client.neutral_errors("run"):
            latest = _latest_runs(self._runs(ref.repo, head_sha))
        wanted = name.strip().lower()
        matching = sorted((run for run in latest if run.name.lower() == wanted), key=lambda run: run.workflow_id)
        for run in matching:
            self._post(ref.repo, run, "rerun", "run")
        return matching[0].name if matching else None

    def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        """The names of the workflows with runs for ``head_sha``, sorted; each once, whatever its case
        (``run`` matches case-insensitively), spelt as in its newest run (GitHub lists newest first)."""
        names: dict[str, str] = {}
        with self._client.neutral_errors("names"):
            for run in self._runs(ref.repo, head_sha):
                names.setdefault(run.name.lower(), run.name)
        return sorted(names.values(), key=str.lower)

    # ---- helpers ---------------------------------------------------------------------------

    def _runs(self, repo: str, head_sha: str) -> list[WorkflowRun]:
        """Every run for ``head_sha`` (all pages).  Call inside ``neutral_errors``."""
        return list(self._client.sdk(repo).get_repo(repo).get_workflow_runs(head_sha=head_sha))

    def _post(self, repo: str, run: WorkflowRun, what: str, action: str) -> None:
        """POST ``/actions/runs/{id}/{what}``, once (201).  Raw: PyGithub's ``rerun()`` and
        ``rerun_failed_jobs()`` turn every error, 403 included, into a bare False.  A 403 rate limit
        maps to RateLimitedError, so it is never taken for a refusal of this one run."""
        with self._client.neutral_errors(action):
            self._client.sdk(repo).requester.requestJsonAndCheck("POST", f"/repos/{repo}/actions/runs/{run.id}/{what}")


def _latest_runs(runs: Iterable[WorkflowRun]) -> list[WorkflowRun]:
    """Each workflow's latest run: highest run_number, then created_at, then id."""
    latest: dict[int, WorkflowRun] = {}
    for run in runs:
        current = latest.get(run.workflow_id)
        if current is None or _order(run) > _order(current):
            latest[run.workflow_id] = run
    return list(latest.values())


def _order(run: WorkflowRun) -> tuple[int, float, int]:
    return (run.run_number or 0, run.created_at.timestamp() if run.created_at else 0.0, run.id)
