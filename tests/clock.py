"""The one fake clock of the test suite.

Code under test takes its clocks as arguments (``clock=``, ``sleep=``, ``monotonic=``); tests
pass one :class:`FakeClock`, which gives every reading from the same fake time:

* ``clock()`` or ``clock.monotonic()`` -- monotonic seconds (``time.monotonic`` stand-in);
* ``clock.now()`` -- the wall clock, an aware UTC ``datetime`` (``datetime.now(UTC)``);
* ``clock.sleep(seconds)`` -- records the sleep and moves time on by it, returning at once;
* ``clock.advance(...)`` / ``clock.advance_to(...)`` -- time passing outside the code.

Time only moves when a test says so (or the code sleeps), so no test depends on the speed of
the machine. It never goes backwards: monotonic means monotonic.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

WALL_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""The default wall-clock reading at ``start`` (a Monday morning, UTC)."""


class FakeClock:
    """Monotonic seconds, a wall clock and ``sleep``, all from one fake time (thread-safe)."""

    def __init__(self, start: float = 0.0, *, wall: datetime = WALL_START) -> None:
        if wall.tzinfo is None:
            raise ValueError("the wall clock must be timezone-aware")
        self.start = float(start)
        self.seconds = float(start)
        self.wall_start = wall
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.monotonic()

    def __repr__(self) -> str:
        return f"FakeClock(seconds={self.seconds:g}, now={self.now().isoformat()})"

    def monotonic(self) -> float:
        """Seconds on the monotonic clock."""
        with self.lock:
            return self.seconds

    def now(self) -> datetime:
        """The wall clock: ``wall`` plus the seconds elapsed since ``start``."""
        with self.lock:
            return self.wall_start + timedelta(seconds=self.seconds - self.start)

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` in :attr:`sleeps` and move time on by it (a negative or zero
        sleep is recorded and returns at once, as ``time.sleep(0)`` does)."""
        with self.lock:
            self.sleeps.append(seconds)
            self.seconds += max(0.0, seconds)

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Let time pass: ``advance(5)``, ``advance(minutes=2)``, ``advance(1, hours=1)``."""
        step = seconds + timedelta(**delta).total_seconds()
        if step < 0:
            raise ValueError(f"time does not go backwards (advance by {step:g}s)")
        with self.lock:
            self.seconds += step

    def advance_to(self, seconds: float) -> None:
        """Let time pass until the monotonic clock reads ``seconds``."""
        with self.lock:
            if seconds < self.seconds:
                raise ValueError(f"time does not go backwards ({self.seconds:g}s -> {seconds:g}s)")
            self.seconds = float(seconds)

    @property
    def slept(self) -> float:
        """All the time spent in :meth:`sleep`."""
        with self.lock:
            return sum(max(0.0, s) for s in self.sleeps)
