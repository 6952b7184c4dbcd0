"""Fidelity suite: the sandbox Halo, driven over real HTTP with plain httpx, behaves like the
Halo described in shared/halo-api/FACTS.md (§8 checklist)."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from clock import FakeClock

from halo_automate.core.dates import UNSET_DATE, parse_halo_date
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref

Factory = Callable[..., SandboxServer]


def token_for(client: httpx.Client, sandbox: SandboxServer, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "scope": "all",
        **extra,
    }
    return client.post("/auth/token", data=data)


_TLS = ssl.create_default_context()  # shared: building one per client costs ~25 ms


def plain_client(sandbox: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=sandbox.base_url, timeout=10, verify=_TLS)


@contextmanager
def authed(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client holding a fresh bearer token (one POST /auth/token)."""
    with plain_client(sandbox) as client:
        token = token_for(client, sandbox).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with authed(sandbox) as client:
        yield client


def all_tickets(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [t for t in sandbox.state.tickets.values() if not t["deleted"]]


def dotnet_message(response: httpx.Response) -> str:
    body = response.json()
    assert body["ClassName"] == "System.Exception"
    assert body["HResult"] == -2146233088
    assert {"Data", "InnerException", "HelpURL", "StackTraceString"} <= body.keys()
    message: str = body["Message"]
    return message


# ---------------------------------------------------------------- auth


def test_token_endpoint_issues_bearer_token(sandbox: SandboxServer) -> None:
    """Good client credentials get {access_token, token_type Bearer, expires_in, scope}."""
    with plain_client(sandbox) as client:
        response = token_for(client, sandbox)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "all"
    assert len(body["access_token"]) > 20


def test_bad_secret_is_401_invalid_client(sandbox: SandboxServer) -> None:
    """A wrong secret answers 401 with {"error": "invalid_client"}."""
    with plain_client(sandbox) as client:
        response = token_for(client, sandbox, client_secret="wrong")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_wrong_grant_type_is_400(sandbox: SandboxServer) -> None:
    """Only the client-credentials grant is accepted."""
    with plain_client(sandbox) as client:
        response = token_for(client, sandbox, grant_type="password")
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_basic_auth_credentials_are_accepted(sandbox: SandboxServer) -> None:
    """Client credentials may also come as an HTTP Basic header."""
    with plain_client(sandbox) as client:
        response = client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(sandbox.client_id, sandbox.client_secret),
        )
        garbled = client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic !!!not-base64"},
        )
    assert response.status_code == 200
    assert garbled.status_code == 401


def test_tenant_is_optional_and_checked_when_configured(sandbox_factory: Factory) -> None:
    """?tenant= is accepted or omitted; a configured tenant refuses a different one."""
    open_sb = sandbox_factory()
    strict = sandbox_factory(tenant="acme")
    with plain_client(open_sb) as client:
        assert client.post("/auth/token?tenant=whatever", data=_form(open_sb)).status_code == 200
    with plain_client(strict) as client:
        assert client.post("/auth/token?tenant=acme", data=_form(strict)).status_code == 200
        assert client.post("/auth/token", data=_form(strict)).status_code == 200
        wrong = client.post("/auth/token?tenant=other", data=_form(strict))
        assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
        assert client.get("/api/authinfo").json()["tenant_id"] == "acme"


def _form(sandbox: SandboxServer) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }


def test_tokens_expire_after_ttl(sandbox_factory: Factory) -> None:
    """A token older than token_ttl is refused with 401 (the expiry is real)."""
    clock = FakeClock()
    sandbox = sandbox_factory(monotonic=clock, sleep=clock.sleep)
    with authed(sandbox) as api:
        clock.advance(3599)
        assert api.get("/api/Status").status_code == 200
        clock.advance(1)
        response = api.get("/api/Status")
    assert response.status_code == 401
    assert response.content == b""


def test_token_ttl_can_change_at_runtime(sandbox: SandboxServer) -> None:
    """set_faults(token_ttl=...) changes expires_in of tokens issued afterwards."""
    sandbox.set_faults(token_ttl=5)
    with plain_client(sandbox) as client:
        assert token_for(client, sandbox).json()["expires_in"] == 5


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc", "Bearer"], ids=str)
def test_api_without_valid_bearer_is_401_empty(sandbox: SandboxServer, header: str | None) -> None:
    """Every /api route but authinfo needs a valid bearer token; 401 has an empty body."""
    headers = {"Authorization": header} if header else {}
    with plain_client(sandbox) as client:
        response = client.get("/api/Tickets", headers=headers)
    assert response.status_code == 401
    assert response.content == b""


def test_authinfo_needs_no_token(sandbox: SandboxServer) -> None:
    """GET /api/authinfo answers {auth_url, tenant_id} without auth."""
    with plain_client(sandbox) as client:
        body = client.get("/api/authinfo").json()
    assert body == {"auth_url": f"{sandbox.base_url}/auth", "tenant_id": ""}


def test_paths_are_case_insensitive(api: httpx.Client) -> None:
    """/API/TICKETS/5, /api/tickets/5 and /api/Tickets/5 are the same route."""
    bodies = [api.get(p).json() for p in ("/API/TICKETS/5", "/api/tickets/5", "/api/Tickets/5")]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["id"] == 5


def test_unknown_routes_404_and_wrong_method_405(api: httpx.Client) -> None:
    """Unknown /api routes and non-/api paths are 404 empty; a known route with a method it
    lacks is 405."""
    assert api.get("/api/Nonsense").status_code == 404
    assert api.get("/api").status_code == 404
    assert api.get("/api/Tickets/1/extra").status_code == 404
    assert api.get("/elsewhere").status_code == 404
    put = api.put("/api/Tickets/1", json={})
    assert (put.status_code, put.content) == (405, b"")
    assert api.patch("/api/Tickets/1", json={}).status_code == 405


# ---------------------------------------------------------------- GET /api/Tickets


def test_page_size_is_capped_at_100(sandbox: SandboxServer, api: httpx.Client) -> None:
    """page_size=1000 silently gives 100 rows; record_count is the total; envelope has
    record_count, page_no, page_size, tickets."""
    body = api.get("/api/Tickets?pageinate=true&page_size=1000&page_no=1").json()
    assert list(body) == ["record_count", "page_no", "page_size", "tickets"]
    assert body["record_count"] == len(all_tickets(sandbox)) == 600
    assert body["page_size"] == 100
    assert len(body["tickets"]) == 100


