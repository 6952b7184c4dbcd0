"""Malformed Halo responses: HTML pages, truncated JSON, wrong envelopes, missing fields, huge
and endless bodies. Each is a one-line HaloError naming the endpoint (never a traceback), in
bounded time and memory; through the CLI it is exit 3 and one line on stderr."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_tools import Canned, FakeHalo
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.errors import HaloError, HaloResponseError, HaloUnavailableError
from halo_automate.halo.client import HaloClient, RetryPolicy

HTML = {"Content-Type": "text/html; charset=utf-8"}
MB = 1024 * 1024
Call = Callable[[HaloClient], Any]


@pytest.fixture
def fake() -> Iterator[FakeHalo]:
    with FakeHalo() as server:
        yield server


def client_for_fake(fake: FakeHalo, max_response_bytes: int = 64 * MB, **over: Any) -> HaloClient:
    settings = HaloSettings(
        base_url=fake.base_url,
        client_id="cid",
        client_secret=SecretStr("fake-secret"),
        rate_limit=RateLimit(requests=10_000, per_seconds=1),
        concurrency=1,
        **over,
    )
    return HaloClient(
        settings,
        retry=RetryPolicy(attempts=2, base_seconds=0.001),
        max_response_bytes=max_response_bytes,
    )


def tickets(c: HaloClient) -> Any:
    return list(c.iter_tickets({}))


def assert_clear(error: HaloError, endpoint: str, text: str) -> None:
    message = str(error)
    assert message.startswith(endpoint + ":"), message
    assert text in message, message
    assert "\n" not in message and len(message) < 800, message


CASES: list[tuple[str, str, Canned, Call, str, str]] = [
    ("html-login-page", "/api/Tickets", Canned(200, b"<html><body>Sign in</body></html>", HTML),
     tickets, "GET /api/Tickets", "not JSON (text/html): <html><body>Sign in"),
    ("html-502", "/api/Tickets", Canned(502, b"<html>\n<h1>502 Bad Gateway</h1>\n</html>", HTML),
     tickets, "GET /api/Tickets", "HTTP 502: not JSON (text/html): <html> <h1>502"),
    ("truncated-json", "/api/Tickets", Canned(200, b'{"record_count": 5, "tickets": [{"id": 1'),
     tickets, "GET /api/Tickets", "body is not JSON"),
    ("array-not-object", "/api/Tickets", Canned(200, b"[]"),
     tickets, "GET /api/Tickets", "expected an object with record_count"),
    ("record-count-text", "/api/Tickets", Canned(200, b'{"record_count": "5", "tickets": []}'),
     tickets, "GET /api/Tickets", "expected an object with record_count"),
    ("tickets-not-list", "/api/Tickets", Canned(200, b'{"record_count": 1, "tickets": {"id": 1}}'),
     tickets, "GET /api/Tickets", "expected a 'tickets' list"),
    ("rows-without-id", "/api/Tickets",
     Canned(200, b'{"record_count": 1, "tickets": [{"summary": "no id"}]}'),
     tickets, "GET /api/Tickets", "rows without unique integer ids"),
    ("empty-200", "/api/Tickets", Canned(200, b""),
     tickets, "GET /api/Tickets", "expected an object with record_count"),
    ("paging-ignored", "/api/Tickets", Canned(200, b'{"record_count": 3, "tickets": [{"id": 1}]}'),
     tickets, "GET /api/Tickets", "repeats 1 records already read"),
    ("json-nested-too-deep", "/api/Tickets", Canned(200, b"[" * 200_000),
     tickets, "GET /api/Tickets", "nested too deeply"),
    ("lookup-wrong-shape", "/api/Status", Canned(200, b'{"results": "statuses"}'),
     lambda c: c.lookups(["statuses"]), "GET /api/Status", "expected a list of records"),
    ("ticket-not-object", "/api/Tickets/5", Canned(200, b"[1]"),
     lambda c: c.get_ticket(5), "GET /api/Tickets/{id}", "expected a ticket object"),
    ("write-short-answer", "/api/Tickets", Canned(200, b'[{"id": 1}]'),
     lambda c: c.write_tickets([{"id": 1}, {"id": 2}]), "POST /api/Tickets",
     "sent 2 records, Halo returned 1"),
    ("write-not-records", "/api/Actions", Canned(200, b"[1, 2]"),
     lambda c: c.write_actions([{"ticket_id": 1}, {"ticket_id": 2}]), "POST /api/Actions",
     "sent 2 records"),
    ("token-without-access-token", "/auth/token", Canned(200, b'{"token_type": "Bearer"}'),
     lambda c: c.get("Status"), "POST /auth/token", "no access_token"),
    ("token-too-large", "/auth/token", Canned(200, b"", {"Content-Length": str(10**9)}),
     lambda c: c.get("Status"), "POST /auth/token", "larger than 64 MB"),
    ("token-html", "/auth/token", Canned(200, b"<html>maintenance</html>", HTML),
     lambda c: c.get("Status"), "POST /auth/token", "not JSON (text/html): <html>maintenance"),
    ("html-400", "/api/Tickets/7", Canned(400, b"<html>" + b"x" * 50_000 + b"</html>", HTML),
     lambda c: c.get_ticket(7), "GET /api/Tickets/{id}", "HTTP 400: not JSON (text/html)"),
    ("huge-400-message", "/api/Status", Canned(400, b'{"Message": "' + b"y" * 3 * MB + b'"}'),
     lambda c: c.get("Status"), "GET /api/Status", "yyyy"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "canned", "call", "endpoint", "text"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_malformed_response_is_a_clear_error_naming_the_endpoint(
    fake: FakeHalo, path: str, canned: Canned, call: Call, endpoint: str, text: str
) -> None:
    """A body Halo would never send is a one-line HaloError naming the endpoint."""
    fake.routes[path] = canned
    with client_for_fake(fake) as client, pytest.raises(HaloError) as caught:
        call(client)
    assert_clear(caught.value, endpoint, text)


def test_huge_400_message_on_a_write_is_cut_to_one_short_line(fake: FakeHalo) -> None:
    """A 400 whose message is megabytes long fails the element with a short message."""
    fake.routes["/api/Tickets"] = Canned(400, b'{"Message": "' + b"z\\n" * MB + b'"}')
    with client_for_fake(fake) as client:
        [result] = client.write_tickets([{"id": 1}])
    assert not result.ok and not result.unknown
    assert result.error is not None and len(result.error) <= 500 and "\n" not in result.error


def test_body_cut_short_is_retried_then_unavailable(fake: FakeHalo) -> None:
    """A body shorter than its Content-Length (the connection dropped) is retried for a
    read, then a HaloUnavailableError naming the endpoint."""

    def short(wfile: Any) -> None:
        wfile.write(b'{"record_count": 1, "tic')

    fake.routes["/api/Tickets"] = Canned(200, short, {"Content-Length": "1000"})
    with client_for_fake(fake) as client, pytest.raises(HaloUnavailableError) as caught:
        tickets(client)
    assert_clear(caught.value, "GET /api/Tickets", "connection failed")
    assert fake.hits["/api/Tickets"] == 2  # retried once (attempts=2)


def test_body_cut_short_on_a_write_is_an_unknown_outcome(fake: FakeHalo) -> None:
    """The same dropped body on a write is never re-sent: the outcome is unknown."""
    fake.routes["/api/Tickets"] = Canned(200, lambda w: w.write(b"[{"), {"Content-Length": "99"})
    with client_for_fake(fake) as client:
        [result] = client.write_tickets([{"id": 1}])
    assert result.unknown and fake.hits["/api/Tickets"] == 1


def measure(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """(exception or result, seconds, peak traced MB)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome: Any = work()
    except HaloError as e:
        outcome = e
    finally:
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    return outcome, seconds, peak


