"""Server time of the dashboard's repository page with 1,000 open PRs/MRs.

Seeds, through the real state store API (SQLite, as `prowlet serve` uses by default), one merge
pass's snapshot of N open PRs (labels, statuses, verdicts — a quarter of them ready, over three
target branches) plus merge history and an audit trail, then GETs `/repos/github/acme/big` over HTTP
from the real app N times and reads the handler's own time from its `Server-Timing` header (store
read, decoding and template rendering; the forge is never called).  Prints median and p99.

    .venv/bin/python bench/dashboard.py                 # 1,000 PRs, 200 renders
    .venv/bin/python bench/dashboard.py --prs 5000 --renders 50
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.audit import AuditTrail  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.dashboard import Access, Dashboard  # noqa: E402
from bot.events import Item, ItemKind, ItemRef  # noqa: E402
from bot.forge.base import CommitStatus, PullState, StatusState  # noqa: E402
from bot.merge.readiness import MergeRules, Verdict  # noqa: E402
from bot.merge.snapshot import build_snapshot  # noqa: E402
from bot.merge.state import MergeState  # noqa: E402
from bot.store import open_stores  # noqa: E402
from plugins import REGISTRY  # noqa: E402

REPO = "acme/big"
TOKEN = "bench-token"
RULES = MergeRules(["lgtm", "approved"], ["do-not-merge/hold"], "merge")


def verdicts(n: int) -> tuple[list[tuple[PullState, Verdict]], dict[int, list[CommitStatus]]]:
    pairs, statuses = [], {}
    for number in range(1, n + 1):
        ready = number % 4 == 0
        labels = {"lgtm", "approved", "kind/feature", "size/M"} if ready else {"lgtm", "kind/bug", "area/api"}
        item = Item(ItemRef(REPO, number, ItemKind.PULL), author=f"user{number % 37}",
                    title=f"Change number {number}: make the <widget> faster & smaller", labels=frozenset(labels),
                    head_sha=f"{number:040x}", base_ref=("main", "release-1", "release-2")[number % 3],
                    url=f"https://github.com/{REPO}/pull/{number}")
        if ready:
            statuses[number] = [CommitStatus("unit", StatusState.SUCCESS), CommitStatus("lint", StatusState.SUCCESS)]
            pairs.append((PullState(item), Verdict(True, "In merge pool.")))
        else:
            pairs.append((PullState(item), Verdict(False, "Not mergeable. Needs approved label.")))
    return pairs, statuses


async def seed(data_dir: Path, prs: int) -> None:
    stores = open_stores(data_dir)
    state = MergeState(stores.state)
    await state.add_repo("github", REPO)
    pairs, statuses = verdicts(prs)
    await state.save_snapshot("github", REPO, build_snapshot(pairs, statuses, RULES))
    for i in range(50):
        await state.record_merge("github", REPO, 10_000 + i, f"{i:040x}", "main", "merge")
    await state.record_pass("github", REPO, 1.0, prs, [n for n in range(4, prs + 1, 4)], [], {})
    audit = AuditTrail(stores.state)
    for i in range(1000):
        await audit.record(user="carl", command="lgtm", args="", forge="github", repo=REPO, number=i, outcome="done")
    await stores.close()


async def measure(data_dir: Path, path: str, renders: int, cold: bool = False) -> list[float]:
    """``cold``: the dashboard alone on the same store, keeping no rendered table — every render is
    like the first one after a merge pass changed the repository."""
    config = parse_config({"merge": {}, "intake": {"repair_interval": "0"}}, REGISTRY)
    if cold:
        stores = open_stores(data_dir, exclusive=False)
        app = web.Application()
        app.add_routes(Dashboard(config, stores.state, Access(TOKEN, config.raw.dashboard), table_cache=0).routes())
        app.on_cleanup.append(lambda _: stores.close())
    else:
        app = build_app(config, {}, data_dir, dashboard_token=TOKEN)
    timings = []
    async with TestClient(TestServer(app)) as client:
        for i in range(renders + 5):
            async with client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                body = await resp.text()
                assert resp.status == 200, (resp.status, body[:200])
                if i >= 5:  # the first renders compile templates and warm caches
                    timings.append(float(re.fullmatch(r"app;dur=([0-9.]+)", resp.headers["Server-Timing"])[1]))
    return timings


def report(name: str, timings: list[float]) -> None:
    timings = sorted(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(f"{name:<45} median {statistics.median(timings):7.1f} ms   p99 {p99:7.1f} ms   "
          f"max {timings[-1]:7.1f} ms   ({len(timings)} renders)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        started = time.monotonic()
        await seed(data_dir, args.prs)
        print(f"seeded {args.prs} open PRs in {time.monotonic() - started:.1f} s (SQLite state store)")
        page = f"/repos/github/{REPO}"
        report(f"{page} (first after a pass)", await measure(data_dir, page, args.renders, cold=True))
        report(page, await measure(data_dir, page, args.renders))
        report("/ (overview)", await measure(data_dir, "/", args.renders))
        report("/audit", await measure(data_dir, "/audit", args.renders))


if __name__ == "__main__":
    asyncio.run(main())
