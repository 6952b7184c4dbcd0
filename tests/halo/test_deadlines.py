"""Issue 13 point 7: no wait without end.

Before: a response trickling one byte every 2 s held the CLI past 100 s with
``timeout_seconds: 3`` (each byte resets httpx's read timeout); a 10-hour Retry-After, capped
at one window per 429, was retried 12 times (about an hour on one request); a run had no
deadline and ``/healthz`` said "ok" meanwhile. The trickle runs over a loopback server; time
is a FakeClock the server moves on by 2 s per byte it sends, so no test waits for it.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner
from clock import FakeClock
from pydantic import SecretStr

from halo_automate.cli import main
from halo_automate.config import HaloSettings, RateLimit
from halo_automate.errors import HaloRateLimitedError, HaloUnavailableError
from halo_automate.halo.client import HaloClient, RetryPolicy

ROOT = Path(__file__).resolve().parents[2]


class _QuietServer(ThreadingHTTPServer):
    """A client the test hangs up on prints no "Exception occurred during processing"."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class Trickle:
    """A loopback Halo whose /api answers send one byte at a time: each byte moves
    ``clock`` on by ``seconds_per_byte`` (or, with no clock, sleeps that long for real)."""

    def __init__(self, clock: FakeClock | None, seconds_per_byte: float = 2.0) -> None:
        self.clock = clock
        self.seconds_per_byte = seconds_per_byte
        # lockstep with the client: each byte waits until the client read the clock again
        self.reads = 0
        self.read_cond = threading.Condition()
        self.api_requests = 0
        self.bytes_sent = 0
        self.stop = threading.Event()
        trickle = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path.startswith("/auth/token"):
                    self._json({"access_token": "tok", "expires_in": 3600})
                else:
                    self._trickle()

            def do_GET(self) -> None:
                self._trickle()

            def _json(self, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self) -> None:
                trickle.api_requests += 1
                body = b"[" + b" " * 10_000 + b"]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.flush()
                for i in range(len(body)):
                    if trickle.stop.is_set():
                        return
                    mark = trickle.reads
                    if trickle.clock is not None:  # fake time passes as the byte is sent
                        trickle.clock.advance(trickle.seconds_per_byte)
                    try:
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up and closed the connection
                    trickle.bytes_sent += 1
                    if trickle.clock is not None:  # the next byte once the client looked
                        with trickle.read_cond:
                            trickle.read_cond.wait_for(lambda m=mark: trickle.reads > m, 2.0)
                    else:
                        trickle.stop.wait(trickle.seconds_per_byte)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trickle_factory() -> Iterator[Callable[..., Trickle]]:
    made: list[Trickle] = []

    def make(clock: FakeClock | None, seconds_per_byte: float = 2.0) -> Trickle:
        made.append(Trickle(clock, seconds_per_byte))
        return made[-1]

    yield make
    for t in made:
        t.close()


def paced(server: Trickle, clock: FakeClock, readings: list[float]) -> Callable[[], float]:
    """The client's clock: records each reading, and each reading lets one more byte go."""

    def read() -> float:
        readings.append(clock())
        with server.read_cond:
            server.reads += 1
            server.read_cond.notify_all()
        return readings[-1]

    return read


def settings(base_url: str, **over: Any) -> HaloSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "client_id": "cid",
        "client_secret": SecretStr("secret"),
        "rate_limit": RateLimit(requests=10_000, per_seconds=300),
        "timeout_seconds": 3,
    }
    return HaloSettings(**(values | over))


def test_trickled_read_ends_at_the_request_deadline(
    trickle_factory: Callable[..., Trickle],
) -> None:
    """One byte every 2 s (fake) keeps httpx's 3 s read timeout from firing; the request
    deadline (10 s) ends it: one HaloUnavailableError naming the setting, no retry."""
    clock = FakeClock()
    server = trickle_factory(clock)
    readings: list[float] = []
    client = HaloClient(
        settings(server.base_url, request_deadline_seconds=10),
        clock=paced(server, clock, readings),
        sleep=clock.sleep,
        retry=RetryPolicy(attempts=5, base_seconds=0.5),
    )
    with client, pytest.raises(HaloUnavailableError) as caught:
        client.get("Status")
    message = str(caught.value)
    assert "request_deadline_seconds" in message and "still arriving" in message, message
    assert max(readings) <= 10 + 2 * 2  # the deadline, the byte past it, one in flight
    assert server.api_requests == 1  # the deadline covers the retries too: none was made