def test_paging_walks_every_ticket_once_in_id_order(api: httpx.Client) -> None:
    """Pages (1-based) cover every ticket exactly once, ordered by id; past the end is empty."""
    ids: list[int] = []
    for page_no in range(1, 8):
        body = api.get(f"/api/Tickets?pageinate=true&page_size=100&page_no={page_no}").json()
        ids += [t["id"] for t in body["tickets"]]
    assert ids == sorted(ids) == list(range(1, 601))


def test_paging_defaults(api: httpx.Client) -> None:
    """pageinate without page_size pages by 50 from page 1; page_no 0 means page 1."""
    body = api.get("/api/Tickets?pageinate=true&page_no=0").json()
    assert (body["page_no"], body["page_size"], len(body["tickets"])) == (1, 50, 50)


def test_without_paging_everything_and_count_limits(api: httpx.Client) -> None:
    """No pageinate/count returns all matches as {record_count, tickets}; count=7 limits rows
    but not record_count; count is ignored when paginating."""
    everything = api.get("/api/Tickets").json()
    assert list(everything) == ["record_count", "tickets"]
    assert len(everything["tickets"]) == everything["record_count"] == 600
    limited = api.get("/api/Tickets?count=7").json()
    assert (limited["record_count"], len(limited["tickets"])) == (600, 7)
    paged = api.get("/api/Tickets?count=7&pageinate=true&page_size=20").json()
    assert len(paged["tickets"]) == 20


def test_list_rows_are_a_subset_with_halo_types(sandbox_factory: Factory) -> None:
    """List rows carry the Faults_List subset (no detail-only names) with Halo's date format
    (every field: the sandbox started with ``omit_unset=False``; issue 14 made omitting unset
    fields the default, see test_sandbox_fidelity_halo2.py)."""
    with authed(sandbox_factory(omit_unset=False)) as api:
        row = api.get("/api/Tickets?count=1").json()["tickets"][0]
    assert "status_name" not in row
    assert {
        "id",
        "summary",
        "status_id",
        "tickettype_id",
        "client_name",
        "user_email",
        "team",
        "team_id",
        "category_1",
        "categoryid_1",
        "hasbeenclosed",
        "dateclosed",
        "deadlinedate",
        "lastactiondate",
    } <= row.keys()
    assert row["deadlinedate"] == UNSET_DATE
    assert row["dateoccurred"].endswith("Z")
    assert len(row["dateoccurred"].split(".")[1]) == 8  # 7 digits + Z


def test_unknown_parameters_are_ignored(api: httpx.Client) -> None:
    """A parameter Halo does not know (a typo) filters nothing: every ticket comes back."""
    body = api.get("/api/Tickets?stauts_id=9&count=1").json()
    assert body["record_count"] == 600


def test_bad_values_for_typed_parameters_are_400(api: httpx.Client) -> None:
    """A known int or bool parameter with an unbindable value is a model-binding 400."""
    response = api.get("/api/Tickets?status_id=abc")
    assert response.status_code == 400
    assert response.json() == {"status_id": ["The value 'abc' is not valid."]}
    assert api.get("/api/Tickets?open_only=yes").json() == {
        "open_only": ["The value 'yes' is not valid."]
    }
    assert api.get("/api/Tickets?pageinate=true&page_size=x").status_code == 400
    assert api.get("/api/Tickets?datesearch=dateoccured&startdate=nope").status_code == 400


Pred = Callable[[dict[str, Any]], bool]
_HW = {c["value"] for c in ref.CATEGORIES if c["value"].startswith("Hardware>")}
_CAT_HW = {c["id"] for c in ref.CATEGORIES if c["value"] in _HW}  # retired Hardware>Fax: no id
FILTERS: list[tuple[str, Pred]] = [
    ("status_id=1", lambda t: t["status_id"] == 1),
    ("status=1,2,4", lambda t: t["status_id"] in (1, 2, 4)),
    ("requesttype_id=4", lambda t: t["tickettype_id"] == 4),
    ("requesttype=2,3", lambda t: t["tickettype_id"] in (2, 3)),
    ("client_id=9", lambda t: t["client_id"] == 9),
    ("client_ids=1,11", lambda t: t["client_id"] in (1, 11)),
    ("agent_id=5", lambda t: t["agent_id"] == 5),
    ("agent=7,8", lambda t: t["agent_id"] in (7, 8)),
    ("team=2", lambda t: t["team"] == "Second Line"),
    ("priority=1,2", lambda t: t["priority_id"] in (1, 2)),
    ("category_1=" + ",".join(map(str, sorted(_CAT_HW))), lambda t: t["category_1"] in _HW),
    ("category_1=9", lambda t: t["category_1"] == "Network>VPN"),
    ("search=PROMO-MAILER", lambda t: "promo-mailer" in t["user_email"]),
    ("search=printer", lambda t: "printer" in (t["summary"] + t["details"]).lower()),
    ("open_only=true", lambda t: t["status_id"] != 9),
    ("closed_only=true", lambda t: t["status_id"] == 9),
    ("ticketids=3,5,7,9999", lambda t: t["id"] in (3, 5, 7)),
    ("excludethese=1,2,3", lambda t: t["id"] > 3),
    ("open_only=true&client_id=9", lambda t: t["status_id"] != 9 and t["client_id"] == 9),
]


@pytest.mark.parametrize(("query", "pred"), FILTERS, ids=[q for q, _ in FILTERS])
def test_filters_match_the_store(
    sandbox: SandboxServer, api: httpx.Client, query: str, pred: Pred
) -> None:
    """Each filter returns exactly the stored tickets it describes, in id order."""
    body = api.get(f"/api/Tickets?{query}").json()
    expected = [t["id"] for t in all_tickets(sandbox) if pred(t)]
    assert expected, "the seed should give every filter some matches"
    assert [t["id"] for t in body["tickets"]] == expected
    assert body["record_count"] == len(expected)


