"""The dashboard end to end, on both forges: signed webhooks and merge passes through the real app,
then its pages over HTTP — values present, private repositories hidden until one logs in."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import JOBS_KEY, MERGE_KEY, STORES_KEY, build_app
from bot.config import Config
from bot.events import ItemKind
from bot.forge.base import Permission
from bot.merge.state import HISTORY_KEEP, MergeState
from tests.conftest import AUTHOR, COLLAB, LABELS, REPO, Bot, GuardedTestServer, enabled
from tests.fakes.base import FakeForge

TOKEN = "dash-board-token-1234"
SECRET = "acme/secret"  # not in dashboard.public_repos: private


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"merge": {"sync_interval": 3600, "repos": ["acme/*"]}, "dashboard": {"public_repos": [REPO, "other/*"]},
            "aliases": [DEPLOY]}


DEPLOY = {"command": "deploy", "format": "{{env}}", "help": "Deploys the change to a test environment.",
          "params": {"env": {"allowed": ["staging"]}}, "action": {"workflow": "deploy.yml", "pipeline": True}}


@pytest.fixture
async def dash(fake: FakeForge, config: Config, tmp_path: Path) -> AsyncIterator[Bot]:
    fake.add_repo(SECRET, labels=LABELS)
    fake.set_permission(SECRET, COLLAB, Permission.WRITE)
    app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data", dashboard_token=TOKEN,
                    metrics_token="scrape-me")
    async with TestClient(GuardedTestServer(app)) as client:
        yield Bot(client, fake)


def kind(fake: FakeForge) -> dict[str, Any]:
    return {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}


async def opened(bot: Bot, repo: str, title: str, labels: list[str]) -> int:
    number, delivery = bot.fake.open_pull(repo, author=AUTHOR, title=title)
    await bot.deliver(delivery)
    bot.fake.set_labels(repo, number, labels, **kind(bot.fake))
    return number


async def passes(bot: Bot, *repos: str) -> None:
    merger = bot.client.app[MERGE_KEY]
    await merger.idle()
    for repo in repos:
        await merger.sync(bot.fake.name, repo)


async def get(bot: Bot, path: str, **headers: str) -> tuple[int, str]:
    async with bot.client.get(path, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


def basic(password: str, user: str = "me") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def seeded(bot: Bot) -> dict[str, int]:
    """A PR that merges, one that waits (with a /hold), and one in the private repository."""
    merged = await opened(bot, REPO, "Ready <b>one</b>", ["lgtm", "approved"])
    waiting = await opened(bot, REPO, "Waits for approval", ["lgtm"])
    await bot.deliver(bot.fake.comment(REPO, waiting, COLLAB, "/hold until the release"))
    hidden = await opened(bot, SECRET, "Top secret change", ["lgtm"])
    await bot.deliver(bot.fake.comment(SECRET, hidden, COLLAB, "/kind bug"))
    await passes(bot, REPO, SECRET)
    return {"merged": merged, "waiting": waiting, "hidden": hidden}


async def test_pages_show_the_passes_and_commands_and_hide_the_private_repository(dash: Bot) -> None:
    numbers = await seeded(dash)
    forge = dash.fake.name

    status, html = await get(dash, "/")
    assert status == 200
    assert f'href="/repos/{forge}/{REPO}"' in html and SECRET not in html
    assert "log in" in html

    status, html = await get(dash, f"/repos/{forge}/{REPO}")
    assert status == 200
    assert "Waits for approval" in html and "needs approved" in html
    assert "Not mergeable. Needs approved label." in html
    assert "do-not-merge/hold" in html  # the label the /hold put on
    assert "Ready &lt;b&gt;one&lt;/b&gt;" not in html.split("Last merges")[0]  # merged: no longer open
    merges = html.split("Last merges")[1]
    assert f"#{numbers['merged']}" in merges and "main" in merges

    status, html = await get(dash, f"/repos/{forge}/{SECRET}")
    assert status == 401 and "Top secret change" not in html and 'name="token"' in html

    status, html = await get(dash, "/audit")
    assert status == 200
    assert "/hold until the release" in html and COLLAB in html and f"{REPO} #{numbers['waiting']}" in html
    assert "/kind bug" not in html  # said in the private repository

    status, html = await get(dash, "/commands")
    assert status == 200 and "/lgtm" in html and "Adds the lgtm label" in html


LOGINS = [
    ("bearer", {"Authorization": f"Bearer {TOKEN}"}, 200),
    ("basic auth password", {"Authorization": basic(TOKEN)}, 200),
    ("wrong bearer", {"Authorization": "Bearer nope"}, 401),
    ("wrong basic password", {"Authorization": basic("nope")}, 401),
    ("token as basic user name", {"Authorization": basic("", user=TOKEN)}, 401),
    ("garbled basic", {"Authorization": "Basic %%%"}, 401),
    ("forged cookie", {"Cookie": "prowlet_dashboard=99999999999.deadbeef"}, 401),
    ("nothing", {}, 401),
]


@pytest.mark.parametrize("headers,expected", [c[1:] for c in LOGINS], ids=[c[0] for c in LOGINS])
async def test_private_repository_needs_the_token(dash: Bot, headers: dict[str, str], expected: int) -> None:
    await seeded(dash)
    status, html = await get(dash, f"/repos/{dash.fake.name}/{SECRET}", **headers)
    assert status == expected
    assert ("Top secret change" in html) is (expected == 200)


async def test_login_form_sets_a_strict_http_only_cookie_and_logout_clears_it(dash: Bot) -> None:
    await seeded(dash)
    private = f"/repos/{dash.fake.name}/{SECRET}"
    async with dash.client.post("/login", data={"token": "wrong", "next": private}, allow_redirects=False) as resp:
        assert resp.status == 401 and "not the dashboard token" in await resp.text()
    async with dash.client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"},
                                allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/"  # never off-site
    async with dash.client.post("/login", data={"token": TOKEN, "next": private}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == private
        cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    status, html = await get(dash, private)  # the client's cookie jar sends it
    assert status == 200 and "Top secret change" in html
    status, html = await get(dash, "/audit")
    assert "/kind bug" in html
    status, html = await get(dash, "/")
    assert SECRET in html
    async with dash.client.post("/logout", allow_redirects=False) as resp:
        assert resp.status == 303
    status, _ = await get(dash, private)
    assert status == 401


async def test_jobs_page_links_each_job_with_its_token_and_hides_private_ones(dash: Bot) -> None:
    jobs = dash.client.app[JOBS_KEY]
    public = await jobs.records.create(job="unit<x>", forge=dash.fake.name, repo=REPO, number=1, sha="a" * 40)
    secret = await jobs.records.create(job="e2e", forge=dash.fake.name, repo=SECRET, number=2, sha="b" * 40)
    status, html = await get(dash, "/jobs")
    assert status == 200
    links = re.findall(r'href="/jobs/([0-9a-f]{32})/([0-9a-f]{32})"', html)
    assert [job_id for job_id, _ in links] == [public.id]
    assert jobs.links.valid(*links[0])
    assert "unit&lt;x&gt;" in html and "unit<x>" not in html
    status, html = await get(dash, "/jobs", Authorization=f"Bearer {TOKEN}")
    assert secret.id in html and public.id in html
    status, _ = await get(dash, "/" + links[0][0].join(["jobs/", "/"]) + links[0][1])
    assert status == 200  # the job's own page still opens with its token


async def test_pages_forbid_scripts_and_report_server_time(dash: Bot) -> None:
    await seeded(dash)
    async with dash.client.get(f"/repos/{dash.fake.name}/{REPO}") as resp:
        assert resp.status == 200
        assert "script-src" not in resp.headers["Content-Security-Policy"]
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert re.fullmatch(r"app;dur=[0-9.]+", resp.headers["Server-Timing"])
        assert "<script" not in await resp.text()


async def test_metrics_need_their_token_when_one_is_set(dash: Bot) -> None:
    status, _ = await get(dash, "/metrics")
    assert status == 401
    status, _ = await get(dash, "/metrics", Authorization="Bearer wrong")
    assert status == 401
    status, text = await get(dash, "/metrics", Authorization="Bearer scrape-me")
    assert status == 200 and "prowlet_webhooks_total" in text


@pytest.mark.parametrize("config_data", [{"merge": {"sync_interval": 3600}}], ids=["nothing public"])
async def test_without_a_token_or_public_repositories_the_dashboard_says_how_to_enable_it(
        fake: FakeForge, config: Config, tmp_path: Path) -> None:
    app = build_app(config, {fake.name: enabled(fake)}, tmp_path / "data")
    async with TestClient(GuardedTestServer(app)) as client:
        bot = Bot(client, fake)
        await opened(bot, REPO, "Somewhere", ["lgtm"])
        await passes(bot, REPO)
        status, html = await get(bot, "/")
        assert status == 200 and "PROWLET_DASHBOARD_TOKEN" in html and "dashboard.public_repos" in html
        assert REPO not in html
        status, html = await get(bot, f"/repos/{fake.name}/{REPO}")
        assert status == 401 and "PROWLET_DASHBOARD_TOKEN" in html and "Somewhere" not in html
        status, _ = await get(bot, "/metrics")
        assert status == 200  # no PROWLET_METRICS_TOKEN: open as before


async def test_the_page_follows_the_next_pass(dash: Bot) -> None:
    numbers = await seeded(dash)
    page = f"/repos/{dash.fake.name}/{REPO}"
    status, html = await get(dash, page)
    assert "Not mergeable. Needs approved label." in html
    dash.fake.set_labels(REPO, numbers["waiting"], ["lgtm", "approved", "do-not-merge/hold"], **kind(dash.fake))
    await passes(dash, REPO)
    status, html = await get(dash, page)
    assert status == 200
    assert "Not mergeable. Should not have do-not-merge/hold label." in html
    assert "Needs approved label." not in html


async def test_with_redis_another_replica_serves_what_one_saw(fake: FakeForge, config: Config, tmp_path: Path,
                                                              redis_server: Any, redis_prefix: str) -> None:
    from bot.store import open_stores

    fake.add_repo(SECRET, labels=LABELS)
    fake.set_permission(SECRET, COLLAB, Permission.WRITE)
    apps = [build_app(config, {fake.name: enabled(fake)}, tmp_path / f"replica-{i}", dashboard_token=TOKEN,
                      stores=open_stores(tmp_path / f"replica-{i}", redis_server.url, redis_prefix=redis_prefix))
            for i in range(2)]
    async with TestClient(GuardedTestServer(apps[0])) as first, TestClient(GuardedTestServer(apps[1])) as second:
        numbers = await seeded(Bot(first, fake))
        other = Bot(second, fake)
        status, html = await get(other, f"/repos/{fake.name}/{REPO}")
        assert status == 200 and "Waits for approval" in html and f"#{numbers['merged']}" in html.split("Last merges")[1]
        status, html = await get(other, "/audit", Authorization=f"Bearer {TOKEN}")
        assert "/hold until the release" in html and "/kind bug" in html


async def test_command_help_lists_config_defined_commands_beside_the_plugins(dash: Bot) -> None:
    status, html = await get(dash, "/commands")
    assert status == 200
    assert "/deploy" in html and "Deploys the change to a test environment." in html
    assert "/lgtm" in html and "/why" in html


async def test_last_merges_outlive_many_passes(dash: Bot) -> None:
    numbers = await seeded(dash)
    state = MergeState(dash.client.app[STORES_KEY].state)
    for _ in range(HISTORY_KEEP + 10):  # a day of passes or more: the shared history forgets the merge
        await state.record_pass(dash.fake.name, REPO, 0.1, 2, [], [], {})
    _, html = await get(dash, f"/repos/{dash.fake.name}/{REPO}")
    assert f"#{numbers['merged']}" in html.split("Last merges")[1]


async def test_repositories_the_config_no_longer_merges_are_not_listed(dash: Bot) -> None:
    await seeded(dash)
    state = MergeState(dash.client.app[STORES_KEY].state)
    await state.add_repo(dash.fake.name, "other/old")  # in scope once, under an earlier config
    await state.save_snapshot(dash.fake.name, "other/old", {"pulls": [], "rev": "1"})
    _, html = await get(dash, "/")
    assert REPO in html and "other/old" not in html