def test_trickled_write_is_an_unknown_outcome(trickle_factory: Callable[..., Trickle]) -> None:
    """A write whose answer trickles past the deadline may have landed: unknown, not sent
    again."""
    clock = FakeClock()
    server = trickle_factory(clock)
    client = HaloClient(
        settings(server.base_url, request_deadline_seconds=10),
        clock=paced(server, clock, []),
        sleep=clock.sleep,
    )
    with client:
        [result] = client.write_tickets([{"id": 1, "summary": "x"}])
    assert result.unknown and not result.ok and "still arriving" in str(result.error)
    assert server.api_requests == 1


def test_cli_trickle_exits_within_the_deadline(
    trickle_factory: Callable[..., Trickle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported case through the CLI (real time: the CLI has no injected clock): a byte
    every 0.2 s, timeout_seconds 3, request_deadline_seconds 1: `plan` fails in seconds with
    one error line and exit 3, where it used to hang for as long as the body lasted."""
    server = trickle_factory(None, seconds_per_byte=0.2)
    (tmp_path / "playbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "close-spam.yaml", tmp_path / "playbooks")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"halo: {{base_url: '{server.base_url}', client_id: x, client_secret: y,"
        " timeout_seconds: 3, request_deadline_seconds: 1}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HALO_AUTOMATE_INSTANT_BACKOFF", "1")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["plan", "close-spam", "--config", str(config)])
    elapsed = time.monotonic() - started
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "request_deadline_seconds" in errors[0], result.output
    assert elapsed < 15


def test_ten_hour_retry_after_gives_up_after_the_rate_limit_allowance() -> None:
    """Retry-After: 36000 on every answer. Before: 12 waits of 300 s (an hour). Now: the
    request waits at most halo.max_rate_limit_wait_seconds (600 s) in all, then fails with
    a HaloRateLimitedError that says so."""
    clock = FakeClock()
    base = "https://acme.halopsa.example"
    with respx.mock(base_url=base) as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
        status = mock.get("/api/Status").mock(
            return_value=httpx.Response(429, headers={"Retry-After": "36000"})
        )
        client = HaloClient(
            settings(base, rate_limit=RateLimit(requests=300, per_seconds=300)),
            clock=clock,
            sleep=clock.sleep,
            retry=RetryPolicy(rate_limit_attempts=12),
        )
        with client, pytest.raises(HaloRateLimitedError) as caught:
            client.get("Status")
    assert "max_rate_limit_wait_seconds" in str(caught.value)
    assert clock.slept <= 600 and clock.seconds <= 600
    assert status.call_count == 3  # two waits of 300 s fit in 600 s; a third would not


def test_rate_limit_allowance_is_configurable_and_zero_means_no_wait() -> None:
    clock = FakeClock()
    base = "https://acme.halopsa.example"
    with respx.mock(base_url=base) as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
        mock.get("/api/Status").mock(return_value=httpx.Response(429, headers={"Retry-After": "5"}))
        client = HaloClient(
            settings(base, max_rate_limit_wait_seconds=0), clock=clock, sleep=clock.sleep
        )
        with client, pytest.raises(HaloRateLimitedError):
            client.get("Status")
    assert clock.slept == 0


def test_no_request_starts_after_the_run_deadline() -> None:
    """After halo.run_deadline_seconds no request is sent (a clean HaloUnavailableError);
    begin_run() (the daemon, per run) arms a fresh deadline."""
    clock = FakeClock()
    base = "https://acme.halopsa.example"
    with respx.mock(base_url=base) as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
        status = mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
        client = HaloClient(
            settings(base, run_deadline_seconds=100), clock=clock, sleep=clock.sleep
        )
        client.get("Status")
        clock.advance(101)
        with pytest.raises(HaloUnavailableError, match="run_deadline_seconds"):
            client.get("Status")
        assert status.call_count == 1
        client.begin_run()
        client.get("Status")
        assert status.call_count == 2


def test_run_deadline_stops_a_slow_rate_limited_scan() -> None:
    """A slot that takes longer than the run has left (the budget is exhausted) is not used:
    the request that would start after the deadline is refused."""
    clock = FakeClock()
    base = "https://acme.halopsa.example"
    with respx.mock(base_url=base) as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
        status = mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
        client = HaloClient(
            settings(
                base,
                rate_limit=RateLimit(requests=2, per_seconds=300, share=1),
                run_deadline_seconds=60,
            ),
            clock=clock,
            sleep=clock.sleep,
        )
        client.get("Status")  # the token and this take the 2 slots
        with pytest.raises(HaloUnavailableError, match="run_deadline_seconds"):
            client.get("Status")  # waits 300 s for a slot: past the deadline
    assert status.call_count == 1