def test_datesearch_dateoccured_range(sandbox: SandboxServer, api: httpx.Client) -> None:
    """datesearch=dateoccured (DB spelling) + startdate/enddate keeps tickets opened inside
    the range, both ends inclusive, accepting naive and Z dates."""
    tickets = all_tickets(sandbox)
    start, end = tickets[100]["dateoccurred"], tickets[200]["dateoccurred"]
    naive_start = start.rstrip("Z")
    body = api.get(
        "/api/Tickets",
        params={"datesearch": "dateoccured", "startdate": naive_start, "enddate": end},
    ).json()
    ids = [t["id"] for t in body["tickets"]]
    assert ids == [t["id"] for t in tickets if start <= t["dateoccurred"] <= end]
    assert ids[0] == 101
    assert ids[-1] == 201


def test_datesearch_datecleared_skips_unset(sandbox: SandboxServer, api: httpx.Client) -> None:
    """datesearch=datecleared with only an enddate matches closed tickets, never unset ones."""
    body = api.get("/api/Tickets?datesearch=datecleared&enddate=2999-01-01").json()
    expected = [t["id"] for t in all_tickets(sandbox) if t["dateclosed"] != UNSET_DATE]
    assert [t["id"] for t in body["tickets"]] == expected


def test_datesearch_without_dates_or_unknown_column_filters_nothing(api: httpx.Client) -> None:
    """datesearch alone, or with a column Halo has no filter for, is ignored."""
    assert api.get("/api/Tickets?datesearch=dateoccured&count=1").json()["record_count"] == 600
    odd = api.get("/api/Tickets?datesearch=nonsense&startdate=2020-01-01&count=1").json()
    assert odd["record_count"] == 600


def test_order_and_orderdesc(sandbox: SandboxServer, api: httpx.Client) -> None:
    """order=<field> sorts by it (ties by id); orderdesc=true reverses; order=id desc works."""
    body = api.get("/api/Tickets?order=summary").json()
    summaries = [t["summary"] for t in body["tickets"]]
    assert summaries == sorted(summaries)
    desc = api.get("/api/Tickets?order=lastactiondate&orderdesc=true").json()["tickets"]
    dates = [t["lastactiondate"] for t in desc]
    assert dates == sorted(dates, reverse=True)
    by_id = api.get("/api/Tickets?order=id&orderdesc=true&count=3").json()["tickets"]
    assert [t["id"] for t in by_id] == [600, 599, 598]
    unknown = api.get("/api/Tickets?order=no_such_field&count=3").json()["tickets"]
    assert [t["id"] for t in unknown] == [1, 2, 3]


def test_order_by_uncomparable_values_falls_back_to_text(api: httpx.Client) -> None:
    """Ordering by a field holding values Python cannot compare (lists of objects) still
    answers, comparing their text."""
    api.post(
        "/api/Tickets",
        json=[
            {"id": 1, "customfields": [{"id": 101, "value": "a"}]},
            {"id": 2, "customfields": [{"id": 101, "value": "b"}]},
        ],
    )
    body = api.get("/api/Tickets?order=customfields&orderdesc=true&count=2").json()
    assert [t["id"] for t in body["tickets"]] == [2, 1]


def test_lists_reflect_writes_and_many_queries(api: httpx.Client) -> None:
    """Cached query results never go stale: a write shows in the next list, and many distinct
    queries in a row all answer correctly."""
    for n in range(1, 21):
        assert api.get(f"/api/Tickets?ticketids={n}").json()["tickets"][0]["id"] == n
    before = api.get("/api/Tickets?ticketids=1").json()["tickets"][0]["summary"]
    api.post("/api/Tickets", json=[{"id": 1, "summary": before + " (edited)"}])
    after = api.get("/api/Tickets?ticketids=1").json()["tickets"][0]["summary"]
    assert after == before + " (edited)"


def test_deleted_tickets_only_with_deleted_true(api: httpx.Client) -> None:
    """Soft-deleted tickets vanish from lists and come back only with deleted=true."""
    assert api.delete("/api/Tickets/10").status_code == 200
    normal = api.get("/api/Tickets?ticketids=9,10,11").json()
    assert [t["id"] for t in normal["tickets"]] == [9, 11]
    deleted = api.get("/api/Tickets?deleted=true").json()
    assert [t["id"] for t in deleted["tickets"]] == [10]


# ---------------------------------------------------------------- GET /api/Tickets/{id}


def test_ticket_detail_is_bare_object_with_names(sandbox: SandboxServer, api: httpx.Client) -> None:
    """GET /api/Tickets/{id} is the bare ticket plus status/type/agent/priority names."""
    body = api.get("/api/Tickets/12").json()
    stored = sandbox.state.tickets[12]
    assert body["id"] == 12
    assert body["summary"] == stored["summary"]
    statuses = {s["id"]: s["name"] for s in ref.STATUSES}
    assert body["status_name"] == statuses[stored["status_id"]]
    assert body["tickettype_name"]
    assert body["priority"]["id"] == stored["priority_id"]
    assert "agent_name" in body


@pytest.mark.parametrize(
    "path", ["/api/Tickets/abc", "/api/Actions/abc?ticket_id=1", "/api/Status/x"]
)
def test_non_numeric_id_is_model_binding_400(api: httpx.Client, path: str) -> None:
    """A non-integer route id answers 400 {"id": ["The value 'x' is not valid."]}."""
    response = api.get(path)
    assert response.status_code == 400
    value = path.split("/")[3].split("?")[0]
    assert response.json() == {"id": [f"The value '{value}' is not valid."]}


def test_missing_and_deleted_tickets_are_404_empty(api: httpx.Client) -> None:
    """An id that does not exist, or a soft-deleted ticket, is 404 with an empty body."""
    missing = api.get("/api/Tickets/99999")
    assert (missing.status_code, missing.content) == (404, b"")
    api.delete("/api/Tickets/3")
    assert api.get("/api/Tickets/3").status_code == 404
    assert api.delete("/api/Tickets/3").status_code == 404


# ---------------------------------------------------------------- POST /api/Tickets


def test_partial_update_returns_the_object_201(sandbox: SandboxServer, api: httpx.Client) -> None:
    """A one-element array updates only the sent fields and answers 201 with the object."""
    before = dict(sandbox.state.tickets[20])
    response = api.post("/api/Tickets", json=[{"id": 20, "priority_id": 1}])
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body, dict)
    assert (body["id"], body["priority_id"], body["isnew"]) == (20, 1, False)
    after = sandbox.state.tickets[20]
    assert after["summary"] == before["summary"]
    assert after["status_id"] == before["status_id"]
    assert after["last_update"] > before["last_update"]


