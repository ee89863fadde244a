"""GitHub's settings from the environment: a token or GitHub App credentials, the API URL, the
webhook secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import SettingsError, env_url as _url, env_value as _get


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

    @property
    def credentials_missing(self) -> str | None:
        return None if self.has_credentials else "GITHUB_TOKEN (or GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY) is not set"

    @property
    def endpoint(self) -> str:
        return self.api_url

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.app_private_key, self.webhook_secret) if v]


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


def github_settings(env: Mapping[str, str]) -> GitHubSettings:
    app_id = _get(env, "GITHUB_APP_ID")
    key = _private_key(env)
    if bool(app_id) != bool(key):
        raise SettingsError("GitHub App auth needs both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY(_FILE)")
    if app_id and _get(env, "GITHUB_TOKEN"):
        raise SettingsError("set GITHUB_TOKEN or GitHub App credentials (GITHUB_APP_ID ...), not both")
    if key:
        _check_private_key(key)
    return GitHubSettings(
        api_url=_url(env, "GITHUB_API_URL", "https://api.github.com"),
        token=_get(env, "GITHUB_TOKEN"),
        app_id=app_id,
        app_private_key=key,
        webhook_secret=_get(env, "GITHUB_WEBHOOK_SECRET"),
    )
