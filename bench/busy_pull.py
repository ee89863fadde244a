"""A burst of label commands on ONE PR while the write budget is spent: what it costs with runs
(``queue.run_limit``, default 16) and with every event on its own (``run_limit: 1``), measured in
the same invocation, on both forges.

Runs the real app (intake, queue, worker, dispatcher, plugins, layered forge client) against the
fake forges through the real SDKs.  The budget is scaled down so the figures come in seconds, not
minutes: prowlet may write 10 times in any 5 s and the fake refuses an 11th (each refusal counted
and printed).  A busy repository: 20 ``/hold`` on other PRs spend the budget, more keep coming (2 a
second) while ``--commands`` label commands (/hold, /kind, /area and their undoing) arrive on one PR,
20 a second.  Printed: that PR's label writes, every write, and the time until everything was
handled and made (the queue drained).  Printed, never asserted.

    .venv/bin/python bench/busy_pull.py                  # 60 commands on the PR
    .venv/bin/python bench/busy_pull.py --commands 200 --forge github
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.app import QUEUE_KEY, build_app  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from plugins import REGISTRY  # noqa: E402
from tests.conftest import COLLAB, REPO, enabled, make_fake, seed  # noqa: E402

BUDGET = "10/5s"
FAKE_LIMIT = (11, 5.0)  # the forge refuses the 12th write in 5 s: a budget kept leaves a margin
OTHERS_FIRST = 20  # /hold on other PRs before the burst: two windows' worth
OTHERS_RATE = 2.0  # /hold a second on other PRs during the burst (the budget allows 2)
PULL_RATE = 20.0  # the PR's commands a second
COMMANDS = ["/hold", "/kind bug", "/area api", "/hold cancel", "/remove-kind bug", "/remove-area api"]


def _writes_to(fake: object, first: int, number: int) -> tuple[int, int]:
    """(label writes to PR ``number``, all writes) since request ``first``."""
    writes = [r for r in fake.requests[first:] if r.method != "GET"]  # type: ignore[attr-defined]
    mine = [r for r in writes if re.search(rf"/(issues|merge_requests)/{number}(/labels.*)?$", r.path)]
    return len(mine), len(writes)


async def _busy_pull(forge: str, commands: int, run_limit: int) -> None:
    with make_fake(forge) as fake, tempfile.TemporaryDirectory() as tmp:
        seed(fake)
        limit = fake.limit_writes(*FAKE_LIMIT)
        config = parse_config({"intake": {"repair_interval": "0"}, "queue": {"run_limit": run_limit},
                               forge: {"write_limits": [BUDGET]}}, REGISTRY)
        app = build_app(config, {fake.name: enabled(fake)}, Path(tmp) / "data")
        async with TestClient(TestServer(app)) as client:
            others = [fake.open_pull(REPO, author="ann")[0] for _ in range(OTHERS_FIRST + 100)]
            number = fake.open_pull(REPO, author="ann")[0]

            async def send(to: int, body: str) -> None:
                delivery = fake.comment(REPO, to, COLLAB, body)
                resp = await client.post(delivery.path, data=delivery.body, headers=delivery.headers)
                await resp.read()

            first = len(fake.requests)
            begin = time.monotonic()
            await asyncio.gather(*(send(n, "/hold") for n in others[:OTHERS_FIRST]))

            async def keep_busy() -> None:
                for n in others[OTHERS_FIRST:]:
                    await send(n, "/hold")
                    await asyncio.sleep(1 / OTHERS_RATE)

            busy = asyncio.create_task(keep_busy())
            for i in range(commands):
                await send(number, COMMANDS[i % len(COMMANDS)])
                await asyncio.sleep(1 / PULL_RATE)
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
            await app[QUEUE_KEY].join(900)
            took = time.monotonic() - begin
            mine, every = _writes_to(fake, first, number)
            print(f"{forge}: run_limit {run_limit:>2}: {commands} label commands on one PR cost it {mine} label "
                  f"writes ({every} writes in all); drained in {took:.1f} s; labels "
                  f"{sorted(fake.labels(REPO, number))}; limit errors {limit.refused}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=60, help="label commands on the one PR")
    parser.add_argument("--forge", choices=["github", "gitlab", "both"], default="both")
    args = parser.parse_args()
    configure_logging(fmt="console", level="warning")
    for forge in ("github", "gitlab") if args.forge == "both" else (args.forge,):
        for run_limit in (16, 1):
            asyncio.run(_busy_pull(forge, args.commands, run_limit))


if __name__ == "__main__":
    main()