def test_many_elements_return_last_or_all(api: httpx.Client) -> None:
    """Several elements return only the last saved record unless returnall=true."""
    items = [{"id": 21, "flagged": True}, {"id": 22, "flagged": True}]
    last = api.post("/api/Tickets", json=items).json()
    assert last["id"] == 22
    every = api.post("/api/Tickets?returnall=true", json=items).json()
    assert [t["id"] for t in every] == [21, 22]


def test_create_sets_isnew_and_defaults(sandbox: SandboxServer, api: httpx.Client) -> None:
    """An element without id creates a ticket (next id, isnew true, defaults filled) and
    client_id brings its name and a site of that client."""
    response = api.post(
        "/api/Tickets", json=[{"summary": "Brand new", "client_id": 9, "category_1": ""}]
    )
    body = response.json()
    assert response.status_code == 201
    assert body["isnew"] is True
    assert body["id"] == 601
    assert (body["status_id"], body["client_name"]) == (1, "Woodgrove Bank")
    assert sandbox.state.sites_by_id[body["site_id"]]["client_id"] == 9
    assert body["hasbeenclosed"] is False
    assert sandbox.state.tickets[601]["summary"] == "Brand new"
    assert "isnew" not in sandbox.state.tickets[601]


def test_create_with_user_takes_their_client(api: httpx.Client, sandbox: SandboxServer) -> None:
    """Setting user_id fills user name/email and the user's client and site."""
    user = next(u for u in sandbox.state.users if u["client_id"] == 3)
    body = api.post("/api/Tickets", json=[{"summary": "x", "user_id": user["id"]}]).json()
    assert (body["user_name"], body["user_email"]) == (user["name"], user["emailaddress"])
    assert (body["client_id"], body["site_id"]) == (3, user["site_id"])
    moved = api.post("/api/Tickets", json=[{"id": body["id"], "site_id": 1}]).json()
    assert (moved["client_id"], moved["site_name"]) == (1, "Head Office")


def test_closing_and_reopening(sandbox: SandboxServer, api: httpx.Client) -> None:
    """status_id 9 sets hasbeenclosed and dateclosed; leaving 9 clears them."""
    ticket_id = next(t["id"] for t in all_tickets(sandbox) if t["status_id"] == 2)
    closed = api.post("/api/Tickets", json=[{"id": ticket_id, "status_id": 9}]).json()
    assert closed["hasbeenclosed"] is True
    assert parse_halo_date(closed["dateclosed"]) is not None
    again = api.post("/api/Tickets", json=[{"id": ticket_id, "status_id": 9}]).json()
    assert again["dateclosed"] == closed["dateclosed"]
    reopened = api.post("/api/Tickets", json=[{"id": ticket_id, "status_id": "2"}]).json()
    assert (reopened["hasbeenclosed"], reopened["dateclosed"]) == (False, UNSET_DATE)


def test_invalid_category_fails_whole_request(sandbox: SandboxServer, api: httpx.Client) -> None:
    """A category_n text not in the category list is a .NET-exception 400 and nothing in
    the array is applied, not even the valid element before it."""
    before = sandbox.state.tickets[30]["priority_id"]
    response = api.post(
        "/api/Tickets",
        json=[
            {"id": 30, "priority_id": 1 if before != 1 else 2},
            {"id": 31, "category_1": "Hardware>Fax"},
        ],
    )
    assert response.status_code == 400
    assert dotnet_message(response) == "Category 'Hardware>Fax' is not valid"
    assert sandbox.state.tickets[30]["priority_id"] == before
    level2 = api.post("/api/Tickets", json=[{"id": 31, "category_2": "Hardware>Laptop"}])
    assert level2.status_code == 400


def test_valid_category_sets_text_and_id(api: httpx.Client) -> None:
    """A listed category value is stored with its categoryid_n."""
    body = api.post(
        "/api/Tickets",
        json=[{"id": 32, "category_1": "Network>VPN", "category_2": "Urgent Callback"}],
    ).json()
    assert (body["category_1"], body["categoryid_1"]) == ("Network>VPN", 9)
    assert body["categoryid_2"] == 16


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ({"id": 1, "status_id": 77}, "[0].status_id"),
        ({"id": 1, "status_id": "abc"}, "[0].status_id"),
        ({"id": 1, "priority_id": 1.5}, "[0].priority_id"),
        ({"id": 1, "flagged": "maybe"}, "[0].flagged"),
        ({"id": 1, "summary": {"a": 1}}, "[0].summary"),
        ({"id": 1, "agent_id": 999}, "[0].agent_id"),
        ({"id": 1, "client_id": 999}, "[0].client_id"),
        ({"id": 1, "dateoccurred": "not a date"}, "[0].dateoccurred"),
        ({"id": "x1"}, "[0].id"),
    ],
    ids=lambda v: str(v),
)
def test_bad_fields_are_model_binding_400(
    api: httpx.Client, item: dict[str, Any], path: str
) -> None:
    """Wrong JSON types and unknown reference ids answer {"[i].field": [message]}."""
    response = api.post("/api/Tickets", json=[item])
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [path]
    assert isinstance(body[path], list)


def test_values_bind_like_newtonsoft(sandbox: SandboxServer, api: httpx.Client) -> None:
    """Integral floats and numeric strings bind to ints, numbers to strings, "true" to bool;
    decimal fields take numbers and refuse text."""
    body = api.post(
        "/api/Tickets",
        json=[
            {
                "id": 2,
                "priority_id": 2.0,
                "summary": 123,
                "flagged": "true",
                "estimate": 1.5,
                "agent_id": "0",
            }
        ],
    ).json()
    assert (body["priority_id"], body["summary"], body["flagged"]) == (2, "123", True)
    assert (body["estimate"], body["agent_id"]) == (1.5, 0)
    bad = api.post("/api/Tickets", json=[{"id": 2, "estimate": "long"}])
    assert list(bad.json()) == ["[0].estimate"]


def test_second_element_error_names_its_index(api: httpx.Client) -> None:
    """The error path names the failing element's index."""
    response = api.post("/api/Tickets", json=[{"id": 1}, {"id": 2, "priority_id": "high"}])
    assert list(response.json()) == ["[1].priority_id"]


