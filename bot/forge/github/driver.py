"""GitHub as the core sees it (bot/forge/driver.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.forge.driver import ForgeDriver, Webhook
from bot.forge.github.settings import GitHubSettings, github_settings
from bot.forge.github.translate import translate
from bot.verify import github_signature_ok

if TYPE_CHECKING:
    from bot.app import EnabledForge
    from bot.config import ForgeTuning


def connect(settings: GitHubSettings, tuning: ForgeTuning) -> EnabledForge:
    from bot.app import EnabledForge
    from bot.forge.github.actions import GitHubActions
    from bot.forge.github.client import GitHubClient

    client = GitHubClient(
        settings.api_url,
        token=settings.token,
        app_id=settings.app_id,
        app_private_key=settings.app_private_key,
        timeout=tuning.timeout,
    )
    return EnabledForge(client, settings.webhook_secret or "", translate, tuning.max_concurrent_requests,
                        GitHubActions(client))


def _signature_ok(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    return github_signature_ok(secret, body, headers.get("X-Hub-Signature-256"))


DRIVER = ForgeDriver(
    name="github",
    display_name="GitHub",
    settings=github_settings,
    webhook=Webhook(
        path="/hook/github",
        event_header="X-GitHub-Event",
        delivery_headers=("X-GitHub-Delivery",),
        verify=_signature_ok,
        rejection="bad signature",
    ),
    translate=translate,
    connect=connect,
    roles={"maintainers": "maintain or admin", "admins": "admin"},
    retired_keys={
        "seconds_between_requests": "no longer used: reads are never delayed (PyGithub's throttle is off)",
        "seconds_between_writes": "no longer used: writes are paced by github.write_limits (default 80/1m and 500/1h)",
    },
)
