"""The delivery log: remembered for the window, forgotten after, bounded in size."""

from __future__ import annotations

import gc

from bot.dedup import DeliveryLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remembered_within_the_window_and_forgotten_after() -> None:
    clock = Clock()
    log = DeliveryLog(ttl=60, clock=clock)
    assert not log.seen("a")
    log.record("a")
    clock.now += 59
    assert log.seen("a")
    clock.now += 2
    assert not log.seen("a")
    log.record("b")  # recording evicts what has expired
    assert len(log) == 1


def test_bounded_size_drops_the_oldest() -> None:
    log = DeliveryLog(ttl=60, maxsize=3, clock=Clock())
    for key in "abcd":
        log.record(key)
    assert len(log) == 3
    assert not log.seen("a") and log.seen("d")


def test_invisible_to_the_garbage_collector() -> None:
    log = DeliveryLog()
    for i in range(1000):
        log.record(f"github:{i}")
    assert not gc.is_tracked(log._expiry)
