"""``NativeCI`` for GitHub Actions: re-run a PR head's workflow runs from ``/retest`` and ``/test NAME``.

Runs on the ``GitHubClient``'s own PyGithub client (``GitHubClient.sdk``), so it shares its
authentication (token, or App installation: the App needs the "actions: write" permission), its
transport (a request is repeated only when it never left: a second POST would re-run twice) and its
error mapping (``GitHubClient.neutral_errors``).  PyGithub objects are read only in this module and in
the client.  Every call is blocking and makes at most one write (``rerun``); ``AsyncNativeCI`` runs
each through the forge client's layers (write budget, metering, retries).

Which runs: those of ``GET /actions/runs?head_sha=SHA`` (every page).  A workflow can have several runs
for one head (a new run after a push of the same commit, ``push`` and ``pull_request`` both
triggering it, a manual run); only its *latest* run (highest run_number, then created_at, then id)
speaks for it.  A run that is re-run keeps its id and run_number (GitHub counts attempts instead), so
after a re-run the latest run is the re-run one, queued: asking again does not re-run it twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from github.WorkflowRun import WorkflowRun

from bot.ci.native import Rerun
from bot.events import ItemRef
from bot.forge.github.client import GitHubClient

# What ``/retest`` re-runs: a finished run that did not succeed and can be repeated.  (Not
# action_required, which waits for a person's approval, nor startup_failure, a broken workflow file
# that a re-run would break again; neither has failed jobs to re-run.)
_FAILED = frozenset({"failure", "cancelled", "timed_out"})


class GitHubActions:
    name = "github-actions"

    def __init__(self, client: GitHubClient) -> None:
        self._client = client

    def to_retest(self, ref: ItemRef, head_sha: str) -> list[Rerun]:
        """``rerun-failed-jobs`` for each workflow whose latest run for ``head_sha`` failed, was
        cancelled or timed out, by workflow name."""
        with self._client.neutral_errors("retest"):
            latest = _latest_runs(self._runs(ref.repo, head_sha))
        failed = sorted((run for run in latest if run.conclusion in _FAILED), key=lambda run: run.name.lower())
        return [Rerun(run.name, run.id, "rerun-failed-jobs") for run in failed]

    def to_run(self, ref: ItemRef, head_sha: str, name: str) -> list[Rerun]:
        """``rerun`` (every job) of the latest run for ``head_sha`` of the workflow called ``name``
        (case-insensitive); two workflow files with the same name: each one's latest run."""
        with self._client.neutral_errors("run"):
            latest = _latest_runs(self._runs(ref.repo, head_sha))
        wanted = name.strip().lower()
        matching = sorted((run for run in latest if run.name.lower() == wanted), key=lambda run: run.workflow_id)
        return [Rerun(run.name, run.id, "rerun") for run in matching]

    def rerun(self, ref: ItemRef, rerun: Rerun) -> str:
        """POST ``/actions/runs/{id}/{action}``, once (201); returns the workflow's name.  Raw:
        PyGithub's ``rerun()`` and ``rerun_failed_jobs()`` turn every error, 403 included, into a
        bare False.  A 403 rate limit maps to RateLimitedError, so it is never taken for a refusal
        of this one run."""
        action = "retest" if rerun.action == "rerun-failed-jobs" else "run"
        with self._client.neutral_errors(action):
            self._client.sdk(ref.repo).requester.requestJsonAndCheck(
                "POST", f"/repos/{ref.repo}/actions/runs/{rerun.target}/{rerun.action}")
        return rerun.name

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
