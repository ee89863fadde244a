"""Forge API calls one merge pass costs for N open PRs/MRs, on both forges.

Runs the real MergeController through the real PyGithub / python-gitlab clients against the fake
forges from the test suite, and counts the requests they receive.  A pass over N PRs, a quarter of
them labelled ready (each with a failing check, so none merges and the pool stays the same), is run
cold (first pass: nothing cached, every merge status written) and warm (the next pass).

    .venv/bin/python bench/merge_calls.py            # N = 10, 50, 200
    .venv/bin/python bench/merge_calls.py --n 500
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ci.links import JobLinks  # noqa: E402
from bot.ci.reporter import StatusReporter  # noqa: E402
from bot.ci.runner import Runner  # noqa: E402
from bot.ci.services import CIServices  # noqa: E402
from bot.ci.store import JobStore  # noqa: E402
from bot.outcomes import Bus  # noqa: E402
from bot.config import MergeSettings  # noqa: E402
from bot.app import compose_forge  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from bot.merge.controller import MergeController  # noqa: E402
from tests.conftest import LABELS, REPO, make_client  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.gitlab import FakeGitLab  # noqa: E402


def seed(fake: Any, n: int) -> None:
    fake.add_repo(REPO, labels=LABELS)
    for i in range(n):
        number, _ = fake.open_pull(REPO, author=f"dev{i % 7}")
        if i % 4 == 0:  # ready by labels; a failing check keeps it out of the pool
            fake.set_labels(REPO, number, ["lgtm", "approved"])
            sha = fake.head_sha(REPO, number)
            if fake.name == "github":
                fake.add_check_run(REPO, sha, "unit", "completed", "failure")
            else:
                fake.add_status(REPO, sha, "unit", "failed")


async def measure(fake: Any, n: int) -> tuple[int, int, Counter[str]]:
    forge = compose_forge(make_client(fake))
    with tempfile.TemporaryDirectory() as tmp:
        store = JobStore(Path(tmp) / "jobs.sqlite3")
        bus = Bus()
        StatusReporter({forge.name: forge}).attach(bus)
        ci = CIServices(runner=Runner(store, bus, JobLinks("http://x", b"k" * 32), Path(tmp) / "w"))
        merger = MergeController(MergeSettings(), {forge.name: forge}, ci)
        before = len(fake.requests)
        await merger.sync(forge.name, REPO)
        cold = len(fake.requests) - before
        before = len(fake.requests)
        await merger.sync(forge.name, REPO)
        warm_requests = fake.requests[before:]
        store.close()
    forge.close()
    kinds = Counter(f"{r.method} {_shape(r.path)}" for r in warm_requests)
    return cold, len(warm_requests), kinds


def _shape(path: str) -> str:
    parts = path.split("/")
    return "/".join("N" if p.isdigit() or len(p) == 40 else p for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[10, 50, 200])
    args = parser.parse_args()
    configure_logging(fmt="console", level="warning")  # the pass logs one line each; we count calls
    print(f"{'forge':8} {'open PRs':>8} {'cold pass':>10} {'warm pass':>10}   warm pass by request")
    for make in (FakeGitHub, FakeGitLab):
        for n in args.n:
            with make() as fake:
                seed(fake, n)
                cold, warm, kinds = asyncio.run(measure(fake, n))
            detail = ", ".join(f"{count}x {kind}" for kind, count in kinds.most_common())
            print(f"{fake.name:8} {n:>8} {cold:>10} {warm:>10}   {detail}")


if __name__ == "__main__":
    main()
