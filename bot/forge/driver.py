"""One forge as the core sees it: everything intake, settings, app, help and permissions would
otherwise branch on by name.  Each forge package exposes its ``DRIVER`` (bot/forge/<forge>/driver.py);
bot/forge/drivers.py lists them (Zuul's per-forge drivers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.events import Event

if TYPE_CHECKING:
    from bot.app import EnabledForge
    from bot.config import ForgeTuning

Translator = Callable[[str, str, dict[str, Any]], Event | None]


class ForgeSettings(Protocol):
    """A forge's settings from the environment (each driver has its own dataclass)."""

    @property
    def missing(self) -> str | None:
        """Why this forge is disabled (names the variables to set), or None when it can run."""

    @property
    def credentials_missing(self) -> str | None:
        """Why it cannot call the forge's API (the webhook secret aside), or None."""

    @property
    def endpoint(self) -> str:
        """The API's URL (may hold user:password@: redact before logging)."""

    def secrets(self) -> list[str]:
        """Every secret value set, for the log filter that redacts them."""


@dataclass(frozen=True)
class Webhook:
    """How the forge delivers webhooks to ``path`` and proves they are its own."""

    path: str  # e.g. "/hook/github"
    event_header: str
    delivery_headers: tuple[str, ...]  # the first one present is the delivery id (the dedup key)
    verify: Callable[[str, bytes, Mapping[str, str]], bool]  # (secret, body, headers), constant time
    rejection: str  # the 401's message: "bad signature" / "bad token"
    # The check reads the body (a signature over it); else it is checked before the body is read.
    signs_body: bool = True

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        return next((value for value in map(headers.get, self.delivery_headers) if value), None)


@dataclass(frozen=True)
class ForgeDriver:
    name: str  # events' ``forge``, metrics labels, the config's tuning section, store keys
    display_name: str  # in messages: "GitHub"
    settings: Callable[[Mapping[str, str]], ForgeSettings]  # raises SettingsError naming the variable
    webhook: Webhook
    translate: Translator
    connect: Callable[[Any, ForgeTuning], EnabledForge]  # (its settings, tuning) → client and native CI
    # Slash commands the forge runs itself before prowlet sees a comment (GitLab's quick actions):
    # prowlet's commands of these names need the configured prefix there.
    quick_action_clashes: frozenset[str] = frozenset()
    # What the permission rules mean in the forge's words, by rule: {"admins": "Owner"}.
    roles: Mapping[str, str] = field(default_factory=dict)
    # How people write a change's number: "acme/api#12" (GitLab merge requests: "group/api!12").
    change_sign: str = "#"
    # Keys of the forge's config section that no longer exist, and what replaced each (check-config).
    retired_keys: Mapping[str, str] = field(default_factory=dict)
