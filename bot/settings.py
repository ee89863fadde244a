"""Secrets and endpoints from the environment (12-factor).  Nothing here is ever logged whole:
``describe()`` gives a loggable summary that says which credentials are set, never their values."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.urls import redact_url, url_secrets

if TYPE_CHECKING:
    from bot.forge.driver import ForgeDriver, ForgeSettings


MIN_SIGNING_KEY = 32  # characters of PROWLET_JOB_SIGNING_KEY: 128+ bits from any sensible generator


class SettingsError(ValueError):
    """An environment variable is set to something unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    forges: Mapping[str, ForgeSettings]  # by driver name; also ``settings.github``, ``settings.gitlab``
    data_dir: Path
    public_url: str = "http://localhost:8080"  # links to job pages in commit statuses
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    redis_prefix: str = "prowlet"  # keys' prefix, so deployments can share one Redis
    dashboard_token: str | None = field(default=None, repr=False)  # the dashboard's login; unset: public repos only
    metrics_token: str | None = field(default=None, repr=False)  # GET /metrics needs it as a Bearer token when set
    # Signs the specs of jobs from a repository's .prowlet.yaml queued for shared workers (bot.ci.signing).
    job_signing_key: str | None = field(default=None, repr=False)

    def __getattr__(self, name: str) -> Any:
        """One forge's settings by its driver's name: ``settings.github``."""
        forges = self.__dict__.get("forges", {})
        if name.startswith("_") or name not in forges:
            raise AttributeError(name)
        return forges[name]

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log filter that redacts them."""
        values = [secret for forge in self.forges.values() for secret in forge.secrets()]
        values += [self.dashboard_token or "", self.metrics_token or "", self.job_signing_key or ""]
        urls = (self.redis_url, *(forge.endpoint for forge in self.forges.values()), self.public_url)  # user:password@ too
        return [v for v in values if v] + [secret for url in urls if url for secret in url_secrets(url)]


def env_value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def env_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env_value(env, name) or default
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an http(s) URL, got {redact_url(value)!r}")
    return value.rstrip("/")


def load_settings(env: Mapping[str, str] | None = None, drivers: Sequence[ForgeDriver] | None = None) -> Settings:
    """``drivers``: the forges whose settings to read (default: every registered one)."""
    env = os.environ if env is None else env
    if drivers is None:
        from bot.forge.drivers import DRIVERS as drivers
    forges = {driver.name: driver.settings(env) for driver in drivers}
    data_dir = Path(env_value(env, "PROWLET_DATA_DIR") or "./data")
    public_url = env_url(env, "PROWLET_PUBLIC_URL", "http://localhost:8080")
    redis_url = env_value(env, "PROWLET_REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"PROWLET_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {redact_url(redis_url)!r}")
    redis_prefix = env_value(env, "PROWLET_REDIS_PREFIX") or "prowlet"
    signing_key = env_value(env, "PROWLET_JOB_SIGNING_KEY")
    if signing_key is not None and len(signing_key) < MIN_SIGNING_KEY:
        raise SettingsError(f"PROWLET_JOB_SIGNING_KEY must be at least {MIN_SIGNING_KEY} characters "
                            f"(it has {len(signing_key)}), e.g. `openssl rand -hex 32`")
    return Settings(forges=forges, data_dir=data_dir, public_url=public_url, redis_url=redis_url,
                    redis_prefix=redis_prefix, dashboard_token=env_value(env, "PROWLET_DASHBOARD_TOKEN"),
                    metrics_token=env_value(env, "PROWLET_METRICS_TOKEN"), job_signing_key=signing_key)
