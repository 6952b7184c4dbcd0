"""One request budget per process: a rolling window that mirrors Halo's rate limit.

Every request (the token request included) takes a slot with :meth:`RequestBudget.acquire`
before it is sent, and reports how long the request took with :meth:`RequestBudget.observed`.
A slot is held for one window *plus the slowest recent request*: Halo counts a request when it
arrives, which can be up to one request's latency after we sent it, so a window measured from
the send alone opens a little before Halo's does and earns a 429 at every window boundary.
When Halo still answers 429 (its window is smaller than we believe, or
another application shares it) :meth:`RequestBudget.back_off` pauses *every* caller, with a
wait that doubles per consecutive 429 up to one full window, unless Halo said Retry-After.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RequestBudget:
    """Thread-safe rolling-window limiter: at most ``requests`` per ``per_seconds``."""

    def __init__(
        self,
        requests: int,
        per_seconds: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if requests < 1 or per_seconds <= 0:
            raise ValueError("a request budget needs requests >= 1 and per_seconds > 0")
        self.requests = requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._consecutive_429 = 0
        self._latencies: deque[float] = deque(maxlen=64)
        self._margin = 0.0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def __repr__(self) -> str:
        return f"RequestBudget({self.requests}/{self.per_seconds:g}s)"

    def _wait_needed(self, now: float) -> float:
        hold = self.per_seconds + self._margin
        while self._sent and self._sent[0] <= now - hold:
            self._sent.popleft()
        wait = self._paused_until - now
        if len(self._sent) >= self.requests:
            wait = max(wait, self._sent[0] + hold - now)
        return max(wait, 0.0)

    def observed(self, seconds: float) -> None:
        """Record one request's latency; slots are held that much longer than a window."""
        with self._lock:
            self._latencies.append(max(0.0, seconds))
            self._margin = min(max(self._latencies), self.per_seconds / 10)

    def acquire(self) -> float:
        """Block until a slot is free, take it, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.waited_seconds += waited
                    return waited
            self._sleep(wait)
            waited += wait

    def back_off(self, retry_after: float | None = None) -> float:
        """Pause all callers after a 429; return the pause length in seconds."""
        with self._lock:
            self._consecutive_429 += 1
            if retry_after is not None and retry_after >= 0:
                pause = retry_after
            else:
                base = self.per_seconds / 60.0
                pause = min(self.per_seconds, base * 2 ** (self._consecutive_429 - 1))
                pause *= self._rng.uniform(0.8, 1.2)
            self._paused_until = max(self._paused_until, self._clock() + pause)
            return pause

    def succeeded(self) -> None:
        """A request got through: reset the 429 back-off."""
        with self._lock:
            self._consecutive_429 = 0

    def in_window(self) -> int:
        """Requests sent in the current window (for metrics and tests)."""
        with self._lock:
            self._wait_needed(self._clock())
            return len(self._sent)