@pytest.mark.parametrize("body", [b"{}", b"[]", b"not json", b"[1]", b""], ids=str)
def test_body_must_be_a_json_array_of_objects(api: httpx.Client, body: bytes) -> None:
    """Anything but a non-empty JSON array of objects is a model-binding 400."""
    response = api.post("/api/Tickets", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert isinstance(next(iter(response.json().values())), list)


def test_team_by_name_or_id_stays_in_sync(api: httpx.Client) -> None:
    """team (name, any case) sets team_id; team_id sets team; an unknown team name is a .NET
    400; an empty name clears both."""
    by_name = api.post("/api/Tickets", json=[{"id": 40, "team": "second line"}]).json()
    assert (by_name["team"], by_name["team_id"]) == ("Second Line", 2)
    by_id = api.post("/api/Tickets", json=[{"id": 40, "team_id": 3}]).json()
    assert (by_id["team"], by_id["team_id"]) == ("Field Engineering", 3)
    bad = api.post("/api/Tickets", json=[{"id": 40, "team": "Third Line"}])
    assert bad.status_code == 400
    assert dotnet_message(bad) == "Team 'Third Line' is not valid"
    cleared = api.post("/api/Tickets", json=[{"id": 40, "team": ""}]).json()
    assert (cleared["team"], cleared["team_id"]) == ("", 0)


def test_update_of_unknown_ticket_is_dotnet_400(api: httpx.Client) -> None:
    """An update naming a ticket that does not exist is a .NET-exception 400."""
    response = api.post("/api/Tickets", json=[{"id": 424242, "summary": "x"}])
    assert response.status_code == 400
    assert dotnet_message(response) == "Ticket 424242 not found"


def test_unknown_and_derived_fields_are_ignored(sandbox: SandboxServer, api: httpx.Client) -> None:
    """Fields Halo does not have, underscore flags and server-computed fields are not stored;
    other catalogue fields are stored as sent."""
    api.post(
        "/api/Tickets",
        json=[
            {
                "id": 50,
                "nonsense": 1,
                "_force": True,
                "status_name": "X",
                "hasbeenclosed": True,
                "closure_note": "done",
                "summary": None,
            }
        ],
    )
    stored = sandbox.state.tickets[50]
    assert "nonsense" not in stored
    assert "_force" not in stored
    assert "status_name" not in stored
    assert stored["closure_note"] == "done"
    assert stored["summary"]


def test_soft_delete_and_recover(sandbox: SandboxServer, api: httpx.Client) -> None:
    """DELETE soft-deletes and returns the object; updates then fail until an update with
    _recover: true restores the ticket."""
    deleted = api.delete("/api/Tickets/60")
    assert deleted.status_code == 200
    assert deleted.json()["id"] == 60
    assert sandbox.state.tickets[60]["deleted"] is True
    refused = api.post("/api/Tickets", json=[{"id": 60, "summary": "x"}])
    assert dotnet_message(refused) == "Ticket 60 not found"
    recovered = api.post(
        "/api/Tickets", json=[{"id": 60, "_recover": True, "_validate_updates": True}]
    )
    assert recovered.status_code == 201
    assert api.get("/api/Tickets/60").status_code == 200
    assert sandbox.state.tickets[60]["deleted"] is False


def test_dates_written_are_normalised(sandbox: SandboxServer, api: httpx.Client) -> None:
    """Dates accept naive or Z input and are stored in Halo's 7-digit UTC format."""
    body = api.post("/api/Tickets", json=[{"id": 70, "deadlinedate": "2030-01-02T03:04:05"}])
    assert body.json()["deadlinedate"] == "2030-01-02T03:04:05.0000000Z"
    cleared = api.post("/api/Tickets", json=[{"id": 70, "deadlinedate": "1900-01-01T00:00:00"}])
    assert cleared.json()["deadlinedate"] == UNSET_DATE


# ---------------------------------------------------------------- actions


def test_action_needs_an_outcome(api: httpx.Client) -> None:
    """An action without outcome_id or outcome text is 400 "An Outcome must be entered"."""
    response = api.post("/api/Actions", json=[{"ticket_id": 5, "note": "hello"}])
    assert response.status_code == 400
    assert dotnet_message(response) == "An Outcome must be entered for this Action"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"outcome_id": 7}, "A Ticket ID must be supplied for this Action"),
        ({"ticket_id": 99999, "outcome_id": 7}, "Ticket 99999 not found"),
        ({"ticket_id": 5, "outcome_id": 99}, "Outcome 99 is not valid"),
        ({"ticket_id": 5, "outcome": "Dance"}, "Outcome 'Dance' is not valid"),
        ({"ticket_id": 5, "id": 50, "note": "x"}, "Action 50 not found on Ticket 5"),
        (
            {"ticket_id": 5, "outcome_id": 7, "new_category1": "Hardware>Fax"},
            "Category 'Hardware>Fax' is not valid",
        ),
    ],
    ids=lambda v: str(v),
)
def test_action_business_rules(api: httpx.Client, item: dict[str, Any], message: str) -> None:
    """Missing ticket, unknown ticket/outcome/action and bad new_* values are .NET 400s."""
    response = api.post("/api/Actions", json=[item])
    assert response.status_code == 400
    assert dotnet_message(response) == message


def test_action_bad_types_are_model_binding_400(api: httpx.Client) -> None:
    """A non-integer ticket_id or an unknown new_status id names the action field."""
    assert list(api.post("/api/Actions", json=[{"ticket_id": "x", "outcome_id": 7}]).json()) == [
        "[0].ticket_id"
    ]
    bad_status = api.post(
        "/api/Actions", json=[{"ticket_id": 5, "outcome_id": 7, "new_status": 77}]
    )
    assert list(bad_status.json()) == ["[0].new_status"]


