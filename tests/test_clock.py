"""The suite's one fake clock (tests/clock.py): readings, sleeps and time passing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from clock import WALL_START, FakeClock


def test_monotonic_and_wall_clock_move_together() -> None:
    """Both readings come from one fake time: advancing moves them by the same amount."""
    clock = FakeClock(1000.0)
    assert clock() == clock.monotonic() == 1000.0
    assert clock.now() == WALL_START and clock.now().tzinfo is UTC
    clock.advance(2.5)
    clock.advance(minutes=1)
    clock.advance(1, hours=1)
    assert clock() == 1000.0 + 2.5 + 60 + 1 + 3600
    assert clock.now() - WALL_START == timedelta(seconds=clock() - 1000.0)
    clock.advance_to(5000.0)
    assert clock() == 5000.0 and "seconds=5000" in repr(clock)


def test_sleep_returns_at_once_records_and_advances() -> None:
    """sleep() is instant in real time, records what was asked and moves time on."""
    clock = FakeClock()
    for seconds in (0.5, 0.0, 2.0, -1.0):
        clock.sleep(seconds)
    assert clock.sleeps == [0.5, 0.0, 2.0, -1.0]
    assert clock() == clock.slept == 2.5


def test_time_never_goes_backwards_and_the_wall_clock_is_aware() -> None:
    """A negative advance, an earlier advance_to or a naive wall clock are errors."""
    clock = FakeClock(10.0, wall=datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(seconds=1, minutes=-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_to(9.0)
    assert clock() == 10.0 and clock.now() == datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(wall=datetime(2030, 1, 1))


def test_sleeps_from_many_threads_all_count() -> None:
    """Code under test may sleep from worker threads: no sleep is lost."""
    clock = FakeClock()

    def worker() -> None:
        for _ in range(500):
            clock.sleep(0.25)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(clock.sleeps) == 2000 and clock() == 500.0
