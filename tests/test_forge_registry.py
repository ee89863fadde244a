"""A forge is one driver in the registry (bot/forge/drivers.py): a third one, registered here in the
tests only, is routed by intake, read from the environment by settings and served by /help without
any change to the core modules.

"fakeforge" reuses GitHub's translator, adapter and fake server under its own name, webhook path
and environment variables (FAKEFORGE_URL, FAKEFORGE_TOKEN, FAKEFORGE_WEBHOOK_SECRET)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import EnabledForge, build_app, enabled_forges
from bot.config import Config, ForgeTuning, _Sections, with_a_section_per_forge
from bot.events import Event
from bot.forge.driver import ForgeDriver
from bot.forge.drivers import DRIVERS, driver_named
from bot.forge.github import driver as github
from bot.forge.github.client import GitHubClient
from bot.settings import SettingsError, env_url, env_value, load_settings
from tests.conftest import AUTHOR, COLLAB, REPO, Bot, GuardedTestServer, seed
from tests.fakes.base import Delivery
from tests.fakes.github import FakeGitHub

NAME = "fakeforge"
PATH = "/hook/fakeforge"


@dataclass(frozen=True)
class FakeForgeSettings:
    url: str = "https://fakeforge.example"
    token: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def missing(self) -> str | None:
        if not self.token:
            return "FAKEFORGE_TOKEN is not set"
        if not self.webhook_secret:
            return "FAKEFORGE_WEBHOOK_SECRET is not set"
        return None

    @property
    def credentials_missing(self) -> str | None:
        return None if self.token else "FAKEFORGE_TOKEN is not set"

    @property
    def endpoint(self) -> str:
        return self.url

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.webhook_secret) if v]


def fakeforge_settings(env: Mapping[str, str]) -> FakeForgeSettings:
    return FakeForgeSettings(url=env_url(env, "FAKEFORGE_URL", "https://fakeforge.example"),
                             token=env_value(env, "FAKEFORGE_TOKEN"),
                             webhook_secret=env_value(env, "FAKEFORGE_WEBHOOK_SECRET"))


class FakeForgeClient(GitHubClient):
    name = NAME


def translate(event_type: str, delivery_id: str, payload: dict[str, Any]) -> Event | None:
    event = github.translate(event_type, delivery_id, payload)
    return replace(event, forge=NAME) if event is not None else None


def connect(settings: FakeForgeSettings, tuning: ForgeTuning) -> EnabledForge:
    client = FakeForgeClient(settings.url, token=settings.token, timeout=tuning.timeout)
    return EnabledForge(client, settings.webhook_secret or "", translate, tuning.max_concurrent_requests)


FAKEFORGE = ForgeDriver(
    name=NAME,
    display_name="FakeForge",
    settings=fakeforge_settings,
    webhook=replace(github.DRIVER.webhook, path=PATH),
    translate=translate,
    connect=connect,
)
WITH_FAKEFORGE = (*DRIVERS, FAKEFORGE)


def env_for(fake: FakeGitHub) -> dict[str, str]:
    return {"FAKEFORGE_URL": fake.api_url, "FAKEFORGE_TOKEN": fake.token, "FAKEFORGE_WEBHOOK_SECRET": fake.webhook_secret}


def at(path: str, delivery: Delivery) -> Delivery:
    return replace(delivery, path=path)


# ---- the registry itself --------------------------------------------------------------------

@pytest.mark.parametrize("driver", DRIVERS, ids=[d.name for d in DRIVERS])
def test_each_forge_keeps_its_route(driver: ForgeDriver) -> None:
    assert driver.webhook.path == f"/hook/{driver.name}"
    assert driver_named(driver.name) is driver


def test_the_config_has_a_tuning_section_per_forge() -> None:
    from bot.options import build

    raw = build(with_a_section_per_forge(_Sections, WITH_FAKEFORGE),
                {NAME: {"timeout": 3, "write_limits": ["10/1m"]}, "gitlab": {"max_concurrent_requests": 2}})
    assert raw.tuning(NAME).timeout == 3 and raw.tuning(NAME).write_limits == ["10/1m"]
    assert raw.tuning("gitlab").max_concurrent_requests == 2
    assert raw.tuning("github") == ForgeTuning()


def test_forges_are_listed_once() -> None:
    assert [d.name for d in DRIVERS] == ["github", "gitlab"]
    with pytest.raises(KeyError, match="no forge driver named 'fakeforge'"):
        driver_named(NAME)


# ---- settings read it -----------------------------------------------------------------------

SETTINGS = [
    ("nothing set", {}, "FAKEFORGE_TOKEN is not set"),
    ("token without secret", {"FAKEFORGE_TOKEN": "t"}, "FAKEFORGE_WEBHOOK_SECRET is not set"),
    ("token and secret", {"FAKEFORGE_TOKEN": "t", "FAKEFORGE_WEBHOOK_SECRET": "s"}, None),
]


@pytest.mark.parametrize("env,missing", [c[1:] for c in SETTINGS], ids=[c[0] for c in SETTINGS])
def test_settings_read_the_new_forge(env: dict[str, str], missing: str | None) -> None:
    settings = load_settings(env, WITH_FAKEFORGE)
    assert settings.fakeforge.missing == missing
    assert settings.forges[NAME] is settings.fakeforge
    assert settings.github.missing is not None  # the others are read as before


def test_the_new_forges_secrets_are_masked_and_its_errors_named() -> None:
    settings = load_settings({"FAKEFORGE_TOKEN": "ff-token-1", "FAKEFORGE_WEBHOOK_SECRET": "ff-secret-2",
                              "FAKEFORGE_URL": "https://bot:ff-pass-3@fakeforge.example"}, WITH_FAKEFORGE)
    assert {"ff-token-1", "ff-secret-2", "ff-pass-3"} <= set(settings.secrets())
    assert "ff-token-1" not in repr(settings)
    with pytest.raises(SettingsError, match="FAKEFORGE_URL must be an http"):
        load_settings({"FAKEFORGE_URL": "fakeforge.example"}, WITH_FAKEFORGE)


# ---- intake routes it, /help works ----------------------------------------------------------

@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as f:
        seed(f)
        yield f


@pytest.fixture
async def bot(fake: FakeGitHub, config: Config, tmp_path: Path) -> AsyncIterator[Bot]:
    settings = load_settings(env_for(fake), WITH_FAKEFORGE)
    forges = enabled_forges(settings, config, WITH_FAKEFORGE)
    assert sorted(forges) == [NAME]  # GitHub and GitLab have no credentials here
    app = build_app(config, forges, tmp_path / "data", drivers=WITH_FAKEFORGE)
    async with TestClient(GuardedTestServer(app)) as client:
        yield Bot(client, fake)


async def test_intake_routes_the_new_forge(bot: Bot, fake: FakeGitHub) -> None:
    _, opened = fake.open_pull(REPO, author=AUTHOR)
    assert await bot.deliver(at(PATH, opened)) == 202
    assert await bot.post(at(PATH, opened)) == 200  # the same delivery id: a duplicate
    forged = replace(at(PATH, opened), headers={**opened.headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert await bot.post(forged) == 401
    resp = await bot.client.post("/hook/github", data=opened.body, headers=opened.headers)
    assert resp.status == 503 and "GitHub is not configured" in (await resp.json())["status"]
    health = await (await bot.client.get("/healthz")).json()
    assert health["forges"] == [NAME]


async def test_help_works_on_the_new_forge(bot: Bot, fake: FakeGitHub) -> None:
    number, opened = fake.open_pull(REPO, author=AUTHOR)
    await bot.deliver(at(PATH, opened))
    await bot.deliver(at(PATH, fake.comment(REPO, number, COLLAB, "/help")))
    (reply,) = bot.bot_comments(number)
    assert "these are the commands enabled in this repository:" in reply
    assert "| `/assign [@user ...]` |" in reply  # no quick actions on this forge: no prefix


async def test_a_forge_without_credentials_answers_503_naming_it(config: Config, tmp_path: Path) -> None:
    app = build_app(config, {}, tmp_path / "data", drivers=WITH_FAKEFORGE)
    async with TestClient(GuardedTestServer(app)) as client:
        resp = await client.post(PATH, data=b"{}", headers={"X-GitHub-Event": "ping"})
        assert resp.status == 503
        assert "FakeForge is not configured" in (await resp.json())["status"]
