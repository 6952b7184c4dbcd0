"""The sandbox's rolling-window limiter counts accepted requests in a sliding window."""

from __future__ import annotations

import pytest
from clock import FakeClock

from halo_automate.sandbox.ratelimit import RollingWindow, retry_after_seconds


def test_limit_then_slot_frees_as_window_rolls() -> None:
    """N requests pass, the next waits exactly until the oldest leaves the window."""
    clock = FakeClock(1000.0)
    limiter = RollingWindow(3, 10.0, clock)
    for step in range(3):
        clock.advance_to(1000.0 + step)
        assert limiter.acquire() is None
    clock.advance_to(1005.0)
    assert limiter.acquire() == pytest.approx(5.0)
    clock.advance_to(1010.0)
    assert limiter.acquire() is None  # the request at 1000 has left the window
    assert limiter.acquire() == pytest.approx(1.0)


def test_refused_requests_do_not_use_slots() -> None:
    """Hammering while limited does not push the reopening time back."""
    clock = FakeClock(1000.0)
    limiter = RollingWindow(1, 5.0, clock)
    assert limiter.acquire() is None
    for _ in range(10):
        assert limiter.acquire() is not None
    clock.advance(5.0)
    assert limiter.acquire() is None


def test_zero_limit_is_off_and_configure_changes_it() -> None:
    """limit 0 never refuses (and records nothing); configure() changes limit and window."""
    clock = FakeClock(1000.0)
    limiter = RollingWindow(0, 300.0, clock)
    assert all(limiter.acquire() is None for _ in range(1000))
    limiter.configure(limit=1, window=60.0)
    assert limiter.acquire() is None
    assert limiter.acquire() == pytest.approx(60.0)
    limiter.configure()
    assert (limiter.limit, limiter.window) == (1, 60.0)


@pytest.mark.parametrize(
    ("limit", "window", "text"),
    [
        (300, 300.0, "Rate Limit Reached - 300 Requests per rolling 5 minute window"),
        (500, 180.0, "Rate Limit Reached - 500 Requests per rolling 3 minute window"),
        (10, 90.0, "Rate Limit Reached - 10 Requests per rolling 90 second window"),
        (10, 0.5, "Rate Limit Reached - 10 Requests per rolling 0.5 second window"),
    ],
)
def test_message_names_the_limit(limit: int, window: float, text: str) -> None:
    """The 429 text is Halo's, with the configured numbers."""
    assert RollingWindow(limit, window).message() == text


@pytest.mark.parametrize(("wait", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (4.1, "5")])
def test_retry_after_rounds_up_to_whole_seconds(wait: float, header: str) -> None:
    """Retry-After is a whole number of seconds, at least 1."""
    assert retry_after_seconds(wait) == header
