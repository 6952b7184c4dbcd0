"""Unit tests of the Halo client against respx mocks (unmocked requests fail the test)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
import structlog
from clock import FakeClock
from pydantic import SecretStr

from halo_automate.config import HaloSettings, RateLimit
from halo_automate.errors import (
    ConfigError,
    HaloAuthError,
    HaloNotFoundError,
    HaloRateLimitedError,
    HaloRejectedError,
    HaloResponseError,
    HaloUnavailableError,
)
from halo_automate.halo.auth import BearerAuth, TokenManager
from halo_automate.halo.client import ClientStats, HaloClient, RetryPolicy, halo_message

BASE = "https://acme.halopsa.example"
SECRET = "s3cr3t-value-that-must-never-leak"
TOKEN = "tok-abc-123"


def settings(**over: Any) -> HaloSettings:
    values: dict[str, Any] = {
        "base_url": BASE,
        "client_id": "cid",
        "client_secret": SecretStr(SECRET),
        "rate_limit": RateLimit(requests=1000, per_seconds=300),
    }
    values.update(over)
    return HaloSettings(**values)


@pytest.fixture
def fake_time() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def make_client(fake_time: FakeClock, **over: Any) -> HaloClient:
    return HaloClient(
        settings(**over),
        clock=fake_time,
        sleep=fake_time.sleep,
        retry=RetryPolicy(attempts=3, base_seconds=0.1, rate_limit_attempts=4),
    )


def token_route(mock: respx.MockRouter, expires_in: int = 3600) -> respx.Route:
    return mock.post("/auth/token").mock(
        return_value=httpx.Response(
            200,
            json={"access_token": TOKEN, "token_type": "Bearer", "expires_in": expires_in},
        )
    )


def page(rows: list[dict[str, Any]], count: int, page_no: int = 1) -> httpx.Response:
    return httpx.Response(
        200, json={"record_count": count, "page_no": page_no, "page_size": 100, "tickets": rows}
    )


def tickets(start: int, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "summary": f"t{i}"} for i in range(start, start + n)]


def paged_tickets(total: int, cap: int = 100) -> Any:
    """A side effect serving ``total`` tickets in pages capped at ``cap``."""

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        if q.get("ticketidonly") == "true":  # the scan's id-only listing: unpaged
            return page(tickets(1, total), total)
        size = min(int(q.get("page_size", "100")), cap)
        page_no = int(q.get("page_no", "1"))
        start = (page_no - 1) * size + 1
        n = max(0, min(size, total - start + 1))
        return page(tickets(start, n), total, page_no)

    return handler


# ---------------------------------------------------------------- auth


def test_token_request_shape(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """The token request is a form-encoded client-credentials POST with ?tenant= when set."""
    route = token_route(mock)
    mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
    client = make_client(fake_time, tenant="acme", scope="read:tickets edit:tickets")
    client.get("Status")
    req = route.calls.last.request
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.url.params["tenant"] == "acme"
    form = parse_qs(req.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["cid"],
        "client_secret": [SECRET],
        "scope": ["read:tickets edit:tickets"],
    }


def test_api_request_shape(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """API calls carry the bearer token and Accept: application/json under {base_url}/api."""
    token_route(mock)
    route = mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
    make_client(fake_time).get("Status")
    req = route.calls.last.request
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["accept"] == "application/json"
    assert "tenant" not in route.calls.last.request.url.params


def test_token_cached_and_renewed_before_expiry(
    mock: respx.MockRouter, fake_time: FakeClock
) -> None:
    """One token serves many requests and is renewed about 60 s before it expires."""
    route = token_route(mock, expires_in=3600)
    mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
    client = make_client(fake_time)
    for _ in range(5):
        client.get("Status")
    assert route.call_count == 1
    fake_time.advance(3600 - 61)
    client.get("Status")
    assert route.call_count == 1
    fake_time.advance(2)
    client.get("Status")
    assert route.call_count == 2


def test_401_retried_once_with_fresh_token(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A 401 triggers exactly one transparent retry with a new token."""
    route = token_route(mock)
    api = mock.get("/api/Status").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=[{"id": 1, "name": "New"}])]
    )
    assert make_client(fake_time).get("Status") == [{"id": 1, "name": "New"}]
    assert route.call_count == 2
    assert api.call_count == 2