def test_actions_are_numbered_per_ticket(sandbox: SandboxServer, api: httpx.Client) -> None:
    """Action ids count 1, 2, 3 on each ticket independently; a deleted number is not reused."""
    note = {"outcome_id": 7, "note": "n"}
    ids_a = [
        api.post("/api/Actions", json=[{"ticket_id": 80, **note}]).json()["id"] for _ in range(3)
    ]
    first_b = api.post("/api/Actions", json=[{"ticket_id": 81, **note}]).json()
    assert ids_a == [1, 2, 3]
    assert (first_b["id"], first_b["ticket_id"]) == (1, 81)
    api.delete("/api/Actions/3?ticket_id=80")
    assert api.post("/api/Actions", json=[{"ticket_id": 80, **note}]).json()["id"] == 4
    assert [a["id"] for a in sandbox.state.actions[80]] == [1, 2, 4]


def test_action_fields_kept(api: httpx.Client) -> None:
    """The saved action carries outcome, note, note_html, privacy, sendemail, who and dates."""
    response = api.post(
        "/api/Actions",
        json=[
            {
                "ticket_id": 90,
                "outcome": "internal note",
                "note_html": "<p>Hi <b>there</b></p>",
                "sendemail": "false",
            }
        ],
    )
    assert response.status_code == 201
    action = response.json()
    assert (action["outcome"], action["outcome_id"]) == ("Internal Note", 7)
    assert action["note"] == "Hi there"
    assert action["note_html"] == "<p>Hi <b>there</b></p>"
    assert action["hiddenfromuser"] is True
    assert action["sendemail"] is False
    assert action["who"] == "API User"
    assert action["datetime"] == action["actiondatecreated"]


def test_action_new_fields_change_the_ticket(sandbox: SandboxServer, api: httpx.Client) -> None:
    """new_status, new_team, new_agent, new_priority, new_tickettype and new_category1 are
    applied to the ticket; lastactiondate moves to the action's time."""
    action = api.post(
        "/api/Actions",
        json=[
            {
                "ticket_id": 100,
                "outcome_id": 12,
                "new_status": 9,
                "new_team": "Projects",
                "new_agent": 9,
                "new_priority": 4,
                "new_tickettype": 3,
                "new_category1": "Network>Firewall",
            }
        ],
    ).json()
    ticket = sandbox.state.tickets[100]
    assert (ticket["status_id"], ticket["hasbeenclosed"]) == (9, True)
    assert (ticket["team"], ticket["team_id"], ticket["agent_id"]) == ("Projects", 4, 9)
    assert (ticket["priority_id"], ticket["tickettype_id"]) == (4, 3)
    assert ticket["category_1"] == "Network>Firewall"
    assert ticket["lastactiondate"] == action["datetime"]


def test_close_outcome_closes_without_new_status(sandbox: SandboxServer, api: httpx.Client) -> None:
    """Outcome 9 (Close Ticket, newstatus 9) closes the ticket by itself."""
    ticket_id = next(t["id"] for t in all_tickets(sandbox) if t["status_id"] == 1)
    api.post("/api/Actions", json=[{"ticket_id": ticket_id, "outcome_id": 9, "note": "bye"}])
    ticket = sandbox.state.tickets[ticket_id]
    assert (ticket["status_id"], ticket["hasbeenclosed"]) == (9, True)


def test_actions_return_last_or_all(api: httpx.Client) -> None:
    """POST /api/Actions returns the last action, or every one with returnall=true."""
    items = [{"ticket_id": 110, "outcome_id": 7}, {"ticket_id": 111, "outcome_id": 1}]
    assert api.post("/api/Actions", json=items).json()["ticket_id"] == 111
    every = api.post("/api/Actions?returnall=true", json=items).json()
    assert [(a["ticket_id"], a["id"]) for a in every] == [(110, 2), (111, 2)]


def test_action_update_by_id(sandbox: SandboxServer, api: httpx.Client) -> None:
    """An action element with id updates that action instead of adding one."""
    api.post("/api/Actions", json=[{"ticket_id": 120, "outcome_id": 7, "note": "old"}])
    updated = api.post("/api/Actions", json=[{"ticket_id": 120, "id": 1, "note": "new"}]).json()
    assert (updated["id"], updated["note"]) == (1, "new")
    assert len(sandbox.state.actions[120]) == 1


def test_get_and_delete_actions_need_ticket_id(api: httpx.Client) -> None:
    """GET /api/Actions?ticket_id= is {record_count, actions}; single GET/DELETE need
    ?ticket_id= (404 without); DELETE returns the removed action."""
    api.post(
        "/api/Actions",
        json=[
            {"ticket_id": 130, "outcome_id": 7, "note": "a"},
            {"ticket_id": 130, "outcome_id": 1, "note": "b", "hiddenfromuser": False},
        ],
    )
    listed = api.get("/api/Actions?ticket_id=130").json()
    assert listed["record_count"] == 2
    assert [a["note"] for a in listed["actions"]] == ["a", "b"]
    public = api.get("/api/Actions?ticket_id=130&excludeprivate=true").json()
    assert [a["note"] for a in public["actions"]] == ["b"]
    assert api.get("/api/Actions?ticket_id=130&count=1").json()["record_count"] == 1
    assert api.get("/api/Actions").json() == {"record_count": 0, "actions": []}
    assert api.get("/api/Actions/1?ticket_id=130").json()["note"] == "a"
    assert api.get("/api/Actions/1").status_code == 404
    assert api.get("/api/Actions/9?ticket_id=130").status_code == 404
    removed = api.delete("/api/Actions/1?ticket_id=130")
    assert (removed.status_code, removed.json()["note"]) == (200, "a")
    assert api.get("/api/Actions/1?ticket_id=130").status_code == 404
    assert api.delete("/api/Actions/1?ticket_id=130").status_code == 404


# ---------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        ("/api/Status", "name", [s["name"] for s in ref.STATUSES]),
        ("/api/TicketType", "name", ["Incident", "Problem", "Change Request", "Service Request"]),
        ("/api/Priority?slaid=1", "name", ["Critical", "High", "Medium", "Low"]),
        ("/api/Team", "name", ["Service Desk", "Second Line", "Field Engineering", "Projects"]),
        (
            "/api/Outcome",
            "outcome",
            ["Reply to User", "Internal Note", "Close Ticket", "Status Change"],
        ),
        ("/api/Category?type_id=2", "value", ["Urgent Callback", "Scheduled Visit"]),
    ],
)
def test_bare_array_lookups(api: httpx.Client, path: str, key: str, expected: list[str]) -> None:
    """Status/TicketType/Priority/Team/Outcome/Category are bare arrays with the seed names."""
    body = api.get(path).json()
    assert isinstance(body, list)
    assert [row[key] for row in body] == expected