def test_twenty_megabyte_html_page_is_refused_in_bounded_memory(fake: FakeHalo) -> None:
    """A 20 MB HTML error page: a clear error, about two copies of the body in memory."""
    page = b"<html>" + b"<p>Service Unavailable</p>" * (20 * MB // 26) + b"</html>"
    fake.routes["/api/Tickets"] = Canned(200, page, HTML)
    with client_for_fake(fake) as client:
        error, seconds, peak = measure(lambda: tickets(client))
    assert isinstance(error, HaloResponseError)
    assert_clear(error, "GET /api/Tickets", "not JSON (text/html)")
    assert f"({len(page)} bytes)" in str(error)
    assert peak < 70 and seconds < 10


def test_endless_body_is_cut_off_at_the_cap(fake: FakeHalo) -> None:
    """A body that never ends is refused once it passes MAX_RESPONSE_BYTES (64 MB)."""

    def endless(wfile: Any) -> None:
        chunk = b"x" * MB
        while True:
            wfile.write(chunk)

    fake.routes["/api/Tickets"] = Canned(200, endless, {"Content-Type": "application/json"})
    with client_for_fake(fake) as client:
        error, seconds, peak = measure(lambda: tickets(client))
    assert isinstance(error, HaloResponseError)
    assert_clear(error, "GET /api/Tickets", "larger than 64 MB")
    assert peak < 64 + 40 and seconds < 20


def test_declared_huge_body_is_refused_without_reading_it(fake: FakeHalo) -> None:
    """A Content-Length over the cap is refused before a byte of the body is read."""
    fake.routes["/api/Status"] = Canned(200, lambda w: None, {"Content-Length": str(10**10)})
    with client_for_fake(fake) as client:
        error, seconds, peak = measure(lambda: client.get("Status"))
    assert_clear(error, "GET /api/Status", "larger than 64 MB")
    assert peak < 5 and seconds < 5


def test_compression_bomb_is_refused_by_its_decoded_size(fake: FakeHalo) -> None:
    """A small gzip body that inflates past the cap is refused (the cap counts decoded
    bytes); below the cap the same encoding decodes normally."""
    bomb = gzip.compress(b"[" + b" " * (16 * MB) + b"]")
    assert len(bomb) < 64 * 1024
    fake.routes["/api/Status"] = Canned(200, bomb, {"Content-Encoding": "gzip"})
    fake.routes["/api/Team"] = Canned(200, gzip.compress(b"[]"), {"Content-Encoding": "gzip"})
    with client_for_fake(fake, max_response_bytes=4 * MB) as client:
        with pytest.raises(HaloResponseError) as caught:
            client.get("Status")
        assert client.get("Team") == []
    assert_clear(caught.value, "GET /api/Status", "larger than 4 MB")


def test_oversized_write_answer_is_an_unknown_outcome(fake: FakeHalo) -> None:
    """A write whose answer is too large to read may have landed: unknown, not re-sent."""
    fake.routes["/api/Actions"] = Canned(200, b"[" + b" " * (2 * MB) + b"]")
    with client_for_fake(fake, max_response_bytes=MB) as client:
        [result] = client.write_actions([{"ticket_id": 3}])
    assert result.unknown and "larger than 1 MB" in str(result.error)
    assert fake.hits["/api/Actions"] == 1


GARBLED_GZIP = b"\x1f\x8b\x08\x00this is not a deflate stream at all"


def test_body_that_cannot_be_decoded_is_a_response_error(fake: FakeHalo) -> None:
    """A body whose Content-Encoding it does not follow (corrupt gzip) is a one-line
    HaloResponseError naming the endpoint, not a raw httpx.DecodingError; not retried."""
    fake.routes["/api/Status"] = Canned(200, GARBLED_GZIP, {"Content-Encoding": "gzip"})
    with client_for_fake(fake) as client, pytest.raises(HaloResponseError) as caught:
        client.get("Status")
    assert_clear(caught.value, "GET /api/Status", "cannot be decoded (Content-Encoding gzip)")
    assert fake.hits["/api/Status"] == 1


def test_token_body_that_cannot_be_decoded_is_a_response_error(fake: FakeHalo) -> None:
    """The same corrupt body from the token endpoint names the token endpoint."""
    fake.routes["/auth/token"] = Canned(200, GARBLED_GZIP, {"Content-Encoding": "gzip"})
    with client_for_fake(fake) as client, pytest.raises(HaloResponseError) as caught:
        client.get("Status")
    assert_clear(caught.value, "POST /auth/token", "cannot be decoded")


def test_write_answer_that_cannot_be_decoded_is_an_unknown_outcome(fake: FakeHalo) -> None:
    """A write whose answer cannot be decoded may have landed: unknown, not re-sent."""
    fake.routes["/api/Tickets"] = Canned(200, GARBLED_GZIP, {"Content-Encoding": "gzip"})
    with client_for_fake(fake) as client:
        [result] = client.write_tickets([{"id": 1}])
    assert result.unknown and not result.ok and "cannot be decoded" in str(result.error)
    assert fake.hits["/api/Tickets"] == 1


@pytest.mark.parametrize("value", ["inf", "1e300", "nan", "-5", "soon"])
def test_absurd_retry_after_never_hangs(value: str) -> None:
    """A Retry-After that is infinite, astronomically long, NaN, negative or not a number
    waits at most one rate-limit window (here a minute), never forever."""
    import httpx
    import respx

    sleeps: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    settings = HaloSettings(
        base_url="https://acme.halopsa.example", client_id="c", client_secret=SecretStr("s"),
        rate_limit=RateLimit(requests=100, per_seconds=10),
    )  # fmt: skip
    with respx.mock(base_url="https://acme.halopsa.example") as mock:
        mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"access_token": "t"}))
        mock.get("/api/Status").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": value}),
                httpx.Response(200, json=[]),
            ]
        )
        client = HaloClient(settings, clock=lambda: now[0], sleep=sleep)
        assert client.get("Status") == []
    assert max(sleeps, default=0.0) <= 60


