"""Routing notifications by the change's files (``paths:``, e.g. an OWNERS directory)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import NOTIFY_KEY, build_app
from bot.config import Config, NotifyRoute, parse_config
from bot.forge.base import ChangedFile
from bot.notify.paths import path_matches
from bot.notify.routing import channels_for
from bot.outcomes import CommandFailed, Merged
from plugins import REGISTRY
from tests.conftest import COLLAB, REPO, Bot, GuardedTestServer, enabled, typed
from tests.fakes.base import FakeForge
from tests.notify_receivers import HOOK_SECRET, Receivers
from tests.test_notify import receivers  # noqa: F401

MATCHES = [
    ("directory glob", ["docs/guide/intro.md"], ["docs/**"], True),
    ("star crosses directories", ["docs/guide/intro.md"], ["docs/*"], True),
    ("trailing slash is the directory", ["docs/a.md"], ["docs/"], True),
    ("another directory", ["src/main.py"], ["docs/**"], False),
    ("a prefix is not a directory", ["docsite/a.md"], ["docs/**"], False),
    ("extension anywhere", ["a/b/c.md"], ["*.md"], True),
    ("case-sensitive like git", ["Docs/a.md"], ["docs/**"], False),
    ("any of several", ["src/x.go"], ["docs/**", "src/**"], True),
    ("no files", [], ["**"], False),
]


@pytest.mark.parametrize("paths,globs,expected", [c[1:] for c in MATCHES], ids=[c[0] for c in MATCHES])
def test_path_matches(paths: list[str], globs: list[str], expected: bool) -> None:
    assert path_matches(paths, globs) is expected


MERGED = Merged("github", "acme/widgets", 7, "a" * 40, "merge")
DOCS = [NotifyRoute(paths=["docs/**"], channels=["docs"]), NotifyRoute(outcomes=["Merged"], channels=["all"])]
ROUTES = [
    ("touches docs", ["docs/a.md"], ["docs", "all"]),
    ("touches nothing of docs", ["src/a.py"], ["all"]),
    ("files unknown: sent rather than lost", None, ["docs", "all"]),
]


@pytest.mark.parametrize("paths,expected", [c[1:] for c in ROUTES], ids=[c[0] for c in ROUTES])
def test_routes_by_paths(paths: list[str] | None, expected: list[str]) -> None:
    assert channels_for(DOCS, MERGED, paths) == expected


# -- end to end: a /hold on a change touching docs/ reaches the docs channel only -----------------------

@pytest.fixture
async def notified(fake: FakeForge, receivers: tuple[Receivers, str], tmp_path: Path,  # noqa: F811
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Bot, Receivers]]:
    found, base = receivers
    env = {"DOCS_URL": f"{base}/webhook/docs", "API_URL": f"{base}/webhook/api", "HOOK_SECRET": HOOK_SECRET}
    channels = {name: {"kind": "webhook", "url_env": f"{name.upper()}_URL", "secret_env": "HOOK_SECRET"}
                for name in ("docs", "api")}
    config: Config = parse_config({
        "intake": {"repair_interval": "0"},
        "notify": {"channels": channels, "retry_after": 0.05, "routes": [
            {"paths": ["docs/**"], "channels": ["docs"]},
            {"paths": ["pkg/api/"], "channels": ["api"]},
        ]},
    }, REGISTRY)
    app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data", env=env)
    async with TestClient(GuardedTestServer(app)) as client:
        yield Bot(client, fake), found


async def test_an_outcome_goes_to_the_channel_of_the_directory_it_touches(notified: tuple[Bot, Receivers]) -> None:
    bot, found = notified
    docs_only, _ = bot.fake.open_pull(REPO, COLLAB, files=[ChangedFile("docs/guide.md")])
    both, _ = bot.fake.open_pull(REPO, COLLAB, files=[ChangedFile("docs/x.md"), ChangedFile("pkg/api/h.go")])
    for number in (docs_only, both):
        await bot.deliver(bot.fake.comment(REPO, number, COLLAB, typed(bot.fake.name, "/hold")))
    outbox = bot.client.app[NOTIFY_KEY].outbox  # every message was stored while the events were handled
    while (await outbox.stats(0)).pending:
        await asyncio.sleep(0.01)

    def numbers(channel: str) -> list[str]:  # the webhook's outcome fields are strings
        return sorted(r.body["outcome"]["number"] for r in found.accepted if r.key.startswith(f"{channel}:"))

    assert numbers("docs") == sorted([str(docs_only), str(both)])
    assert numbers("api") == [str(both)]
    assert found.refused == []
