"""Secrets and endpoints from the environment (12-factor).  Nothing here is ever logged whole:
``describe()`` gives a loggable summary that says which credentials are set, never their values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.urls import redact_url, url_secrets


class SettingsError(ValueError):
    """An environment variable is set to something unusable; the message names the variable."""


@dataclass(frozen=True)
class GitHubSettings:
    api_url: str = "https://api.github.com"
    token: str | None = field(default=None, repr=False)
    app_id: str | None = None
    app_private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def has_credentials(self) -> bool:
        return bool(self.token or (self.app_id and self.app_private_key))

    @property
    def missing(self) -> str | None:
        """Why this forge is disabled, or None when it can run."""
        if not self.has_credentials:
            return "GITHUB_TOKEN or GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY(_FILE) is not set"
        if not self.webhook_secret:
            return "GITHUB_WEBHOOK_SECRET is not set"
        return None


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


@dataclass(frozen=True)
class Settings:
    github: GitHubSettings
    gitlab: GitLabSettings
    data_dir: Path
    public_url: str = "http://localhost:8080"  # links to job pages in commit statuses
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    redis_prefix: str = "prowlet"  # keys' prefix, so deployments can share one Redis
    dashboard_token: str | None = field(default=None, repr=False)  # the dashboard's login; unset: public repos only
    metrics_token: str | None = field(default=None, repr=False)  # GET /metrics needs it as a Bearer token when set

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log filter that redacts them."""
        values = (
            self.github.token,
            self.github.app_private_key,
            self.github.webhook_secret,
            self.gitlab.token,
            self.gitlab.webhook_secret,
            self.dashboard_token,
            self.metrics_token,
        )
        urls = (self.redis_url, self.github.api_url, self.gitlab.url, self.public_url)  # user:password@ too
        return [v for v in values if v] + [secret for url in urls if url for secret in url_secrets(url)]


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _private_key(env: Mapping[str, str]) -> str | None:
    inline = _get(env, "GITHUB_APP_PRIVATE_KEY")
    path = _get(env, "GITHUB_APP_PRIVATE_KEY_FILE")
    if inline and path:
        raise SettingsError("set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE, not both")
    if path:
        try:
            return Path(path).read_text()
        except OSError as err:
            raise SettingsError(f"GITHUB_APP_PRIVATE_KEY_FILE: cannot read {path}: {err.strerror}") from None
    # Keys passed inline often arrive with literal "\n" sequences from .env files.
    return inline.replace("\\n", "\n") if inline else None


def _check_private_key(key: str) -> None:
    """Refused now rather than accepted and then failing every GitHub event: GitHub App keys are
    PEM-encoded RSA private keys (the .pem file GitHub hands out)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        parsed = load_pem_private_key(key.strip().encode(), password=None)
    except (ValueError, TypeError):  # the library's message may quote the key: not shown
        raise SettingsError("GITHUB_APP_PRIVATE_KEY(_FILE) is not a PEM-encoded private key without a "
                            "passphrase (the .pem file from the GitHub App's settings)") from None
    if not isinstance(parsed, RSAPrivateKey):
        raise SettingsError("GITHUB_APP_PRIVATE_KEY(_FILE) is not an RSA key (GitHub App keys are RSA)")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = _get(env, name) or default
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an http(s) URL, got {redact_url(value)!r}")
    return value.rstrip("/")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    app_id = _get(env, "GITHUB_APP_ID")
    key = _private_key(env)
    if bool(app_id) != bool(key):
        raise SettingsError("GitHub App auth needs both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY(_FILE)")
    if app_id and _get(env, "GITHUB_TOKEN"):
        raise SettingsError("set GITHUB_TOKEN or GitHub App credentials (GITHUB_APP_ID ...), not both")
    if key:
        _check_private_key(key)
    github = GitHubSettings(
        api_url=_url(env, "GITHUB_API_URL", "https://api.github.com"),
        token=_get(env, "GITHUB_TOKEN"),
        app_id=app_id,
        app_private_key=key,
        webhook_secret=_get(env, "GITHUB_WEBHOOK_SECRET"),
    )
    gitlab = GitLabSettings(
        url=_url(env, "GITLAB_URL", "https://gitlab.com"),
        token=_get(env, "GITLAB_TOKEN"),
        webhook_secret=_get(env, "GITLAB_WEBHOOK_SECRET"),
    )
    data_dir = Path(_get(env, "PROWLET_DATA_DIR") or "./data")
    public_url = _url(env, "PROWLET_PUBLIC_URL", "http://localhost:8080")
    redis_url = _get(env, "PROWLET_REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"PROWLET_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redact_url(redis_url)!r}")
    redis_prefix = _get(env, "PROWLET_REDIS_PREFIX") or "prowlet"
    return Settings(github=github, gitlab=gitlab, data_dir=data_dir, public_url=public_url, redis_url=redis_url,
                    redis_prefix=redis_prefix, dashboard_token=_get(env, "PROWLET_DASHBOARD_TOKEN"),
                    metrics_token=_get(env, "PROWLET_METRICS_TOKEN"))