# ---------------------------------------------------------------------------- the CLI

PLAYBOOK = "name: probe\nactions:\n  - set: {summary: probed}\n"


@pytest.mark.parametrize(
    ("canned", "text"),
    [
        (Canned(200, b"<html><title>Login</title></html>", HTML), "not JSON (text/html)"),
        (Canned(200, b'{"record_count": 2, "tickets": [{"id": 1}, {"i'), "body is not JSON"),
        (Canned(200, b'{"tickets": []}'), "expected an object with record_count"),
        (Canned(200, GARBLED_GZIP, {"Content-Encoding": "gzip"}), "cannot be decoded"),
    ],
    ids=["html", "truncated", "envelope", "corrupt-gzip"],
)
def test_cli_plan_against_a_broken_halo_exits_3_with_one_line(
    fake: FakeHalo, tmp_path: Path, canned: Canned, text: str
) -> None:
    """`plan` against a Halo answering garbage: exit 3, one `error: GET /api/Tickets: ...`
    line on stderr, no traceback."""
    fake.routes["/api/Tickets"] = canned
    (tmp_path / "probe.yaml").write_text(PLAYBOOK, encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"halo:\n  base_url: {fake.base_url}\n  client_id: cid\n  client_secret: ${{SECRET}}\n"
        "journal: journal.db\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "halo_automate", "plan", str(tmp_path / "probe.yaml"),
         "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, "SECRET": "fake-secret"},
        cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: GET /api/Tickets: ")
    assert text in errors[0]
