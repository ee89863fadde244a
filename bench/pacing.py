"""Command latency under write pacing, and how long a burst takes to drain, on both forges.

Runs the real app (intake, queue, dispatcher, plugins, layered forge client with the default write
budget) against the fake forges from the test suite, through the real SDKs; the fakes enforce
GitHub's secondary write limit (80 writes in any minute: a write over it gets 403 with Retry-After),
and every refusal is counted and printed.  Latency is open-loop:
each `/hold` comment (one write) is scheduled at a fixed rate and timed from its scheduled send
until its event is handled (no coordinated omission).  Printed, never asserted.

    .venv/bin/python bench/pacing.py                 # 60 commands at 100/s (under the 80/1m budget),
                                                     # then a burst of 120 (over it: drains in ~1 min)
    .venv/bin/python bench/pacing.py --burst 0       # latency only

A burst of commands on ONE PR: bench/busy_pull.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.app import DISPATCH_KEY, QUEUE_KEY, build_app  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from plugins import REGISTRY  # noqa: E402
from tests.conftest import COLLAB, REPO, enabled, make_fake, seed  # noqa: E402


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


async def _run(forge: str, count: int, rate: float, burst: int) -> None:
    with make_fake(forge) as fake, tempfile.TemporaryDirectory() as tmp:
        seed(fake)
        limit = fake.limit_writes(80, 60.0)  # GitHub's secondary limit, enforced by the fake
        config = parse_config({"intake": {"repair_interval": "0"}}, REGISTRY)
        app = build_app(config, {fake.name: enabled(fake)}, Path(tmp) / "data")
        handled: dict[str, float] = {}

        async def observe(event: Any) -> None:
            handled[event.delivery_id] = time.monotonic()

        app[DISPATCH_KEY].observers.append(observe)
        async with TestClient(TestServer(app)) as client:
            numbers = [fake.open_pull(REPO, author="ann")[0] for _ in range(max(count, burst))]

            async def send(number: int) -> str:
                delivery = fake.comment(REPO, number, COLLAB, "/hold")
                resp = await client.post(delivery.path, data=delivery.body, headers=delivery.headers)
                await resp.read()
                return delivery.headers.get("X-GitHub-Delivery") or delivery.headers.get("Idempotency-Key") or ""

            async def wait_for(ids: list[str], timeout: float) -> None:
                deadline = time.monotonic() + timeout
                while any(i not in handled for i in ids) and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)

            # Open loop: command i is due at start + i / rate, whatever happened to the others.
            start = time.monotonic()
            scheduled: dict[str, float] = {}
            tasks = []
            for i, number in enumerate(numbers[:count]):
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append((due, asyncio.create_task(send(number))))
            for due, task in tasks:
                scheduled[await task] = due
            await wait_for(list(scheduled), 120)
            latencies = [(handled[d] - due) * 1000 for d, due in scheduled.items() if d in handled]
            meter = app[DISPATCH_KEY].forges[forge].transport.meter
            print(f"{forge}: {len(latencies)}/{count} commands at {rate:g}/s: p50 {_percentile(latencies, 50):.1f} ms, "
                  f"p99 {_percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms; "
                  f"requests {meter.counts['requests']} ({meter.counts['not_modified']} were 304); "
                  f"limit errors {limit.refused}")
            if burst:
                begin = time.monotonic()
                await asyncio.gather(*(send(n) for n in numbers[:burst]))
                await app[QUEUE_KEY].join(600)  # handled and acknowledged: every held label change was made
                done = time.monotonic() - begin
                applied = sum("do-not-merge/hold" in fake.labels(REPO, n) for n in numbers[:burst])
                print(f"{forge}: a burst of {burst} commands drained in {done:.1f} s under the default budget; "
                      f"{applied} labelled; limit errors {limit.refused} (both runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="commands in the latency run")
    parser.add_argument("--rate", type=float, default=100.0, help="commands a second")
    parser.add_argument("--burst", type=int, default=120, help="commands in the drain run (0: none)")
    parser.add_argument("--forge", choices=["github", "gitlab", "both"], default="both")
    args = parser.parse_args()
    configure_logging(fmt="console", level="warning")
    for forge in ("github", "gitlab") if args.forge == "both" else (args.forge,):
        asyncio.run(_run(forge, args.count, args.rate, args.burst))


if __name__ == "__main__":
    main()
