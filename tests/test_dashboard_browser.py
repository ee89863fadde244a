"""The dashboard in real headless Chromium (Playwright, Debian's `chromium`), served by a real
`prowlet serve` process that handled real signed webhooks from the fake forges: pages render, links
work, the login form works, no console errors, and a private repository stays hidden until login.

Skipped only when Chromium (or Playwright) is missing outside CI; under CI=true that is a failure.
Screenshots for the README come from bench/screenshots.py, not from here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.events import ItemKind
from bot.forge.base import Permission
from tests.conftest import AUTHOR, COLLAB, LABELS, REPO
from tests.fakes.base import FakeForge
from tests.served import Served, forge_env, get_text, post, wait_for

TOKEN = "browser-dashboard-token"
SECRET = "acme/secret"


@pytest.fixture
def chromium() -> str:
    """The browser's path (PROWLET_CHROMIUM, else Debian's), or skip — fail under CI=true: the browser
    tests must run there."""
    wanted = os.environ.get("PROWLET_CHROMIUM")
    found = (wanted if Path(wanted).exists() else None) if wanted else shutil.which("chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        why = f"Chromium ({wanted or 'chromium on PATH'}) or Playwright is not installed (apt-get install chromium; pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return found


def _get(url: str) -> str:
    return get_text(url, TOKEN)


@pytest.fixture
def served(chromium: str, fake: FakeForge, tmp_path: Path) -> Iterator[tuple[Served, FakeForge]]:
    fake.add_repo(SECRET, labels=LABELS)
    fake.set_permission(SECRET, COLLAB, Permission.WRITE)
    config = tmp_path / "config.yaml"
    config.write_text(f"merge:\n  sync_interval: 3600\n  repos: ['acme/*']\ndashboard:\n  public_repos: ['{REPO}']\n"
                      "intake:\n  repair_interval: '0'\n")
    server = Served({**forge_env(fake), "PROWLET_DASHBOARD_TOKEN": TOKEN}, tmp_path, args=("--config", str(config)))
    try:
        kind: dict[str, Any] = {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}
        numbers = {}
        for repo, title, labels in ((REPO, "Make the <widget> faster", ["lgtm"]),
                                    (SECRET, "Top secret change", ["lgtm", "do-not-merge/hold"])):
            numbers[repo], delivery = fake.open_pull(repo, author=AUTHOR, title=title)
            fake.set_labels(repo, numbers[repo], labels, **kind)
            assert post(server.base, delivery) == 202
        assert post(server.base, fake.comment(REPO, numbers[REPO], COLLAB, "/area api")) == 202
        # Generous: the machine may be busy, and each page is polled until it shows what was sent.
        wait_for(lambda: "Top secret change" in _get(f"{server.base}/repos/{fake.name}/{SECRET}"),
                 "the private repository's merge pass", 60)
        wait_for(lambda: "Make the &lt;widget&gt; faster" in _get(f"{server.base}/repos/{fake.name}/{REPO}"),
                 "the public repository's merge pass", 60)
        wait_for(lambda: "/area api" in _get(f"{server.base}/audit"), "the command in the audit trail", 60)
        yield server, fake
    finally:
        server.stop()


def test_dashboard_in_chromium(chromium: str, served: tuple[Served, FakeForge]) -> None:
    from playwright.sync_api import sync_playwright

    server, fake = served
    base = server.base
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(f"{m.location.get('url')}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda err: errors.append(f"page error: {err}"))

            # Logged out: the public repository is listed and opens; the private one is not listed.
            assert page.goto(base + "/").status == 200
            assert page.get_by_role("link", name=REPO).is_visible()
            assert SECRET not in page.content()
            page.get_by_role("link", name=REPO).click()
            assert page.url == f"{base}/repos/{fake.name}/{REPO}"
            row = page.locator("table.pulls tbody tr").first
            assert "Make the <widget> faster" in row.inner_text()  # escaped in HTML, shown as typed
            assert "needs approved" in row.inner_text() and "Not mergeable. Needs approved label." in row.inner_text()
            for name, heading in (("Jobs", "Jobs"), ("Commands", "Commands"), ("Audit", "Audit trail")):
                page.get_by_role("link", name=name, exact=True).click()
                assert page.locator("h1").inner_text() == heading
            assert "/area api" in page.content() and COLLAB in page.content()
            page.goto(base + "/commands")
            assert page.get_by_text("Adds the lgtm label", exact=False).first.is_visible()

            # The private repository asks for a login, refuses a wrong token, then shows itself.
            private = f"{base}/repos/{fake.name}/{SECRET}"
            assert page.goto(private).status == 401
            assert "Top secret change" not in page.content()
            page.fill("#token", "wrong")
            page.click("button[type=submit]")
            assert page.get_by_role("alert").inner_text() == "That is not the dashboard token."
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            assert page.url == private
            assert "Top secret change" in page.locator("table.pulls").inner_text()
            cookie = next(c for c in page.context.cookies() if c["name"] == "prowlet_dashboard")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
            page.get_by_role("link", name="Repositories").click()
            assert page.get_by_role("link", name=SECRET).is_visible()

            # Logging out hides it again.
            page.get_by_role("button", name="Log out").click()
            assert SECRET not in page.content()
            assert page.goto(private).status == 401
        finally:
            browser.close()
    # The 401s above are on purpose: the private page logged out, and the wrong token.
    deliberate = {f"{url}: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
                  for url in (private, f"{base}/login")}
    unexpected = [e for e in errors if e not in deliberate]
    assert unexpected == [], unexpected
