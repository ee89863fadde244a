"""GitLab's settings from the environment: the instance URL, the bot's token, the webhook secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.settings import env_url, env_value


@dataclass(frozen=True)
class GitLabSettings:
    url: str = "https://gitlab.com"
    token: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def missing(self) -> str | None:
        if not self.token:
            return "GITLAB_TOKEN is not set"
        if not self.webhook_secret:
            return "GITLAB_WEBHOOK_SECRET is not set"
        return None

    @property
    def credentials_missing(self) -> str | None:
        return None if self.token else "GITLAB_TOKEN is not set"

    @property
    def endpoint(self) -> str:
        return self.url

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.webhook_secret) if v]


def gitlab_settings(env: Mapping[str, str]) -> GitLabSettings:
    return GitLabSettings(
        url=env_url(env, "GITLAB_URL", "https://gitlab.com"),
        token=env_value(env, "GITLAB_TOKEN"),
        webhook_secret=env_value(env, "GITLAB_WEBHOOK_SECRET"),
    )
