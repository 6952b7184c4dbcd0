"""A sandbox request hook for the overlap tests: what arrived, in order, and how many were in
flight together (tests/halo/test_in_flight.py, tests/engine/test_overlapped_reads.py)."""

from __future__ import annotations

import threading
import time
from email.message import Message
from urllib.parse import parse_qs, urlsplit

from halo_automate.sandbox.replies import Reply
from halo_automate.sandbox.server import Handle


class Requests:
    """Every /api request in arrival order (method, lower-cased path, query), when each was
    answered, and the most that were being answered at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.spans: list[tuple[float, float, str, str]] = []  # start, end, method, path
        self.now = self.most = 0

    def __call__(
        self, method: str, target: str, headers: Message, body: bytes, proceed: Handle
    ) -> Reply:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path.lower()
        with self.lock:
            self.seen.append((method, path, query))
            self.now += 1
            self.most = max(self.most, self.now)
        start = time.monotonic()
        try:
            return proceed(method, target, headers, body)
        finally:
            with self.lock:
                self.now -= 1
                self.spans.append((start, time.monotonic(), method, path))

    def pages(self) -> int:
        """Paged ticket reads that arrived so far."""
        with self.lock:
            return sum(1 for _, p, q in self.seen if p.endswith("/tickets") and "page_no" in q)

    def span(self, method: str, suffix: str) -> tuple[float, float]:
        """The first and last moment requests of ``method`` to a path ending in ``suffix``
        were being answered."""
        with self.lock:
            mine = [(a, b) for a, b, m, p in self.spans if m == method and p.endswith(suffix)]
        return min(a for a, _ in mine), max(b for _, b in mine)
