"""The results of aliases' actions, posted when they end: kept in the durable state store while
they run (so a restart in between loses nothing), posted once as a reply to the command."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import structlog

from bot.events import ItemKind, ItemRef
from bot.aliases.template import render
from bot.forge.layered import AsyncForge
from bot.outcomes import JobFinished
from bot.replies import has_marker, render_reply, with_marker
from bot.store.base import StateStore

log = structlog.get_logger("prowlet.aliases")

PENDING = "alias-pending"  # state namespace: results waited for, by run
PENDING_TTL = 7 * 86400  # a run that never reports back is forgotten after a week
# The forges' words for how a run ended, as one vocabulary for {{status}}.
_STATUS = {"failed": "failure", "canceled": "cancelled"}


def run_key(forge: str, repo: str, run_id: int | None) -> str:
    return f"{forge}:{repo}:run:{run_id}"


def dispatch_key(repo: str, workflow: str, branch: str) -> str:
    """Without a run id (an older GitHub Enterprise answers 204): the next run of this workflow file
    on this branch started by workflow_dispatch speaks for it."""
    return f"github:{repo}:dispatch:{workflow.rsplit('/', 1)[-1]}:{branch}"


def job_key(job_id: str) -> str:
    return f"job:{job_id}"


def pending_result(repo: str, number: int, actor: str, line: str, comment_url: str, template: str,
                   values: Mapping[str, str], url: str) -> dict[str, Any]:
    return {"repo": repo, "number": number, "actor": actor, "line": line, "comment_url": comment_url,
            "result": template, "values": dict(values), "url": url}


async def post_result(forge: AsyncForge, state: StateStore, keys: list[str], status: str, url: str) -> bool:
    """Post the result waited for under the first of ``keys`` that has one; False when none has.
    The reply is marked and posted only when no marked one is there yet, so a redelivered webhook,
    a retried event or a re-reported job outcome cannot post it twice."""
    for key in keys:
        pending = await state.get(PENDING, key)
        if pending:
            break
    else:
        return False
    status = _STATUS.get(status, status or "unknown")
    message = render(pending["result"], {**pending["values"], "status": status, "url": url or pending["url"]})
    ref = ItemRef(pending["repo"], int(pending["number"]), ItemKind.PULL)
    marker = "alias-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    if not any(has_marker(c.body, marker) for c in await forge.list_comments(ref)):
        body = render_reply(pending["actor"], message, pending["line"], pending["comment_url"] or None,
                            limit=forge.capabilities.max_comment_chars - 100)
        await forge.comment(ref, with_marker(body, marker))
    await state.delete(PENDING, key)
    log.info("alias result posted", key=key, status=status)
    return True


class JobResults:
    """Subscribes to the outcome bus: a built-in job an alias started has finished."""

    def __init__(self, state: StateStore, forges: Mapping[str, AsyncForge]) -> None:
        self._state = state
        self._forges = forges

    async def on_job_finished(self, outcome: JobFinished) -> None:
        forge = self._forges.get(outcome.forge)
        if forge is not None:
            await post_result(forge, self._state, [job_key(outcome.job_id)], outcome.state, outcome.url)
