"""Replicas: three real `prowlet serve` processes on one real Redis, deliveries spread across them,
one killed with SIGKILL mid-burst.  Every effect happens exactly once, each PR's events keep their
order, a job starts once, and a merge pass whose holder died is taken over."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.events import ItemKind
from bot.store import open_stores
from tests.conftest import AUTHOR, COLLAB, REPO, make_fake, seed
from tests.fakes.base import Delivery, FakeForge
from tests.served import Served, forge_env, post, wait_for

HOLD = "do-not-merge/hold"
PULLS = 12
ROUNDS = 6  # /hold, /hold cancel, ... per PR: the last one decides


@pytest.fixture(params=["github", "gitlab"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    with make_fake(request.param) as f:
        seed(f)
        yield f


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("queue:\n  lease: 3\n" + extra)
    return path


def start_replicas(fake: FakeForge, redis_url: str, prefix: str, tmp_path: Path, config: Path, n: int = 3) -> list[Served]:
    env = {**forge_env(fake), "PROWLET_REDIS_URL": redis_url, "PROWLET_REDIS_PREFIX": prefix}
    replicas = []
    for i in range(n):
        data = tmp_path / f"replica-{i}"
        data.mkdir()
        replicas.append(Served(env, tmp_path, data_dir=data, name=f"replica-{i}", args=("--config", str(config))))
    return replicas


def pending(redis_url: str, prefix: str) -> int:
    """Events stored and not yet acknowledged, as `prowlet queue` would say."""
    async def count() -> int:
        stores = open_stores(Path("/nonexistent"), redis_url, redis_prefix=prefix)
        try:
            return (await stores.events.stats(0)).pending
        finally:
            await stores.close()

    return asyncio.run(count())


def bot_replies(fake: FakeForge, number: int) -> list[str]:
    return [body for author, body in fake.comments(REPO, number) if author == fake.bot_login]


def test_effects_once_and_in_order_when_a_replica_dies_mid_burst(fake: FakeForge, redis_server: Any,
                                                                 redis_prefix: str, tmp_path: Path) -> None:
    replicas = start_replicas(fake, redis_server.url, redis_prefix, tmp_path, config_file(tmp_path))
    alive = list(replicas)
    lock = threading.Lock()
    sent = [0]
    numbers = [fake.open_pull(REPO, author=AUTHOR)[0] for _ in range(PULLS)]
    # Per PR, in this order: a command that replies (it must not double), then /hold and /hold cancel
    # alternating; PRs with an even index end held.
    bodies = ["/label no-such-label"] + [("/hold" if r % 2 == 0 else "/hold cancel") for r in range(ROUNDS)]

    def deliver(delivery: Delivery, start: int) -> None:
        """As the proxy does: to the next replica, and on no answer to another (same delivery id)."""
        for i in range(start, start + 2 * len(replicas)):
            with lock:
                target = alive[i % len(alive)]
            if 200 <= post(target.base, delivery, timeout=10) < 300:
                return
        raise AssertionError("no replica took the delivery")

    def one_pull(index: int) -> None:
        number = numbers[index]
        count = ROUNDS if index % 2 else ROUNDS - 1  # odd PRs get one /hold cancel less
        for k, body in enumerate(bodies[: count + 1]):
            deliver(fake.comment(REPO, number, COLLAB, body), index + k)  # spread across replicas
            with lock:
                sent[0] += 1
                if sent[0] == PULLS * 3 and len(alive) == 3:
                    victim = alive.pop(1)
                    victim.kill()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one_pull, range(PULLS)))
    assert len(alive) == 2, "the kill did not happen mid-burst"
    try:
        # Done means the shared queue is empty: every stored event handled and acknowledged (after
        # a write, since a handler acknowledges only once its forge calls returned).
        wait_for(lambda: pending(redis_server.url, redis_prefix) == 0, "the shared queue to drain", seconds=90)
        expected = {n: (i % 2 == 0) for i, n in enumerate(numbers)}
        assert {n: (HOLD in fake.labels(REPO, n)) for n in numbers} == expected
        assert {n: len(bot_replies(fake, n)) for n in numbers} == {n: 1 for n in numbers}
    finally:
        for served in alive:
            assert served.stop() == 0
    handled_by = {line.get("delivery") for s in replicas for line in s.log_lines() if line.get("event") == "command"}
    assert len(handled_by) >= PULLS  # the commands really ran in the replicas (and were logged)


def test_a_job_starts_once_whichever_replicas_get_the_delivery(fake: FakeForge, redis_server: Any,
                                                               redis_prefix: str, tmp_path: Path) -> None:
    config = config_file(tmp_path, "jobs:\n  - name: unit\n    run: 'true'\n    clone: false\n    always_run: false\n")
    replicas = start_replicas(fake, redis_server.url, redis_prefix, tmp_path, config, n=2)
    try:
        number, _ = fake.open_pull(REPO, author=COLLAB)
        delivery = fake.comment(REPO, number, COLLAB, "/test unit")
        with ThreadPoolExecutor(4) as pool:  # the forge's retry and a proxy's retry race each other
            statuses = list(pool.map(lambda s: post(s.base, delivery), replicas * 2))
        assert sorted(statuses).count(202) == 1 and all(s in (200, 202) for s in statuses)
        sha = fake.head_sha(REPO, number)

        def unit_states() -> list[str]:
            return [state for context, state, _, _ in fake.statuses(REPO, sha) if context == "unit"]

        wait_for(lambda: unit_states()[-1:] == ["success"], "the job to finish")
        time.sleep(1)
        assert unit_states() == ["pending", "success"]
    finally:
        for served in replicas:
            served.stop()


async def test_a_merge_pass_whose_holder_died_is_taken_over(fake: FakeForge, redis_server: Any,
                                                            redis_prefix: str, tmp_path: Path) -> None:
    interval = 6
    config = config_file(tmp_path, f"merge:\n  sync_interval: {interval}\n")
    number, _ = fake.open_pull(REPO, author=AUTHOR)
    # The replica that died was in the middle of a pass: it holds the repository's lease, and the
    # repository is in scope.
    stores = open_stores(tmp_path / "unused", redis_server.url, redis_prefix=redis_prefix)
    try:
        await stores.state.put("merge.repos", f"{fake.name}|{REPO}", True)
        assert await stores.state.acquire(f"merge|{fake.name}|{REPO}", "dead-replica", interval / 2) is not None
    finally:
        await stores.close()
    replicas = start_replicas(fake, redis_server.url, redis_prefix, tmp_path, config, n=2)
    try:
        kind = {"kind": ItemKind.PULL} if fake.name == "gitlab" else {}
        fake.set_labels(REPO, number, ["lgtm", "approved"], **kind)  # ready, and no webhook says so
        # A survivor's pass comes within one interval of the lease running out; the merge itself may
        # take one more pass when the forge is still computing mergeability (GitLab "checking").
        wait_for(lambda: fake.state(REPO, number) == "merged", "a surviving replica to merge", seconds=interval * 3)
    finally:
        for served in replicas:
            served.stop()
    assert len(fake.merges(REPO)) == 1  # merged once, by one replica
