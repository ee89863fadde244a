"""Forge API requests one merge pass costs for N open PRs/MRs, on both forges.

Runs the real MergeController through the real PyGithub / python-gitlab clients against the fake
forges from the test suite and counts the requests they receive: counted ones (what a rate limit
counts: all but the 304s), 304s (a conditional read that found no change: free on GitHub; GitLab
answers them without a body but still counts them), and writes.  A quarter of the N PRs carry the
required labels, each with a failing check, so none merges and the pool stays the same.  Passes:

- first:  nothing cached; it writes at most ``merge.status_writes_per_pass`` merge statuses and no
          more than the default write budget (80/1m, 500/1h, on a simulated clock) spares with half
          of it kept for commands, the most relevant PRs first, and leaves the rest to the passes
          after it ("drain": how many passes until every PR has its status, and how long that
          takes at ``sync_interval``; a write that had to wait for the budget would be shown);
- warm:   the next pass, nothing changed;
- 10 relabelled / 10 pushed: the pass after 10 PRs, spread over the list and a quarter of them
          label-ready like the rest, got a label / a new commit (no webhook: the pass finds them);
- 10 ready pushed: the same with 10 label-ready PRs (each new head's statuses must be read).

    .venv/bin/python bench/merge_calls.py            # N = 10, 100, 1000
    .venv/bin/python bench/merge_calls.py --n 200
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import compose_forge  # noqa: E402
from bot.ci.services import CIServices  # noqa: E402
from bot.config import ForgeTuning, MergeSettings  # noqa: E402
from bot.forge.budget import LocalWriteBudget  # noqa: E402
from bot.events import ItemKind  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from bot.merge.controller import MergeController  # noqa: E402
from tests.clock import Clock  # noqa: E402
from tests.conftest import LABELS, REPO, make_client  # noqa: E402
from tests.fakes.base import RecordedRequest, failing_check  # noqa: E402
from tests.fakes.github import FakeGitHub  # noqa: E402
from tests.fakes.gitlab import FakeGitLab  # noqa: E402


@dataclass
class Cost:
    counted: int
    not_modified: int
    writes: int
    kinds: Counter[str]

    @classmethod
    def of(cls, requests: list[RecordedRequest]) -> Cost:
        return cls(
            counted=sum(1 for r in requests if r.counted),
            not_modified=sum(1 for r in requests if r.status == 304),
            writes=sum(1 for r in requests if r.method != "GET" and r.path != "/api/graphql"),  # queries: reads
            kinds=Counter(f"{r.method} {_shape(r.path)}{' (304)' if r.status == 304 else ''}" for r in requests),
        )

    def cell(self) -> str:
        return f"{self.counted:>4} / {self.not_modified:>4} / {self.writes:>4}"


def _shape(path: str) -> str:
    return "/".join("N" if p.isdigit() or len(p) == 40 else p for p in path.split("/"))


def seed(fake: Any, n: int) -> list[int]:
    fake.add_repo(REPO, labels=LABELS)
    numbers = []
    for i in range(n):
        number, _ = fake.open_pull(REPO, author=f"dev{i % 7}")
        numbers.append(number)
        if i % 4 == 0:  # ready by labels; a failing check keeps it out of the pool
            fake.set_labels(REPO, number, ["lgtm", "approved"], **_pull(fake))
            failing_check(fake, REPO, number)
    return numbers




def _has_merge_status(fake: Any, number: int) -> bool:
    return any(context == "merge" for context, *_ in fake.statuses(REPO, fake.head_sha(REPO, number)))


def _pull(fake: Any) -> dict[str, Any]:
    return {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}


def spread(numbers: list[int], count: int, offset: int = 0) -> list[int]:
    """``count`` PRs spread over the list (so over every page); every 4th PR is label-ready, and
    with an ``offset`` a step apart the picks are a mix."""
    step = max(1, len(numbers) // count)
    offset = offset if step > 1 else 0
    return [numbers[(i * step + i * offset) % len(numbers)] for i in range(min(count, len(numbers)))]


async def measure(fake: Any, numbers: list[int], settings: MergeSettings) -> dict[str, Any]:
    # The default write budget (80/1m, 500/1h) on bench time: a pass every sync_interval without waiting.
    clock = Clock()
    budget = LocalWriteBudget(fake.name, ForgeTuning().windows(), clock=clock, sleep=clock.sleep)
    forge = compose_forge(make_client(fake), gate=budget)
    merger = MergeController(settings, {forge.name: forge}, CIServices())

    async def one_pass() -> Cost:
        before = len(fake.requests)
        await merger.sync(forge.name, REPO)
        clock.now += settings.sync_interval
        return Cost.of(fake.requests[before:])

    result: dict[str, Any] = {"first": await one_pass()}
    drain = 1
    while not all(_has_merge_status(fake, n) for n in numbers):
        await one_pass()
        drain += 1
    result["drain"] = drain
    result["waited"] = budget.delayed  # writes that queued behind the budget: none, by design
    clock.now += 3600  # the passes below come once the budget's hour has passed
    await one_pass()  # sees the last statuses written (GitLab's list pages change with them)
    result["warm"] = await one_pass()
    mixed = spread(numbers, 10, offset=1)  # like the rest: about a quarter of them label-ready
    for number in mixed:
        fake.set_labels(REPO, number, fake.labels(REPO, number, **_pull(fake)) | {"kind/bug"}, **_pull(fake))
    result["relabelled"] = await one_pass()
    push(fake, mixed)
    result["pushed"] = await one_pass()
    push(fake, spread(numbers, 10))  # every one label-ready: the worst case for status reads
    result["ready pushed"] = await one_pass()
    forge.close()
    return result


def push(fake: Any, numbers: list[int]) -> None:
    """New commits on each (no webhook: the pass finds them).  Sticky lgtm: the labels stay."""
    for number in numbers:
        fake.push(REPO, number, "dev1")
        if {"lgtm", "approved"} <= fake.labels(REPO, number, **_pull(fake)):
            failing_check(fake, REPO, number)  # CI fails on the new head too: the pool stays the same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--detail", action="store_true", help="list the warm and changed passes' requests by kind")
    args = parser.parse_args()
    configure_logging(fmt="console", level="warning")  # the pass logs one line each; we count calls
    settings = MergeSettings()
    print("each cell: counted / 304 / writes (counted: all but the 304s, writes included; GitHub's GraphQL")
    print("queries are counted reads; GitLab counts its 304s too, so on GitLab add the two)")
    print(f"{'forge':8} {'open':>5}  {'first pass':>18}  {'drain':>16}  {'warm pass':>18}  "
          f"{'10 relabelled':>18}  {'10 pushed':>18}  {'10 ready pushed':>18}")
    for make in (FakeGitHub, FakeGitLab):
        for n in args.n:
            with make() as fake:
                numbers = seed(fake, n)
                r = asyncio.run(measure(fake, numbers, settings))
            minutes = math.ceil((r["drain"] - 1) * settings.sync_interval / 60)
            drain = f"{r['drain']} passes {minutes // 60}h{minutes % 60:02d}m" + (f" ({r['waited']} waited)" if r["waited"] else "")
            print(f"{fake.name:8} {n:>5}  {r['first'].cell():>18}  {drain:>16}  {r['warm'].cell():>18}  "
                  f"{r['relabelled'].cell():>18}  {r['pushed'].cell():>18}  {r['ready pushed'].cell():>18}")
            if args.detail:
                for name in ("warm", "relabelled", "pushed", "ready pushed"):
                    detail = ", ".join(f"{count}x {kind}" for kind, count in r[name].kinds.most_common())
                    print(f"    {name}: {detail}")


if __name__ == "__main__":
    main()