def test_category_levels_and_agents(api: httpx.Client) -> None:
    """Category type_id=1 is the 15-value tree, no type_id gives every level; Agent is a bare
    array including the API User, and /api/Agent/me is the API agent."""
    level1 = api.get("/api/Category?type_id=1").json()
    assert len(level1) == 15
    assert all(">" in c["value"] and c["type_id"] == 1 for c in level1)
    assert len(api.get("/api/Category").json()) == 17
    agents = api.get("/api/Agent").json()
    assert agents[0]["name"] == "API User"
    assert len(agents) >= 9
    assert api.get("/api/agent/me").json()["id"] == 1
    assert api.get("/api/Status/9").json()["name"] == "Closed"
    assert api.get("/api/Status/99").status_code == 404


def test_wrapped_lookups(api: httpx.Client) -> None:
    """Client/Site/Users answer {record_count, clients|sites|users}; Client pages and
    searches; Site and Users filter by client_id (Users also by site_id and search)."""
    clients = api.get("/api/Client").json()
    assert clients["record_count"] == 13
    assert clients["clients"][10]["name"] == "Promo Print Co"
    paged = api.get("/api/Client?pageinate=true&page_size=5&page_no=3").json()
    assert [c["id"] for c in paged["clients"]] == [11, 12, 13]
    assert api.get("/api/Client?search=bank").json()["clients"][0]["id"] == 9
    assert api.get("/api/Client/9").json()["name"] == "Woodgrove Bank"
    sites = api.get("/api/Site?client_id=3").json()
    assert [s["name"] for s in sites["sites"]] == ["Head Office", "Branch Office"]
    users = api.get("/api/Users?client_id=9").json()
    assert users["record_count"] == len(users["users"]) >= 5
    assert all(u["emailaddress"].endswith("@woodgrovebank.example") for u in users["users"])
    site_id = users["users"][0]["site_id"]
    assert all(
        u["site_id"] == site_id for u in api.get(f"/api/Users?site_id={site_id}").json()["users"]
    )
    found = api.get("/api/Users?search=fiona.banks").json()["users"]
    assert [u["name"] for u in found] == ["Fiona Banks"]


# ---------------------------------------------------------------- rate limit and faults


def test_rate_limit_429_body_and_counting(sandbox_factory: Factory) -> None:
    """Past the limit Halo answers 429 {"error": "Rate Limit Reached - N Requests per
    rolling 5 minute window"} without Retry-After; the token request counts, /_sandbox
    does not."""
    sandbox = sandbox_factory(rate_limit=3, rate_window=300)
    with authed(sandbox) as client:  # request 1
        assert client.get("/_sandbox/counters").status_code == 200
        assert client.get("/api/Status").status_code == 200  # 2
        assert client.get("/api/Status").status_code == 200  # 3
        limited = client.get("/api/Status")
    assert limited.status_code == 429
    assert limited.json() == {
        "error": "Rate Limit Reached - 3 Requests per rolling 5 minute window"
    }
    assert "Retry-After" not in limited.headers
    counters = sandbox.counters
    assert counters["rate_limited"] == 1
    assert counters["requests"] == 4
    assert counters["requests_by_endpoint"]["POST /auth/token"] == 1


def test_rate_limit_window_rolls_and_retry_after(sandbox_factory: Factory) -> None:
    """With retry_after on, 429 carries Retry-After; once the window passes requests are
    served again."""
    clock = FakeClock()
    sandbox = sandbox_factory(
        rate_limit=2, rate_window=0.4, retry_after=True, monotonic=clock, sleep=clock.sleep
    )
    with plain_client(sandbox) as client:
        assert client.get("/api/authinfo").status_code == 200
        clock.advance(0.1)
        assert client.get("/api/authinfo").status_code == 200
        clock.advance(0.2)
        limited = client.get("/api/authinfo")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert "0.4 second" in limited.json()["error"]
        clock.advance(0.1)  # the first request leaves the window, the second is still in it
        assert client.get("/api/authinfo").status_code == 200
        assert client.get("/api/authinfo").status_code == 429


def test_fail_rate_one_answers_500_and_applies_nothing(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    """With fail_rate 1 every authenticated /api request is 500 with an empty body and the
    write is not applied."""
    before = sandbox.state.tickets[140]["priority_id"]
    sandbox.set_faults(fail_rate=1.0)
    response = api.post("/api/Tickets", json=[{"id": 140, "priority_id": 1 if before != 1 else 2}])
    assert (response.status_code, response.content) == (500, b"")
    assert sandbox.state.tickets[140]["priority_id"] == before
    assert sandbox.counters["failures_injected"] == 1
    assert sandbox.counters["writes_applied"] == 0


def test_fail_rate_is_deterministic_per_seed(sandbox_factory: Factory) -> None:
    """Two sandboxes with the same seed fail the same requests of a sequence."""
    patterns = []
    for _ in range(2):
        sandbox = sandbox_factory(fail_rate=0.5, tickets=20)
        with authed(sandbox) as client:
            patterns.append([client.get("/api/Status").status_code for _ in range(30)])
    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 500}


def test_latency_delays_requests(sandbox_factory: Factory) -> None:
    """latency adds that many seconds to each request (control routes excepted)."""
    clock = FakeClock()
    sandbox = sandbox_factory(monotonic=clock, sleep=clock.sleep)
    with authed(sandbox) as api:
        assert clock.sleeps == []
        sandbox.set_faults(latency=0.2)
        api.get("/api/Status")
        api.get("/api/Tickets/1")
        api.get("/_sandbox/counters")
    assert clock.sleeps == [0.2, 0.2]


