"""End-to-end harness: the real aiohttp app, real SDK clients, stateful fake forges over HTTP."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import QUEUE_KEY, EnabledForge, build_app
from bot.config import Config, parse_config
from bot.forge.base import Permission
from bot.http_guard import GuardedAppRunner
from bot.help import GITLAB_CLASHES
from plugins import REGISTRY
from tests.fakes.base import Delivery, FakeForge

FORGES = ["github", "gitlab"]
REPO = "acme/widgets"
LABELS = [
    "lgtm", "do-not-merge/hold", "kind/bug", "kind/feature", "priority/critical-urgent", "area/api",
    "triage/accepted", "sig/node", "needs-docs", "lifecycle/frozen", "lifecycle/stale", "lifecycle/rotten",
    "restricted-label", "approved", "merge-blocker", "merge-method-squash", "needs-rebase",
    "lifecycle/active", "needs-kind", "needs-triage", "help wanted", "good first issue",
    "do-not-merge/work-in-progress", "size/XS", "size/S", "size/M", "size/L", "size/XL", "size/XXL",
    "ok-to-test", "needs-ok-to-test",
]
# People in the tables: the PR author (a collaborator with read access only), a collaborator with
# write access, a second collaborator, and an outsider with no access at all.
AUTHOR, COLLAB, OTHER, OUTSIDER = "ann", "carl", "bob", "zed"


def make_fake(forge: str) -> FakeForge:
    if forge == "github":
        from tests.fakes.github import FakeGitHub

        return FakeGitHub()
    from tests.fakes.gitlab import FakeGitLab

    return FakeGitLab()


def make_client(fake: FakeForge) -> Any:
    if fake.name == "github":
        from bot.forge.github.client import GitHubClient

        return GitHubClient(fake.api_url, token=fake.token)
    from bot.forge.gitlab.client import GitLabClient

    return GitLabClient(fake.api_url, token=fake.token)


def enabled(fake: FakeForge) -> EnabledForge:
    translate = importlib.import_module(f"bot.forge.{fake.name}.translate").translate
    client = make_client(fake)
    if fake.name == "github":
        from bot.forge.github.actions import GitHubActions

        native: Any = GitHubActions(client)
    else:
        from bot.forge.gitlab.pipelines import GitLabPipelines

        native = GitLabPipelines(client)
    return EnabledForge(client, fake.webhook_secret, translate, native_ci=native)


def typed(forge: str, body: str, prefix: str = "prow-") -> str:
    """What a user types: on GitLab, commands that GitLab would execute itself need the prefix."""
    if forge != "gitlab":
        return body
    lines = []
    for line in body.splitlines():
        name = line[1:].split(" ", 1)[0].lower() if line.startswith("/") else ""
        lines.append(f"/{prefix}{line[1:]}" if name in GITLAB_CLASHES else line)
    return "\n".join(lines)


class Bot:
    """A running prowlet app with a helper to deliver webhooks and wait for their effects."""

    def __init__(self, client: TestClient, fake: FakeForge) -> None:
        self.client = client
        self.fake = fake

    @property
    def queue(self):  # noqa: ANN201
        return self.client.app[QUEUE_KEY]

    async def post(self, delivery: Delivery) -> int:
        resp = await self.client.post(delivery.path, data=delivery.body, headers=delivery.headers)
        await resp.read()
        return resp.status

    async def deliver(self, delivery: Delivery) -> int:
        """Post a delivery and wait until everything queued has been handled."""
        status = await self.post(delivery)
        assert await self.queue.join(30), "events still pending after 30 s"
        return status

    def bot_comments(self, number: int) -> list[str]:
        return [body for author, body in self.fake.comments(REPO, number) if author == self.fake.bot_login]


class GuardedTestServer(TestServer):
    """The app on the runner `prowlet serve` uses (bot/http_guard.py: protocol limits and settings)."""

    async def _make_runner(self, **kwargs: Any) -> GuardedAppRunner:
        return GuardedAppRunner(self.app, **kwargs)


def seed(fake: FakeForge) -> None:
    fake.add_repo(REPO, labels=LABELS)
    fake.set_permission(REPO, AUTHOR, Permission.READ)
    fake.set_permission(REPO, COLLAB, Permission.WRITE)
    fake.set_permission(REPO, OTHER, Permission.WRITE)
    fake.add_user(OUTSIDER)


@pytest.fixture(params=FORGES)
def forge_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fake(forge_name: str) -> Iterator[FakeForge]:
    with make_fake(forge_name) as f:
        seed(f)
        yield f


@pytest.fixture
def config_data() -> dict[str, Any]:
    """Override in a test module (or parametrize) to run with a config other than the defaults."""
    return {"plugins": {"options": {"label": {"restricted": {"restricted-label": [OTHER]}}}}}


@pytest.fixture
def config(config_data: dict[str, Any]) -> Config:
    data = json.loads(json.dumps(config_data))
    # Repair of missed deliveries asks the forge for hooks and deliveries in the background; only
    # the tests about it turn it on, so other tests' request counts stay exact.
    data.setdefault("intake", {"repair_interval": "0"})
    return parse_config(data, REGISTRY)


@pytest.fixture
async def bot(fake: FakeForge, config: Config, tmp_path: Path) -> AsyncIterator[Bot]:
    app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data")
    async with TestClient(GuardedTestServer(app)) as client:
        yield Bot(client, fake)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    from tests.redis_server import RedisServer

    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """Keys of one test, apart from every other test's on the shared server."""
    import uuid

    return f"t{uuid.uuid4().hex[:12]}"
