"""How many requests one client has on the wire at once: at most its width, whoever sends them.

Reads fan out (pages, id chunks, lookup lists: :func:`~halo_automate.halo.paging.bounded_map`),
the write batches of a phase overlap (``engine.pipeline``), and a run overlaps reads that do
not depend on each other (its first page with its lookups, the instance facts with the stale
check). Each bounds its own fan-out; :class:`InFlight` bounds their sum, so one client never has
more than ``max(halo.concurrency, halo.write_concurrency)`` requests in flight, however the
fan-outs meet (the time floor's assumption, ``bench/floor.py``).

A slot is taken after the request's wait for the rate limit and held until its body was read:
never across a back-off, a rate-limit wait or another request, so slots cannot deadlock.
"""

from __future__ import annotations

import threading
from types import TracebackType


class InFlight:
    """At most ``width`` requests on the wire at once (``with in_flight:`` around each)."""

    def __init__(self, width: int) -> None:
        self.width = max(1, width)
        self._slots = threading.BoundedSemaphore(self.width)
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        """The most requests that were on the wire at once (tests, benchmarks)."""

    def __enter__(self) -> None:
        self._slots.acquire()
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self.now -= 1
        self._slots.release()