def test_bearer_auth_is_an_httpx_auth_flow() -> None:
    """BearerAuth works as any httpx auth: a 401 drops the token and retries once with a
    fresh one; a second 401 is returned as it is."""
    issued = iter(["t1", "t2", "t3", "t4"])
    tokens = TokenManager(lambda: (next(issued), 3600.0))
    seen: list[str] = []

    def halo(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200 if seen[-1] == "Bearer t2" else 401)

    with httpx.Client(transport=httpx.MockTransport(halo), auth=BearerAuth(tokens)) as http:
        assert http.get("https://halo.example/api/Status").status_code == 200
        assert seen == ["Bearer t1", "Bearer t2"]
        assert http.get("https://halo.example/api/Status").status_code == 200
        tokens.invalidate("t2")
        assert http.get("https://halo.example/api/Status").status_code == 401
    assert seen == ["Bearer t1", "Bearer t2", "Bearer t2", "Bearer t3", "Bearer t4"]
    assert tokens.issued == 4


@pytest.mark.parametrize("second", [401, 403])
def test_second_auth_failure_raises_with_causes(
    mock: respx.MockRouter, fake_time: FakeClock, second: int
) -> None:
    """A second 401/403 raises an auth error naming id/secret, scope and the agent."""
    token_route(mock)
    mock.get("/api/Status").mock(side_effect=[httpx.Response(401), httpx.Response(second)])
    with pytest.raises(HaloAuthError) as info:
        make_client(fake_time).get("Status")
    text = str(info.value)
    assert "client id and secret" in text and "scopes" in text and "agent" in text
    assert info.value.status == second


def test_bad_credentials(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """invalid_client from the token endpoint is an auth error that never shows the secret."""
    mock.post("/auth/token").mock(
        return_value=httpx.Response(401, json={"error": "invalid_client"})
    )
    with pytest.raises(HaloAuthError) as info:
        make_client(fake_time).get("Status")
    assert "invalid_client" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_token_without_access_token(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A token response with no access_token is a response error, not a crash."""
    mock.post("/auth/token").mock(return_value=httpx.Response(200, json={"nope": 1}))
    with pytest.raises(HaloResponseError, match="access_token"):
        make_client(fake_time).get("Status")


def test_token_endpoint_429_and_5xx_retried(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """The token endpoint's 429 and 5xx are waited out like any other request."""
    mock.post("/auth/token").mock(
        side_effect=[
            httpx.Response(429, json={"error": "Rate Limit Reached"}),
            httpx.Response(502),
            httpx.Response(200, json={"access_token": TOKEN, "expires_in": 60}),
        ]
    )
    mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
    assert make_client(fake_time).get("Status") == []
    assert len(fake_time.sleeps) >= 2


def test_token_endpoint_unreachable(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A token endpoint that cannot be reached is HaloUnavailable after the retries."""
    mock.post("/auth/token").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(HaloUnavailableError, match="cannot connect"):
        make_client(fake_time).get("Status")


def test_token_endpoint_429s_are_waited_out_like_any_request(
    mock: respx.MockRouter, fake_time: FakeClock
) -> None:
    """The token request has the retry policy of every request: its 429s count against
    rate_limit_attempts (4 here), not the 3 attempts a 5xx gets."""
    route = mock.post("/auth/token").mock(
        side_effect=[httpx.Response(429)] * 4 + [httpx.Response(200, json={"access_token": TOKEN})]
    )
    mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
    client = make_client(fake_time)
    assert client.get("Status") == []
    assert route.call_count == 5 and client.stats.rate_limited == 4


def test_token_endpoint_429_forever_is_rate_limited(
    mock: respx.MockRouter, fake_time: FakeClock
) -> None:
    """A token endpoint that never stops answering 429 is RateLimited, naming it."""
    mock.post("/auth/token").mock(
        return_value=httpx.Response(429, json={"error": "Rate Limit Reached"})
    )
    with pytest.raises(HaloRateLimitedError) as info:
        make_client(fake_time).get("Status")
    assert str(info.value) == "POST /auth/token: HTTP 429: Rate Limit Reached"


@pytest.mark.parametrize("url", ["https://ha\tlo.example", "https://halo..example"])
def test_a_url_httpx_cannot_use_is_a_config_error_naming_it(fake_time: FakeClock, url: str) -> None:
    """A base_url the config accepts but httpx cannot use (a control character, an empty
    host label) is a one-line ConfigError naming the URL, not a raw httpx/idna error."""
    with pytest.raises(ConfigError) as info:
        make_client(fake_time, base_url=url).get("Status")
    text = str(info.value)
    assert text.startswith("cannot send to 'https://ha") and "halo.base_url" in text
    assert "\n" not in text and "\t" not in text


def test_secret_absent_from_logs_reprs_and_errors(
    mock: respx.MockRouter, fake_time: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The client secret and the bearer token never appear in logs, reprs or error text."""
    caplog.set_level(logging.DEBUG)
    token_route(mock)
    mock.get("/api/Status").mock(
        side_effect=[httpx.Response(429), httpx.Response(500), httpx.Response(200, json=[])]
    )
    mock.get("/api/Team").mock(side_effect=[httpx.Response(401), httpx.Response(401)])
    with structlog.testing.capture_logs() as logs:
        client = make_client(fake_time)
        client.get("Status")
        with pytest.raises(HaloAuthError) as info:
            client.get("Team")
    assert client.tokens.has_token  # so its repr below is of a manager holding the token
    blob = " ".join(
        [
            json.dumps(logs, default=str),
            caplog.text,
            repr(client),
            repr(client.settings),
            str(info.value),
            repr(info.value),
            repr(client.tokens),
        ]
    )
    assert SECRET not in blob
    assert TOKEN not in blob
    assert logs, "expected the 429 to be logged"
    assert repr(client.tokens) == "TokenManager(has_token=True, issued=2)"


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"[0].outcome_id":["Could not convert string to integer: x"]}', "[0].outcome_id"),
        (b'{"ClassName":"System.Exception","Message":"An Outcome must be entered"}', "An Outcome"),
        (b'"Priority Description must not be blank"', "Priority Description must not"),
        (b'{"error":"invalid_client"}', "invalid_client"),
        (b"<html><body>Server Error</body></html>", "not JSON"),
        (b"", "(empty body)"),
        (b"[1, 2]", "[1, 2]"),
    ],
)
def test_halo_message_shapes(body: bytes, expected: str) -> None:
    """Halo's message is parsed from every error body shape it sends."""
    assert expected in halo_message(body, "text/html")