def test_control_endpoints(sandbox: SandboxServer, api: httpx.Client) -> None:
    """/_sandbox/ serves counters, planted ids, a full dump incl. deleted tickets, fault
    changes and counter resets, without auth."""
    api.delete("/api/Tickets/150")
    with plain_client(sandbox) as plain:
        counters = plain.get("/_sandbox/counters").json()
        assert counters["tokens_issued"] == 1
        assert counters["writes_applied"] == counters["tickets_written"] == 1
        assert counters["requests_by_endpoint"]["DELETE /api/Tickets/{id}"] == 1
        planted = plain.get("/_sandbox/planted").json()
        assert set(planted["spam"]) == sandbox.planted["spam"]
        dump = plain.get("/_sandbox/tickets").json()
        assert len(dump["tickets"]) == 600
        assert dump["tickets"][149]["deleted"] is True
        faults = plain.post("/_sandbox/faults", json={"latency": 0.01, "rate_limit": 1000})
        assert faults.json()["rate_limit"] == 1000
        assert sandbox.latency == 0.01
        assert plain.post("/_sandbox/faults", json={"bogus": 1}).status_code == 400
        assert plain.post("/_sandbox/faults", content=b"[1]").status_code == 400
        assert plain.post("/_sandbox/reset_counters").status_code == 200
        assert plain.get("/_sandbox/nothing").status_code == 404
    assert sandbox.counters["requests"] == 0


def test_concurrent_writes_are_serialised(sandbox: SandboxServer) -> None:
    """Parallel action posts on one ticket all land with distinct consecutive numbers."""
    errors: list[int] = []

    def worker() -> None:
        with authed(sandbox) as client:
            for _ in range(10):
                r = client.post("/api/Actions", json=[{"ticket_id": 160, "outcome_id": 7}])
                if r.status_code != 201:
                    errors.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(a["id"] for a in sandbox.state.actions[160]) == list(range(1, 61))


def test_stop_closes_kept_alive_connections(sandbox_factory: Factory) -> None:
    """stop() ends serving even with a keep-alive connection open; base_url then raises."""
    sandbox = sandbox_factory()
    with authed(sandbox) as client:
        assert client.get("/api/Status").status_code == 200
        sandbox.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/api/Status")
    with pytest.raises(RuntimeError):
        _ = sandbox.base_url


# ---------------------------------------------------------------- test hooks


def test_token_listeners_hear_every_token_issued(sandbox: SandboxServer) -> None:
    """on_token_issued() hears exactly the tokens handed out, and only good requests'."""
    heard: list[str] = []
    sandbox.on_token_issued(heard.append)
    with plain_client(sandbox) as client:
        issued = [token_for(client, sandbox).json()["access_token"] for _ in range(2)]
        assert token_for(client, sandbox, client_secret="wrong").status_code == 401
    assert heard == issued and len(set(issued)) == 2


def test_locked_state_is_the_served_state(sandbox: SandboxServer, api: httpx.Client) -> None:
    """locked_state() yields the state the API serves and writes (under its lock)."""
    api.post("/api/Tickets", json=[{"id": 140, "summary": "edited"}])
    with sandbox.locked_state() as state:
        assert state is sandbox.state
        assert state.tickets[140]["summary"] == "edited"


def test_hold_writes_keeps_writes_unapplied_until_released(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    """hold_writes(): reads pass, writes wait *before* being applied; release(1) lets one
    through, release() the rest, and a write made after that is not held."""
    hold = sandbox.hold_writes()
    answers: list[int] = []

    def write(ticket_id: int) -> None:
        with authed(sandbox) as client:
            body = [{"ticket_id": ticket_id, "outcome_id": 7}]
            answers.append(client.post("/api/Actions", json=body).status_code)

    first = threading.Thread(target=write, args=(170,))
    first.start()
    assert hold.wait_until_caught(1)
    assert api.get("/api/Tickets/170").status_code == 200  # reads are not held
    second = threading.Thread(target=write, args=(171,))
    second.start()
    assert hold.wait_until_caught(2)
    assert sandbox.counters["writes_applied"] == 0 and answers == []
    hold.release(1)
    first.join(10)
    assert answers == [201] and sandbox.counters["writes_applied"] == 1
    hold.release()
    second.join(10)
    write(172)
    assert answers == [201, 201, 201] and hold.caught == 3
    assert [bool(sandbox.state.actions[t]) for t in (170, 171, 172)] == [True, True, True]


def test_stop_opens_a_hold(sandbox_factory: Factory) -> None:
    """A request still held when the sandbox stops is let go, so no thread hangs on."""
    sandbox = sandbox_factory()
    hold = sandbox.hold_writes(writes_only=False)
    done = threading.Event()

    def read() -> None:
        with authed(sandbox) as client, contextlib.suppress(httpx.TransportError):
            client.get("/api/Status")  # answered, or cut off by the stop
        done.set()

    worker = threading.Thread(target=read)
    worker.start()
    assert hold.wait_until_caught(1)
    sandbox.stop()
    assert done.wait(10)
    worker.join(10)


def test_edit_ticket_is_seen_by_the_next_list(sandbox: SandboxServer, api: httpx.Client) -> None:
    """edit_ticket() changes a ticket as an agent would; lists see it at once (even a list
    answered from the cache of an earlier, identical query)."""
    query = {"pageinate": "true", "page_size": 5, "page_no": 1, "order": "id"}
    before = api.get("/api/Tickets", params=query).json()
    first = before["tickets"][0]
    sandbox.edit_ticket(first["id"], summary="edited by an agent")
    sandbox.edit_ticket(before["tickets"][1]["id"], deleted=True)
    after = api.get("/api/Tickets", params=query).json()
    assert after["record_count"] == before["record_count"] - 1
    assert [t["id"] for t in after["tickets"][:2]] == [first["id"], before["tickets"][2]["id"]]
    assert after["tickets"][0]["summary"] == "edited by an agent"
    assert sandbox.counters["writes_applied"] == 0


def test_a_new_hold_opens_the_previous_one(sandbox: SandboxServer) -> None:
    """hold_writes() again lets the writes held by the previous hold go on; only the new
    hold catches later writes."""
    first = sandbox.hold_writes()
    answers: list[int] = []

    def write(ticket_id: int) -> None:
        with authed(sandbox) as client:
            body = [{"ticket_id": ticket_id, "outcome_id": 7}]
            answers.append(client.post("/api/Actions", json=body).status_code)

    held = threading.Thread(target=write, args=(180,))
    held.start()
    assert first.wait_until_caught(1)
    second = sandbox.hold_writes()
    held.join(10)
    assert answers == [201]
    later = threading.Thread(target=write, args=(181,))
    later.start()
    assert second.wait_until_caught(1)
    assert first.caught == 1 and answers == [201]
    second.release()
    later.join(10)
    assert answers == [201, 201]
