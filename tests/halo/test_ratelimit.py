"""The request budget: a rolling window that mirrors Halo's rate limit, and its back-off."""

from __future__ import annotations

import random

import pytest
from clock import FakeClock

from halo_automate.halo.ratelimit import RequestBudget


def test_budget_rolling_window() -> None:
    """The window admits N requests, then waits exactly until the oldest leaves it."""
    clock = FakeClock()
    budget = RequestBudget(3, 10, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert budget.acquire() == 0
    clock.advance(4)
    assert budget.acquire() == 6
    assert clock.sleeps == [6] and clock() == 10
    assert budget.in_window() == 1  # the first three left the window at t=10
    assert "3/10s" in repr(budget)


def test_budget_back_off_doubles_and_resets() -> None:
    """Consecutive 429s double the pause up to one window; success resets it."""
    clock = FakeClock()
    budget = RequestBudget(300, 300, clock=clock, sleep=clock.sleep, rng=random.Random(1))
    pauses = [budget.back_off() for _ in range(8)]
    assert 4 <= pauses[0] <= 6 and 8 <= pauses[1] <= 12
    assert max(pauses) <= 300 * 1.2
    budget.succeeded()
    assert budget.back_off() <= 6
    assert budget.back_off(retry_after=2.5) == 2.5


def test_budget_rejects_nonsense() -> None:
    """A zero budget is a programming error."""
    with pytest.raises(ValueError, match="requests >= 1"):
        RequestBudget(0, 1)


def test_budget_holds_slots_for_the_slowest_request() -> None:
    """After a slow request, slots are held a window plus that latency (Halo counts arrivals)."""
    clock = FakeClock()
    budget = RequestBudget(2, 10, clock=clock, sleep=clock.sleep)
    budget.acquire()
    budget.observed(0.5)
    budget.acquire()
    assert budget.acquire() == 10.5
    budget.observed(50)  # capped at a tenth of the window
    clock.advance_to(100)
    for _ in range(2):
        budget.acquire()
    assert budget.acquire() == 11
