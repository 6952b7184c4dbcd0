"""A gate for tests: requests it catches wait until the test lets them through.

End-to-end tests of interruption need "a write is in flight right now" as a fact, not as a
guess from timing (a long latency and a poll). ``hold = sandbox.hold_writes()`` makes every
write wait at the gate *before* it is applied; the test waits for :meth:`Hold.wait_until_caught`,
does what it tests (a SIGTERM, a kill), then :meth:`Hold.release` lets one, some or all writes
go on -- applied for real, even if their client is gone by then.
"""

from __future__ import annotations

import threading

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Hold:
    """Catches ``/api`` writes (or every ``/api`` request) until released; thread-safe."""

    def __init__(self, *, writes_only: bool = True) -> None:
        self.writes_only = writes_only
        self._cond = threading.Condition()
        self._passes = 0  # caught requests allowed through so far
        self._open = False
        self._caught = 0

    def catches(self, method: str, path: list[str]) -> bool:
        """Whether a request (``path`` lower-cased and split) waits at this gate."""
        if path[:1] != ["api"]:
            return False
        return method in WRITE_METHODS or not self.writes_only

    def wait(self) -> None:
        """Called by the sandbox for a caught request: block until it may go on."""
        with self._cond:
            self._caught += 1
            number = self._caught
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._open or number <= self._passes)

    @property
    def caught(self) -> int:
        """Requests that reached the gate so far (held or let through)."""
        with self._cond:
            return self._caught

    def wait_until_caught(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests have reached the gate; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._caught >= count, timeout)

    def release(self, count: int | None = None) -> None:
        """Let ``count`` more caught requests through, in arrival order; None opens the gate
        for good (every request held now or later goes on)."""
        with self._cond:
            if count is None:
                self._open = True
            else:
                self._passes += count
            self._cond.notify_all()
