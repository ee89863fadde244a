"""Screenshots of the dashboard for the README, taken in headless Chromium (Debian's `chromium`).

Starts a real `prowlet serve` against the test suite's fake GitHub, sends it signed webhooks for a
handful of PRs in a public and a private repository (one ready to merge, others waiting for various
reasons, a few commands), waits for the merge passes, logs in through the form and saves PNGs:

    .venv/bin/python bench/screenshots.py            # writes docs/screenshots/*.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bot.forge.base import Permission  # noqa: E402
from tests.conftest import AUTHOR, COLLAB, LABELS, OTHER, REPO, make_fake, seed  # noqa: E402
from tests.served import Served, forge_env, get_text, post, wait_for  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
TOKEN = "screenshot-token"
SECRET = "acme/secret"
PULLS = [
    (REPO, "Add the widget API", ["lgtm", "approved", "kind/feature", "size/M"], "/lgtm"),
    (REPO, "Fix the flaky cache test", ["lgtm", "kind/bug", "size/S"], "/kind bug"),
    (REPO, "Rework the storage layer", ["lgtm", "approved", "do-not-merge/hold", "size/XL"], "/hold needs a design review"),
    (REPO, "Docs: describe the config file", ["needs-docs", "size/XS"], "/assign @carl"),
    (SECRET, "Rotate the signing keys", ["lgtm", "area/api"], "/priority critical-urgent"),
]


def fetch(url: str) -> str:
    return get_text(url, TOKEN)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with make_fake("github") as fake, tempfile.TemporaryDirectory() as tmp:
        seed(fake)
        fake.add_repo(SECRET, labels=LABELS)
        fake.set_permission(SECRET, COLLAB, Permission.WRITE)
        config = Path(tmp) / "config.yaml"
        config.write_text(f"merge:\n  sync_interval: 3600\n  repos: ['acme/*']\ndashboard:\n  public_repos: ['{REPO}']\n"
                          "intake:\n  repair_interval: '0'\n")
        server = Served({**forge_env(fake), "PROWLET_DASHBOARD_TOKEN": TOKEN}, Path(tmp), args=("--config", str(config)))
        try:
            for repo, title, labels, command in PULLS:
                number, delivery = fake.open_pull(repo, author=AUTHOR, title=title)
                fake.set_labels(repo, number, labels)
                post(server.base, delivery)
                post(server.base, fake.comment(repo, number, OTHER if command == "/lgtm" else COLLAB, command))
            wait_for(lambda: "Rotate the signing keys" in fetch(f"{server.base}/repos/github/{SECRET}")
                     and "Docs: describe" in fetch(f"{server.base}/repos/github/{REPO}")
                     and "/assign" in fetch(f"{server.base}/audit"), "the merge passes", 60)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"{server.base}/repos/github/{SECRET}")
                page.screenshot(path=str(OUT / "login.png"))
                page.fill("#token", TOKEN)
                page.click("button[type=submit]")
                for name, path in (("overview", "/"), ("repository", f"/repos/github/{REPO}"),
                                   ("audit", "/audit"), ("commands", "/commands")):
                    page.goto(server.base + path)
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=name != "commands")
                    print("wrote", OUT / f"{name}.png")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
