"""A rolling-window request limiter, like hosted Halo's "N requests per rolling 5 minutes"."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from time import monotonic


class RollingWindow:
    """At most ``limit`` accepted requests in any ``window`` seconds; ``limit`` 0 is off.

    Refused requests do not use a slot, so a client that backs off gets through as soon as
    the oldest accepted request leaves the window.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def configure(self, limit: int | None = None, window: float | None = None) -> None:
        with self._lock:
            if limit is not None:
                self.limit = limit
            if window is not None:
                self.window = window

    def acquire(self) -> float | None:
        """Take a slot: None if granted, else the seconds until one frees."""
        with self._lock:
            if self.limit <= 0:
                return None
            now = self._clock()
            while self._stamps and self._stamps[0] <= now - self.window:
                self._stamps.popleft()
            if len(self._stamps) < self.limit:
                self._stamps.append(now)
                return None
            return max(self._stamps[-self.limit] + self.window - now, 0.0)

    def message(self) -> str:
        """Halo's 429 text, with this limiter's numbers."""
        return (
            f"Rate Limit Reached - {self.limit} Requests per rolling {_window(self.window)} window"
        )


def retry_after_seconds(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


def _window(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} minute"
    return f"{seconds:g} second"
