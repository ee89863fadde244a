"""Kill -9 in the middle of a burst: every delivery answered 2xx takes effect after a restart, and no
reply is posted twice.  A real `prowlet serve` process, a real SIGKILL, on both forges and stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AUTHOR, COLLAB, REPO, make_fake, seed
from tests.fakes.base import FakeForge
from tests.served import Served, forge_env, post, wait_for

PULLS = 60
HOLD = "do-not-merge/hold"


@pytest.fixture(params=["github", "gitlab"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    with make_fake(request.param) as f:
        seed(f)
        yield f


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    server = request.getfixturevalue("redis_server")
    return {"PROWLET_REDIS_URL": server.url, "PROWLET_REDIS_PREFIX": request.getfixturevalue("redis_prefix")}


def bot_replies(fake: FakeForge, number: int) -> list[str]:
    return [body for author, body in fake.comments(REPO, number) if author == fake.bot_login]


def test_sigkill_mid_burst_loses_no_acknowledged_delivery(fake: FakeForge, store_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    env = {**forge_env(fake), **store_env}
    # On Redis the killed process's claims are taken over when their lease runs out (3 s here).
    config = tmp_path / "config.yaml"
    config.write_text("queue:\n  lease: 3\n")
    numbers = [fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(PULLS)]
    # /hold labels (an effect to check); the unknown assignee gets a reply (a post that must not double).
    deliveries = {n: fake.comment(REPO, n, COLLAB, "/hold\n/label no-such-label") for n in numbers}
    first = Served(env, tmp_path, name="first", args=("--config", str(config)))
    acked: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def send(number: int) -> None:
        status = post(first.base, deliveries[number], timeout=10)
        with lock:
            if 200 <= status < 300:
                acked.add(number)
            if len(acked) >= PULLS // 2 and not killed.is_set():
                killed.set()
                first.kill()  # mid-burst: some in flight, some stored but unhandled, some never sent

    early, rest = numbers[:10], numbers[10:]
    for number in early:
        send(number)
    # Some handled already, so the kill lands between handled, half-handled and waiting events.
    wait_for(lambda: sum(HOLD in fake.labels(REPO, n) for n in early) >= 3, "the first events to be handled")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, rest))
    assert killed.is_set(), "the burst ended before the kill"
    handled_before = {n for n in acked if HOLD in fake.labels(REPO, n)}

    second = Served(env, tmp_path, name="second", args=("--config", str(config)))
    try:
        wait_for(lambda: all(HOLD in fake.labels(REPO, n) for n in acked), "every acknowledged /hold", seconds=60)
        wait_for(lambda: all(len(bot_replies(fake, n)) >= 1 for n in acked), "every acknowledged reply", seconds=60)
    finally:
        assert second.stop() == 0
    doubled = {n: len(bot_replies(fake, n)) for n in numbers if len(bot_replies(fake, n)) > 1}
    assert doubled == {}, f"replies posted twice: {doubled}"
    log: list[dict[str, Any]] = second.log_lines()
    store_open = next(line for line in log if line.get("event") == "event store open")
    # Something really was left for the second process (else this test would prove nothing).
    assert store_open["pending"] > 0 or len(handled_before) < len(acked)


# Label commands on one PR, each adding a label (so the end state names every one of them).
RUN_COMMANDS = ["/hold", "/kind bug", "/area api", "/sig node", "/triage accepted", "/kind feature"]
RUN_LABELS = {HOLD, "kind/bug", "area/api", "sig/node", "triage/accepted", "kind/feature"}


def test_sigkill_while_a_run_holds_label_changes_loses_none(fake: FakeForge, store_env: dict[str, str],
                                                           tmp_path: Path) -> None:
    """A burst on one PR under a spent budget is handled as a run that holds its label changes in
    memory; killed then, the run's events were never acknowledged, so the next process makes them."""
    env = {**forge_env(fake), **store_env}
    config = tmp_path / "config.yaml"
    # Two writes in any 4 s: the burst's other label changes are held by the run when it is killed.
    config.write_text("queue:\n  lease: 3\n"
                      f"{fake.name}:\n  write_limits: [\"2/4s\"]\n")
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    first = Served(env, tmp_path, name="first", args=("--config", str(config)))
    for body in RUN_COMMANDS:
        assert 200 <= post(first.base, fake.comment(REPO, number, COLLAB, body), timeout=10) < 300
    wait_for(lambda: len(fake.labels(REPO, number) & RUN_LABELS) >= 1, "the first label change")
    first.kill()
    made_before = fake.labels(REPO, number) & RUN_LABELS
    assert made_before != RUN_LABELS  # the budget let two writes out at most: the rest was held or queued

    second = Served(env, tmp_path, name="second", args=("--config", str(config)))
    try:
        wait_for(lambda: RUN_LABELS <= fake.labels(REPO, number), "every label of the burst", seconds=60)
    finally:
        assert second.stop() == 0