def test_404_and_400(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """404 is NotFound; 400 is Rejected with Halo's message and the endpoint."""
    token_route(mock)
    mock.get("/api/Tickets/5").mock(return_value=httpx.Response(404))
    mock.get("/api/Tickets/x").mock(
        return_value=httpx.Response(400, json={"id": ["The value 'x' is not valid."]})
    )
    client = make_client(fake_time)
    with pytest.raises(HaloNotFoundError):
        client.get_ticket(5)
    with pytest.raises(HaloRejectedError) as info:
        client.get("Tickets/x")
    assert "GET /api/Tickets/{id}" in str(info.value) and "not valid" in str(info.value)


def test_body_that_is_not_json(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A 200 with an HTML body is a response error naming the endpoint, not a traceback."""
    token_route(mock)
    mock.get("/api/Status").mock(
        return_value=httpx.Response(
            200, text="<html>login</html>", headers={"content-type": "text/html"}
        )
    )
    with pytest.raises(HaloResponseError, match=r"GET /api/Status.*not JSON \(text/html\)"):
        make_client(fake_time).get("Status")


def test_reads_retry_5xx_and_transport(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Reads retry 5xx and transport errors with backoff, then succeed."""
    token_route(mock)
    route = mock.get("/api/Status").mock(
        side_effect=[httpx.Response(500), httpx.ReadTimeout("slow"), httpx.Response(200, json=[])]
    )
    assert make_client(fake_time).get("Status") == []
    assert route.call_count == 3


def test_reads_give_up_after_attempts(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A read that keeps failing raises HaloUnavailable with the status."""
    token_route(mock)
    mock.get("/api/Status").mock(return_value=httpx.Response(502))
    with pytest.raises(HaloUnavailableError) as info:
        make_client(fake_time).get("Status")
    assert info.value.status == 502


def test_connect_errors_give_up(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Connect errors are retried, then reported as unavailable."""
    token_route(mock)
    mock.get("/api/Status").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(HaloUnavailableError, match="cannot connect"):
        make_client(fake_time).get("Status")


def test_429_waits_for_the_window(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A 429 pauses the budget (doubling) and the request then succeeds."""
    token_route(mock)
    route = mock.get("/api/Status").mock(
        side_effect=[httpx.Response(429), httpx.Response(429), httpx.Response(200, json=[])]
    )
    client = make_client(fake_time)
    assert client.get("Status") == []
    assert route.call_count == 3
    assert client.stats.rate_limited == 2
    assert fake_time.slept >= (5 + 10) * 0.8


def test_429_retry_after_honoured(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A Retry-After header, when Halo sends one, sets the pause."""
    token_route(mock)
    mock.get("/api/Status").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json=[]),
        ]
    )
    make_client(fake_time).get("Status")
    assert fake_time.sleeps == [7]


def test_429_forever_gives_up(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A 429 that never clears raises RateLimited after the configured tries."""
    token_route(mock)
    mock.get("/api/Status").mock(return_value=httpx.Response(429, json={"error": "Rate Limit"}))
    with pytest.raises(HaloRateLimitedError):
        make_client(fake_time).get("Status")


def test_budget_spaces_requests(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """With a budget of 3 per 10 s, the 4th request (token included) waits for the window."""
    token_route(mock)
    mock.get("/api/Status").mock(return_value=httpx.Response(200, json=[]))
    client = make_client(fake_time, rate_limit=RateLimit(requests=3, per_seconds=10, share=1))
    client.get("Status")
    client.get("Status")
    assert fake_time.sleeps == []
    client.get("Status")
    assert fake_time.sleeps == [10]


class AuditedLock:
    """A lock that notes every change to the stats' counters made while it was free."""

    def __init__(self) -> None:
        self.stats: ClientStats | None = None
        self.seen: tuple[int, int, int] = (0, 0, 0)
        self.changed_outside: list[tuple[int, int, int]] = []
        self.entered = 0

    def counters(self) -> tuple[int, int, int]:
        assert self.stats is not None
        return (self.stats.requests, self.stats.retries, self.stats.rate_limited)

    def __enter__(self) -> None:
        self.entered += 1
        if self.counters() != self.seen:
            self.changed_outside.append(self.counters())

    def __exit__(self, *exc: object) -> None:
        self.seen = self.counters()


def test_stats_change_only_under_their_lock(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Every counter of ClientStats (retries and rate_limited included) changes only while
    its lock is held: the stats are shared by every thread of the process."""
    token_route(mock)
    mock.get("/api/Status").mock(
        side_effect=[httpx.Response(500), httpx.Response(429), httpx.Response(200, json=[])]
    )
    lock = AuditedLock()
    stats = ClientStats(lock=lock)
    lock.stats = stats
    client = HaloClient(
        settings(), stats=stats, clock=fake_time, sleep=fake_time.sleep,
        retry=RetryPolicy(attempts=3),
    )  # fmt: skip
    client.get("Status")
    assert stats.snapshot()["retries"] == 1 and stats.rate_limited == 1 and stats.requests == 4
    assert lock.changed_outside == []
    assert lock.entered >= 6


# ---------------------------------------------------------------- paging


def test_reads_10000_tickets_in_100_pages(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """10,000 tickets take 100 page requests, one id-only listing (the scan's reconciliation,
    issue 13) and one token, with paging params as Halo wants, in id order."""
    token = token_route(mock)
    route = mock.get("/api/Tickets").mock(side_effect=paged_tickets(10_000))
    client = make_client(fake_time)
    ids = [t["id"] for t in client.iter_tickets({"open_only": "true"})]
    assert ids == list(range(1, 10_001))
    assert route.call_count == 101 and token.call_count == 1
    assert client.stats.requests == 102
    params = route.calls[0].request.url.params
    assert params["pageinate"] == "true" and params["page_size"] == "100"
    assert params["open_only"] == "true"
    assert params["order"] == "id" and params["orderdesc"] == "false"
    paged = [c for c in route.calls if "page_no" in c.request.url.params]
    assert sorted(int(c.request.url.params["page_no"]) for c in paged) == list(range(1, 101))
    listing = route.calls.last.request.url.params
    assert listing["ticketidonly"] == "true" and listing["open_only"] == "true"
    assert "pageinate" not in listing


def test_page_cap_detected(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A server capping pages below the requested size still yields every ticket."""
    token_route(mock)
    route = mock.get("/api/Tickets").mock(side_effect=paged_tickets(717, cap=50))
    ids = [t["id"] for t in make_client(fake_time, page_size=100).iter_tickets()]
    assert ids == list(range(1, 718))
    assert route.call_count == 15 + 1  # 15 pages and the id-only listing


def test_single_page_and_empty(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A single short page, or no match at all, costs one request."""
    token_route(mock)
    route = mock.get("/api/Tickets").mock(side_effect=[page(tickets(1, 3), 3), page([], 0)])
    client = make_client(fake_time)
    assert len(list(client.iter_tickets())) == 3
    assert list(client.iter_tickets()) == []
    assert route.call_count == 2


def test_sequential_paging_when_concurrency_is_one(
    mock: respx.MockRouter, fake_time: FakeClock
) -> None:
    """concurrency=1 reads pages one after another, in order."""
    token_route(mock)
    mock.get("/api/Tickets").mock(side_effect=paged_tickets(250))
    ids = [t["id"] for t in make_client(fake_time, concurrency=1).iter_tickets()]
    assert ids == list(range(1, 251))


def test_empty_page_before_record_count_is_an_error(
    mock: respx.MockRouter, fake_time: FakeClock
) -> None:
    """An empty page before record_count is reached raises instead of a short list."""
    token_route(mock)
    mock.get("/api/Tickets").mock(
        side_effect=[page(tickets(1, 100), 250), page([], 250), page([], 250)]
    )
    with pytest.raises(HaloResponseError, match="empty"):
        list(make_client(fake_time).iter_tickets())


def test_repeated_page_is_an_error(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A server that ignores page_no (same page again) is detected."""
    token_route(mock)
    mock.get("/api/Tickets").mock(return_value=page(tickets(1, 100), 300))
    with pytest.raises(HaloResponseError, match="repeats"):
        list(make_client(fake_time, concurrency=1).iter_tickets())


def test_short_total_is_an_error(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Fewer rows than record_count on a single page is a short read."""
    token_route(mock)
    mock.get("/api/Tickets").mock(return_value=page([], 5))
    with pytest.raises(HaloResponseError, match="empty"):
        list(make_client(fake_time).iter_tickets())


def test_last_page_short_is_an_error(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A last page with fewer rows than promised fails the total check."""
    token_route(mock)
    mock.get("/api/Tickets").mock(
        side_effect=[page(tickets(1, 100), 150), page(tickets(101, 20), 150)]
    )
    with pytest.raises(HaloResponseError, match="read 120 records"):
        list(make_client(fake_time).iter_tickets())


def test_record_count_change_is_reconciled(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A list that changes size while it is read no longer aborts the scan (issue 13): ticket
    40 closed after page 1, so ticket 101 shifted onto page 1 and page 2 starts at 102; the
    id-only listing names 101 and the scan reads it by id. Ticket 40 (read on page 1) is
    still yielded: it matched when read, and the engine re-reads before writing."""
    token_route(mock)
    now = [t for t in tickets(1, 150) if t["id"] != 40]

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        if q.get("ticketidonly") == "true":
            return page([{"id": t["id"]} for t in now], len(now))
        if "ticketids" in q:
            wanted = {int(i) for i in q["ticketids"].split(",")}
            rows = [t for t in now if t["id"] in wanted]
            return page(rows, len(rows))
        if q["page_no"] == "1":
            return page(tickets(1, 100), 150)
        return page(now[100:], 149, 2)

    route = mock.get("/api/Tickets").mock(side_effect=handler)
    ids = [t["id"] for t in make_client(fake_time, concurrency=1).iter_tickets()]
    assert sorted(ids) == list(range(1, 151)) and len(ids) == len(set(ids))
    assert ids[-1] == 101  # fetched by id after the pages
    assert route.call_count == 4  # 2 pages, the listing, one by-id read


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"tickets": []},
        {"record_count": 1, "tickets": "x"},
        {"record_count": 2, "tickets": [{"id": 1}, {"id": 1}]},
    ],
)
def test_wrong_envelopes(mock: respx.MockRouter, fake_time: FakeClock, body: Any) -> None:
    """Wrong envelopes and duplicate ids are response errors naming the endpoint."""
    token_route(mock)
    mock.get("/api/Tickets").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(HaloResponseError, match="GET /api/Tickets"):
        list(make_client(fake_time).iter_tickets())


def test_unknown_filter_refused_with_hint(fake_time: FakeClock) -> None:
    """An unknown ticket filter is refused before any request, with a did-you-mean."""
    client = make_client(fake_time)
    with pytest.raises(HaloRejectedError, match="did you mean 'open_only'"):
        list(client.iter_tickets({"openonly": "true"}))
    with pytest.raises(HaloRejectedError, match="paging"):
        list(client.iter_tickets({"page_size": "1000"}))
    assert client.stats.requests == 0


def test_tickets_by_ids_chunks(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Read-back by id sends ticketids in chunks of 100."""
    token_route(mock)

    def handler(request: httpx.Request) -> httpx.Response:
        ids = [int(x) for x in request.url.params["ticketids"].split(",")]
        return page([{"id": i} for i in ids], len(ids))

    route = mock.get("/api/Tickets").mock(side_effect=handler)
    got = [t["id"] for t in make_client(fake_time).tickets_by_ids(list(range(1, 251)))]
    assert got == list(range(1, 251)) and route.call_count == 3


# ---------------------------------------------------------------- lookups


def test_lookups_envelopes_and_cache(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Bare arrays, an Agent 'results' object and the wrapped Client list all resolve; cached."""
    token_route(mock)
    status = mock.get("/api/Status").mock(
        return_value=httpx.Response(
            200, json=[{"id": 9, "name": "Closed"}, {"id": 1, "name": "New"}]
        )
    )
    mock.get("/api/Agent").mock(
        return_value=httpx.Response(
            200, json={"record_count": 1, "results": [{"id": 3, "name": "Jo"}]}
        )
    )
    cat = mock.get("/api/Category").mock(
        return_value=httpx.Response(200, json=[{"id": 5, "value": "Hardware>Laptop", "type_id": 1}])
    )
    mock.get("/api/Client").mock(
        return_value=httpx.Response(
            200, json={"record_count": 1, "clients": [{"id": 2, "name": "Contoso"}]}
        )
    )
    mock.get("/api/Outcome").mock(
        return_value=httpx.Response(200, json=[{"id": 7, "outcome": "Internal Note"}])
    )
    client = make_client(fake_time)
    lk = client.lookups(["statuses", "agents", "category_1", "clients", "outcomes"])
    assert lk.statuses.resolve("closed").id == 9
    assert lk.agents.resolve("Jo").id == 3
    assert lk.category(1).resolve("hardware>laptop").id == 5
    assert lk.clients.resolve(2).name == "Contoso"
    assert lk.outcomes.resolve("Internal Note").id == 7
    assert cat.calls.last.request.url.params["type_id"] == "1"
    client.lookups(["statuses"])
    assert status.call_count == 1
    client.lookups(["statuses"], refresh=True)
    assert status.call_count == 2
    with pytest.raises(ValueError, match="unknown lookup"):
        client.lookups(["nope"])


def test_lookup_bad_envelope(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A lookup that is not a list of records is a response error."""
    token_route(mock)
    mock.get("/api/Team").mock(return_value=httpx.Response(200, json={"x": 1}))
    with pytest.raises(HaloResponseError, match="GET /api/Team"):
        make_client(fake_time).lookups(["teams"])


# ---------------------------------------------------------------- writes


def echo_writes(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)
    assert request.url.params["returnall"] == "true"
    return httpx.Response(201, json=[{**i, "saved": True} for i in items])


def test_batched_write_maps_results(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """One POST per batch with returnall=true; results map back to inputs in order."""
    token_route(mock)
    route = mock.post("/api/Tickets").mock(side_effect=echo_writes)
    items = [{"id": i, "status_id": 9} for i in range(1, 51)]
    results = make_client(fake_time).write_tickets(items)
    assert route.call_count == 1
    assert [r.ticket_id for r in results] == list(range(1, 51))
    assert all(r.ok and r.record and r.record["saved"] for r in results)


def test_single_object_response_accepted(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A one-element write answered with a bare object (Halo's default) is accepted."""
    token_route(mock)
    mock.post("/api/Actions").mock(return_value=httpx.Response(200, json={"id": 4, "ticket_id": 7}))
    [result] = make_client(fake_time).write_actions([{"ticket_id": 7, "outcome_id": 7}])
    assert result.ok and result.ticket_id == 7 and result.record == {"id": 4, "ticket_id": 7}


def test_bad_batch_is_not_resent_by_the_client(
    mock: respx.MockRouter, fake_time: FakeClock
) -> None:
    """A 400 on a batch of several is sent once and never re-sent by the client (issue 14:
    Halo may have committed the elements before the bad one, FACTS §9.5): every element is
    marked unknown and rejected with Halo's message, for the engine to read back and split.
    (Until issue 14 the client bisected and re-sent the batch here.)"""
    token_route(mock)

    def handler(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)
        if any(i["id"] == 6 for i in items):
            return httpx.Response(
                400, json={"ClassName": "System.Exception", "Message": "Category 'X' is not valid"}
            )
        return echo_writes(request)

    route = mock.post("/api/Tickets").mock(side_effect=handler)
    results = make_client(fake_time).write_tickets([{"id": i} for i in range(1, 9)])
    assert route.call_count == 1
    assert all(not r.ok and r.unknown and r.rejected for r in results)
    assert {r.error for r in results} == {"Category 'X' is not valid"}
    assert [r.ticket_id for r in results] == list(range(1, 9))
    [single] = make_client(fake_time).write_tickets([{"id": 6}])
    assert not single.ok and not single.unknown and not single.rejected
    assert single.error == "Category 'X' is not valid"


def test_write_500_not_resent(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A 500 on a write is never re-sent: every element is marked unknown for read-back."""
    token_route(mock)
    route = mock.post("/api/Tickets").mock(return_value=httpx.Response(500))
    results = make_client(fake_time).write_tickets([{"id": 1}, {"id": 2}])
    assert route.call_count == 1
    assert all(r.unknown and not r.ok for r in results)


def test_write_timeout_not_resent(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """A timed-out write is not re-sent; its outcome is unknown."""
    token_route(mock)
    route = mock.post("/api/Actions").mock(side_effect=httpx.ReadTimeout("slow"))
    [r] = make_client(fake_time).write_actions([{"ticket_id": 1, "outcome_id": 7}])
    assert route.call_count == 1 and r.unknown and "timed out" in (r.error or "")


def test_write_resent_when_provably_unsent(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Connect errors, 429 and 503 re-send a write: Halo never applied it."""
    token_route(mock)
    route = mock.post("/api/Tickets").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(429),
            httpx.Response(503),
            httpx.Response(201, json={"id": 1}),
        ]
    )
    [r] = make_client(
        fake_time,
    ).write_tickets([{"id": 1}])
    assert r.ok and route.call_count == 4


def test_write_count_mismatch(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Halo answering fewer records than sent is a response error, not a silent mismatch."""
    token_route(mock)
    mock.post("/api/Tickets").mock(return_value=httpx.Response(201, json=[{"id": 1}]))
    with pytest.raises(HaloResponseError, match="sent 2 records"):
        make_client(fake_time).write_tickets([{"id": 1}, {"id": 2}])


def test_empty_write_sends_nothing(fake_time: FakeClock) -> None:
    """An empty batch makes no request."""
    client = make_client(fake_time)
    assert client.write_tickets([]) == []
    assert client.stats.requests == 0


def test_actions_list_and_delete(mock: respx.MockRouter, fake_time: FakeClock) -> None:
    """Actions are listed from their envelope and deleted with ?ticket_id=."""
    token_route(mock)
    mock.get("/api/Actions").mock(
        return_value=httpx.Response(
            200, json={"record_count": 1, "actions": [{"id": 2, "ticket_id": 5}]}
        )
    )
    delete = mock.delete("/api/Actions/2").mock(return_value=httpx.Response(200, json={"id": 2}))
    client = make_client(fake_time)
    assert client.list_actions(5) == [{"id": 2, "ticket_id": 5}]
    client.delete_action(5, 2)
    assert delete.calls.last.request.url.params["ticket_id"] == "5"
    with client:
        pass


def test_bounded_map_order_and_width() -> None:
    """bounded_map returns results in input order with at most `width` calls in flight."""
    import threading
    import time as _time

    from halo_automate.halo.client import bounded_map

    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        _time.sleep(0.002 * (i % 3))
        with lock:
            running[0] -= 1
        return i * i

    assert list(bounded_map(work, list(range(20)), 3)) == [i * i for i in range(20)]
    assert 1 < running[1] <= 3
    assert list(bounded_map(work, [4], 3)) == [16]
