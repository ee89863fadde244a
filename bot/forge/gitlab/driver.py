"""GitLab as the core sees it (bot/forge/driver.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.forge.driver import ForgeDriver, Webhook
from bot.forge.gitlab.settings import GitLabSettings, gitlab_settings
from bot.forge.gitlab.translate import translate
from bot.verify import gitlab_token_ok

if TYPE_CHECKING:
    from bot.app import EnabledForge
    from bot.config import ForgeTuning

# GitLab executes these quick actions itself (and removes them from the note) before prowlet sees
# it; prowlet's versions need the prefix there.
QUICK_ACTIONS = frozenset(
    {"approve", "unapprove", "assign", "unassign", "label", "unlabel", "close", "reopen", "cc", "merge", "rebase", "title", "draft", "lock", "unlock", "milestone"}
)


def connect(settings: GitLabSettings, tuning: ForgeTuning) -> EnabledForge:
    from bot.app import EnabledForge
    from bot.forge.gitlab.client import GitLabClient
    from bot.forge.gitlab.pipelines import GitLabPipelines

    client = GitLabClient(settings.url, token=settings.token or "", timeout=tuning.timeout)
    return EnabledForge(client, settings.webhook_secret or "", translate, tuning.max_concurrent_requests,
                        GitLabPipelines(client))


def _token_ok(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    return gitlab_token_ok(secret, headers.get("X-Gitlab-Token"))


DRIVER = ForgeDriver(
    name="gitlab",
    display_name="GitLab",
    settings=gitlab_settings,
    webhook=Webhook(
        path="/hook/gitlab",
        event_header="X-Gitlab-Event",
        # Idempotency-Key (GitLab 17.4+) is stable across retries; the event UUID is the fallback.
        delivery_headers=("Idempotency-Key", "X-Gitlab-Event-UUID"),
        verify=_token_ok,
        rejection="bad token",
        signs_body=False,  # the token is a header: checked before the body is read
    ),
    translate=translate,
    connect=connect,
    quick_action_clashes=QUICK_ACTIONS,
    roles={"collaborators": "Developer or higher", "maintainers": "Maintainer or Owner", "admins": "Owner"},
    change_sign="!",
)
