"""What runs cost the worker when nothing is held: no-op events a second through the real
``EventWorker`` on a real store, without a run scope and with the webhook worker's
(``bot.forge.deferral.LabelDeferral``), alternating in one invocation.  Printed, never asserted.

    .venv/bin/python bench/worker_runs.py                 # SQLite, 4,000 events, 1 and 40 per PR
    .venv/bin/python bench/worker_runs.py --store memory --events 20000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.forge.deferral import LabelDeferral  # noqa: E402
from bot.store import open_stores  # noqa: E402
from bot.worker import EventWorker  # noqa: E402


async def _drain(kind: str, events: int, per_pull: int, runs: bool) -> float:
    """Events a second: ``events`` stored first (``per_pull`` per order key), then handled."""
    with tempfile.TemporaryDirectory() as tmp:
        stores = open_stores(Path(tmp), kind=kind)
        try:
            for i in range(events):
                await stores.events.submit(f"d{i}", f"pull-{i // per_pull}", b"{}")

            async def handle(event: bytes, attempt: int) -> None:
                return None

            worker = EventWorker(stores.events, handle, consumer="bench", poll=0.01, decode=bytes,
                                 run_scope=LabelDeferral if runs else None)
            started = time.perf_counter()
            worker.start()
            assert await worker.join(600), "the queue did not drain"
            took = time.perf_counter() - started
            await worker.stop(1)
            return events / took
        finally:
            await stores.close()


async def main(kind: str, events: int, rounds: int) -> None:
    for per_pull in (1, 40):
        plain, scoped = [], []
        for _ in range(rounds):  # alternating, so the machine's noise falls on both
            plain.append(await _drain(kind, events, per_pull, runs=False))
            scoped.append(await _drain(kind, events, per_pull, runs=True))
        best_plain, best_scoped = max(plain), max(scoped)
        print(f"{kind}: {events} no-op events, {per_pull} per PR: {best_plain:,.0f}/s without runs, "
              f"{best_scoped:,.0f}/s with ({best_scoped / best_plain:.0%}); best of {rounds}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.store, args.events, args.rounds))
