"""``NativeCI`` for GitLab: the merge request's pipelines, retried or started from comments.

Blocking, on the ``GitLabClient``'s own python-gitlab client (``GitLabClient.sdk``): the same
connection, token redaction and ForgeErrors, and no retries of its own (``_Gitlab``): a POST that
failed with a 502 may still have started a pipeline.  Each write (retry, new pipeline) is one
``rerun`` call, which ``AsyncNativeCI`` sends through the forge client's write budget.
"""

from __future__ import annotations

from typing import Any

from bot.ci.native import Rerun
from bot.events import ItemRef
from bot.forge.gitlab.client import GitLabClient, _require_pull

# Only these are worth a retry: GitLab's retry re-runs the failed and canceled jobs of a pipeline.
# Anything else is running (nothing to re-run yet), passed, or waiting for someone (manual).
_RETRYABLE = frozenset({"failed", "canceled"})
PIPELINE = "pipeline"  # /test pipeline starts a new MR pipeline


class GitLabPipelines:
    name = "gitlab-ci"

    def __init__(self, client: GitLabClient) -> None:
        self._client = client

    def to_retest(self, ref: ItemRef, head_sha: str) -> list[Rerun]:
        # GET .../merge_requests/:iid/pipelines lists newest first; its first page (100) is
        # enough to find the latest.  The latest for ``head_sha``, else the latest at all: a
        # merged-results pipeline runs on a merge commit, not on the head.
        _require_pull(ref, "pipelines")
        with self._client.sdk(ref.repo, f"list the pipelines of {ref}") as project:
            pipelines = _merge_request(project, ref).pipelines.list(get_all=False)
        newest_first = sorted((p.attributes for p in pipelines), key=lambda p: p["id"], reverse=True)
        candidates = [p for p in newest_first if p["sha"] == head_sha] or newest_first
        if not candidates or candidates[0]["status"] not in _RETRYABLE:
            return []
        latest = candidates[0]["id"]
        return [Rerun(f"pipeline #{latest}", latest, "retry")]

    def to_run(self, ref: ItemRef, head_sha: str, name: str) -> list[Rerun]:
        # Only ``/test pipeline`` asks for one: a new pipeline runs every job, so a job name that
        # is not ours is answered, not run.
        if name.lower() != PIPELINE:
            return []
        _require_pull(ref, "pipelines")
        return [Rerun(PIPELINE, 0, "create")]

    def rerun(self, ref: ItemRef, rerun: Rerun) -> str:
        # "retry": POST .../pipelines/:id/retry re-runs its failed and canceled jobs.  "create":
        # POST .../merge_requests/:iid/pipelines, a new MR pipeline at the MR's current head
        # (GitLab picks the sha).
        if rerun.action == "retry":
            with self._client.sdk(ref.repo, f"retry {rerun.name} of {ref}") as project:
                project.pipelines.get(rerun.target, lazy=True).retry()
            return rerun.name
        with self._client.sdk(ref.repo, f"start a pipeline for {ref}") as project:
            pipeline = _merge_request(project, ref).pipelines.create({})
        return f"pipeline #{pipeline.id}"

    def names(self, ref: ItemRef, head_sha: str) -> list[str]:
        return [PIPELINE]  # a new pipeline runs whatever .gitlab-ci.yml says: one thing to name


def _merge_request(project: Any, ref: ItemRef) -> Any:
    return project.mergerequests.get(ref.number, lazy=True)
