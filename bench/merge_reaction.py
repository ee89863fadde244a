"""How long a ready PR waits for its merge after its last check turns green, when that check is
external CI that names no PR (a GitHub commit status; on GitLab the branch pipeline external
statuses run in), on both forges.

Runs the real app (intake, queue, worker, merge controller) against the fake forges, with the
merge interval an hour apart so only the webhook can start the merging pass.  Each round: a PR
with the required labels and one pending external status is seen by a pass; the status turns
green and its signed webhook is posted; the time until the fake records the merge is one sample.
``--open`` other PRs (a quarter label-ready, each held back by a failing check) make the pass
that merges it a pass over a big repository.  Times are from this machine and include the fake
forges' own work; they are not a test.

    .venv/bin/python bench/merge_reaction.py                 # 20 rounds, 0 and 1,000 other PRs
    .venv/bin/python bench/merge_reaction.py --rounds 50 --open 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient  # noqa: E402

from bot.app import MERGE_KEY, build_app  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.events import ItemKind  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from plugins import REGISTRY  # noqa: E402
from tests.conftest import AUTHOR, REPO, Bot, GuardedTestServer, enabled, seed  # noqa: E402
from tests.fakes.base import failing_check  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.gitlab import FakeGitLab  # noqa: E402

READY = ["lgtm", "approved"]
PIPELINE = ROOT / "tests" / "fixtures" / "gitlab" / "pipeline__success__1.json"


def _kind(fake: Any) -> dict[str, Any]:
    return {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}


def external_status(fake: Any, sha: str, state: str) -> Any:
    """External CI reports on ``sha``, and the webhook the forge sends for it."""
    if fake.name == "github":
        return fake.add_status(REPO, sha, "jenkins", state)
    fake.add_status(REPO, sha, "jenkins", {"success": "success"}.get(state, "running"))
    payload = json.loads(PIPELINE.read_text())
    payload["project"]["path_with_namespace"] = REPO
    payload["object_attributes"].update(sha=sha, status="success" if state == "success" else "running",
                                        source="external")
    payload["merge_request"] = None
    return fake.delivery("Pipeline Hook", payload)


async def rounds(fake: Any, count: int, others: int) -> list[float]:
    config = parse_config({"merge": {"sync_interval": 3600}, "intake": {"repair_interval": "0"}}, REGISTRY)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(config, {fake.name: enabled(fake)}, Path(tmp) / "data")
        async with TestClient(GuardedTestServer(app)) as client:
            bot = Bot(client, fake)
            merger = client.app[MERGE_KEY]
            for i in range(others):
                number, _ = fake.open_pull(REPO, author=AUTHOR)
                if i % 4 == 0:
                    fake.set_labels(REPO, number, READY, **_kind(fake))
                    failing_check(fake, REPO, number)
            samples = []
            for _ in range(count):
                number, _ = fake.open_pull(REPO, author=AUTHOR)
                fake.set_labels(REPO, number, READY, **_kind(fake))
                sha = fake.head_sha(REPO, number)
                external_status(fake, sha, "pending")
                await merger.idle()
                await merger.sync(fake.name, REPO)  # the pass that sees it waiting
                green = external_status(fake, sha, "success")
                started = time.perf_counter()
                await bot.post(green)
                while fake.state(REPO, number) != "merged":
                    await asyncio.sleep(0.002)
                samples.append(time.perf_counter() - started)
                await merger.idle()
    return samples


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--open", type=int, nargs="*", default=[0, 1000])
    args = parser.parse_args()
    configure_logging(fmt="console", level="warning")
    print(f"{'forge':8} {'other PRs':>9} {'rounds':>6} {'p50 s':>7} {'p99 s':>7} {'max s':>7}")
    for make in (FakeGitHub, FakeGitLab):
        for others in args.open:
            with make() as fake:
                seed(fake)
                samples = asyncio.run(rounds(fake, args.rounds, others))
            print(f"{fake.name:8} {others:>9} {len(samples):>6} {_quantile(samples, 0.5):>7.3f} "
                  f"{_quantile(samples, 0.99):>7.3f} {max(samples):>7.3f}")


if __name__ == "__main__":
    main()
