"""Fidelity suite: request shapes of other Halo clients, replayed against the sandbox.

Issue 14 (6): the sandbox serves the Halo ecosystem, not only halo_automate. Each test replays,
with plain httpx, the requests one public client sends (read from its public code, FACTS.md
§9.6; no code of theirs is copied here) and checks the answers that client relies on:

* HaloAPI (homotechsual/HaloAPI, PowerShell): ``Connect-HaloAPI`` reads ``/api/authinfo``,
  posts the form token request to ``auth_url + "/token"`` (``?tenant=``), then reads
  ``/api/lookup?lookupid=11``; ``Get-HaloTicket`` pages with ``page_size=1000`` and gets 100;
* CIPP (KelvinTegelaar/CIPP-API): ``Get-HaloPriority`` lists ``/Priority`` and keeps
  ``priorityid``; ``New-HaloPSATicket`` posts a one-element array with ``site_id``/
  ``user_name``/``files`` null, a ``userlookup`` object and ``attachments: []``;
* n8n (n8n-io/n8n ``nodes/HaloPSA``): lower-case paths (``/tickets``, ``/agent``, ``/site``),
  all-items paging with ``page_size=100&page_no=N&pageinate=true`` until ``record_count``,
  ``count=`` for a limit, ``includeinactive``/``includeactive`` on clients, a one-element
  array for create/update, ``DELETE /tickets/{id}``;
* the ``halopsa`` package: ``/Actions`` by ``startdate``/``enddate`` without a ticket,
  ``/Agent/me``, ``/Users/me``, and the ``{"results": [...]}`` envelope of a paged ``/Agent``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_sandbox_fidelity import authed, plain_client

from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with authed(sandbox) as client:
        yield client


def n8n_all_items(api: httpx.Client, path: str, key: str, **qs: Any) -> list[dict[str, Any]]:
    """n8n's ``haloPSAApiRequestAllItems``: page 100 at a time until ``record_count``."""
    rows: list[dict[str, Any]] = []
    page_no = 1
    while True:
        body = api.get(
            path, params={**qs, "page_size": 100, "page_no": page_no, "pageinate": "true"}
        ).json()
        rows += body[key]
        page_no += 1
        if len(rows) >= body["record_count"] or not body[key]:
            return rows


def test_haloapi_connect(sandbox_factory: Any) -> None:
    """HaloAPI ``Connect-HaloAPI``: authinfo, the form token request at auth_url/token with
    the tenant, then ``lookup?lookupid=11`` (it fails the connect on a 404)."""
    sandbox = sandbox_factory(tenant="demo")
    with plain_client(sandbox) as http:
        info = http.get("/api/authinfo").json()
        token_url = httpx.URL(info["auth_url"].rstrip("/") + "/token").copy_with(
            params={"tenant": "demo"}
        )
        form = {"grant_type": "client_credentials", "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret, "scope": "all"}  # fmt: skip
        token = http.post(token_url, data=form)
        assert token.status_code == 200
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        lookup = http.get("/api/lookup", params={"lookupid": 11})
        assert lookup.status_code == 200 and lookup.json()


def test_haloapi_get_ticket_pages_are_capped(api: httpx.Client) -> None:
    """HaloAPI ``Get-HaloTicket`` asks ``page_size=1000`` and silently gets 100 (issue #90)."""
    body = api.get("/api/Tickets", params={"pageinate": "true", "page_size": 1000}).json()
    assert (len(body["tickets"]), body["page_size"]) == (100, 100)


def test_cipp_priorities_and_ticket_create(api: httpx.Client, sandbox: SandboxServer) -> None:
    """CIPP: priorities carry ``priorityid`` (written into ``priority_id``); the create body
    with nulls, a lookup object and an empty attachment list is accepted (201, one object)."""
    priorities = api.get("/api/Priority").json()
    chosen = next(p["priorityid"] for p in priorities if p["name"] == "High")
    body = [{
        "files": None, "usertype": 1,
        "userlookup": {"id": -1, "lookupdisplay": "Enter Details Manually"},
        "client_id": ref.CONTOSO, "_forcereassign": True, "site_id": None, "user_name": None,
        "reportedby": None, "summary": "CIPP alert", "details_html": "<p>alert</p>",
        "donotapplytemplateintheapi": True, "attachments": [], "tickettype_id": 1,
        "priority_id": chosen,
    }]  # fmt: skip
    created = api.post(
        "/api/Tickets", content=httpx.Request("POST", "/", json=body).content,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )  # fmt: skip
    assert created.status_code == 201
    ticket = created.json()
    assert isinstance(ticket, dict) and ticket["client_id"] == ref.CONTOSO
    assert sandbox.state.tickets[ticket["id"]]["priority_id"] == chosen


def test_n8n_shapes(api: httpx.Client, sandbox: SandboxServer) -> None:
    """n8n: lower-case paths, all-items paging, ``count`` limits, status flags on clients,
    one-element create/update arrays, get and delete by id."""
    tickets = n8n_all_items(api, "/api/tickets", "tickets")
    assert len(tickets) == sum(1 for t in sandbox.state.tickets.values() if not t["deleted"])
    clients = n8n_all_items(
        api, "/api/client", "clients", includeinactive="false", includeactive="true"
    )
    assert {c["id"] for c in clients} == {c["id"] for c in sandbox.state.clients}
    assert n8n_all_items(api, "/api/site", "sites")
    assert len(api.get("/api/tickets", params={"count": 3}).json()["tickets"]) == 3
    assert isinstance(api.get("/api/agent").json(), list)
    assert isinstance(api.get("/api/TicketType").json(), list)
    created = api.post(
        "/api/tickets", json=[{"tickettype_id": 1, "summary": "From n8n", "details": "d"}]
    ).json()
    updated = api.post("/api/tickets", json=[{"id": created["id"], "summary": "Renamed"}])
    assert updated.status_code == 201 and updated.json()["summary"] == "Renamed"
    assert api.get(f"/api/tickets/{created['id']}").json()["summary"] == "Renamed"
    assert api.delete(f"/api/tickets/{created['id']}").status_code == 200
    assert api.get(f"/api/tickets/{created['id']}").status_code == 404


def test_halopsa_package_shapes(api: httpx.Client, sandbox: SandboxServer) -> None:
    """The ``halopsa`` package: actions by date range without a ticket, ``/Agent/me``,
    ``/Users/me``, and a paged ``/Agent`` answering ``{"results": [...]}``."""
    tid = next(t["id"] for t in sandbox.state.tickets.values() if not t["deleted"])
    api.post("/api/Actions", json=[{"ticket_id": tid, "outcome_id": 7, "note": "n"}])
    actions = api.get(
        "/api/Actions", params={"startdate": "2000-01-01T00:00:00", "enddate": "2999-12-31"}
    ).json()
    assert any(a["ticket_id"] == tid for a in actions["actions"])
    assert api.get("/api/Agent/me").json()["id"] == ref.API_AGENT
    assert api.get("/api/Users/me").status_code == 200
    paged = api.get("/api/Agent", params={"page_no": 1, "page_size": 50, "pageinate": "true"})
    assert [a["id"] for a in paged.json()["results"]] == [a["id"] for a in ref.AGENTS]
