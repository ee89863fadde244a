"""Repositories in scope of merge automation, found at start-up rather than from webhooks.

Without this, the merge controller learns a repository from its first webhook, so after a restart
a PR that became ready while prowlet was down would wait for someone to touch it.  At start-up the
forges list the repositories matching ``merge.repos`` (``ForgeClient.list_repos``: one listing per
literal owner/group, or of everything the bot sees for ``*``) and each gets a merge pass.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from bot.forge.base import ForgeError
from bot.forge.layered import AsyncForge
from bot.merge.controller import MergeController

log = structlog.get_logger("prowlet.scope")


async def announce_repos_in_scope(forges: Mapping[str, AsyncForge], merger: MergeController) -> int:
    """Tell ``merger`` about every repository in its scope on every forge; returns how many.  A
    forge that cannot list is logged and skipped: its repositories are learned from webhooks."""
    count = 0
    for name, forge in forges.items():
        try:
            repos = await forge.list_repos(merger.settings.repos)
        except ForgeError as err:
            log.warning("cannot list the repositories in scope of merge automation; learning them from webhooks",
                        forge=name, error=str(err))
            continue
        log.info("repositories in scope of merge automation", forge=name, count=len(repos))
        for repo in repos:
            merger.poke(name, repo)
        count += len(repos)
    return count
