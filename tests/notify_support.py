"""A local notification receiver over real HTTP, for the notification tests.

:class:`Receiver` records every POST (path, headers, JSON body) and answers from a script:
a list of statuses (with optional ``Retry-After``) used one per request, then 200. It can
also hold a request until released, to make a sender time out without sleeping in the test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    raw: str


@dataclass
class Receiver:
    """The recorded requests, the scripted answers, and the server's base URL."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, str | None]] = field(default_factory=list)
    hold: threading.Event | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def bodies(self, prefix: str) -> list[Any]:
        return [r.body for r in self.requests if r.path.startswith(prefix)]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests arrived (an event, not a sleep)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        assert ok, f"expected {count} notifications, got {len(self.requests)}"
        return list(self.requests)


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            if state.hold is not None:
                state.hold.wait(10)
            status, retry_after = state.script.pop(0) if state.script else (200, None)
            with state.arrived:
                state.requests.append(
                    Received(self.path, dict(self.headers.items()), json.loads(raw), raw)
                )
                state.arrived.notify_all()
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "1")
            self.end_headers()
            self.wfile.write(b"1")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()
