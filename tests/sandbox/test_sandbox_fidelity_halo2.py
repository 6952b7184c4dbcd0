"""Fidelity suite, part 2 (issue 14): what live tenants do that the sandbox did not.

Each test drives the sandbox over real HTTP with plain httpx and checks one claim of
shared/halo-api/FACTS.md §9 (the section is named in each docstring).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from click.testing import CliRunner
from test_sandbox_fidelity import authed

from halo_automate.core.dates import UNSET_DATE
from halo_automate.sandbox import SandboxServer, command
from halo_automate.sandbox import reference as ref

Factory = Callable[..., SandboxServer]


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with authed(sandbox) as client:
        yield client


def open_ticket(sandbox: SandboxServer, **where: object) -> int:
    return next(
        t["id"]
        for t in sandbox.state.tickets.values()
        if not t["deleted"]
        and t["status_id"] != ref.CLOSED_STATUS
        and all(t.get(k) == v for k, v in where.items())
    )


# ---------------------------------------------------------------- §9.1 priorities


def test_priorities_are_policy_rows_per_sla(api: httpx.Client) -> None:
    """§9.1: one row per (SLA, priority); ``id`` a GUID string, ``priorityid`` the integer,
    ``slaid`` the SLA; a name has the same priorityid in every SLA; ``?slaid=`` filters."""
    rows = api.get("/api/Priority").json()
    assert len(rows) == len(ref.SLAS) * 4
    for row in rows:
        assert isinstance(row["id"], str) and uuid.UUID(row["id"])
        assert isinstance(row["priorityid"], int) and isinstance(row["slaid"], int)
    by_name: dict[str, set[int]] = {}
    for row in rows:
        by_name.setdefault(row["name"], set()).add(row["priorityid"])
    assert all(len(ids) == 1 for ids in by_name.values())
    assert {r["slaid"] for r in api.get("/api/Priority?slaid=2").json()} == {2}


def test_priority_by_guid_and_integer_routes_404(api: httpx.Client) -> None:
    """§9.1: ``GET /Priority/{guid}`` answers the row; an integer or other id is an empty 404
    (the HC probe: ``/Priority/probe`` 404 where integer-id routes answer 400)."""
    row = api.get("/api/Priority").json()[0]
    assert api.get(f"/api/Priority/{row['id']}").json() == row
    for other in ("probe", "2"):
        answer = api.get(f"/api/Priority/{other}")
        assert (answer.status_code, answer.content) == (404, b"")


def test_ticket_priority_id_is_the_priorityid(api: httpx.Client, sandbox: SandboxServer) -> None:
    """§9.1: a ticket's ``priority_id`` refers to ``priorityid``; a GUID or unknown integer is
    refused with a model-binding 400."""
    tid = open_ticket(sandbox)
    assert api.post("/api/Tickets", json=[{"id": tid, "priority_id": 2}]).status_code == 201
    assert sandbox.state.tickets[tid]["priority_id"] == 2
    refused = api.post("/api/Tickets", json=[{"id": tid, "priority_id": 99}])
    assert refused.status_code == 400 and "[0].priority_id" in refused.json()
    guid = api.get("/api/Priority").json()[0]["id"]
    assert api.post("/api/Tickets", json=[{"id": tid, "priority_id": guid}]).status_code == 400


# ---------------------------------------------------------------- §9.2 nulls and omitted fields


def test_null_is_accepted_for_nullable_fields(api: httpx.Client, sandbox: SandboxServer) -> None:
    """§9.2: JSON null binds into a nullable field (CIPP's create sends ``"site_id": null``)
    as "not sent"; ``id`` is not nullable (model-binding 400 naming ``[0].id``)."""
    created = api.post("/api/Tickets", json=[{"summary": "From CIPP", "site_id": None}])
    assert created.status_code == 201 and created.json()["summary"] == "From CIPP"
    tid = open_ticket(sandbox)
    category = sandbox.state.tickets[tid]["category_1"]
    updated = api.post(
        "/api/Tickets", json=[{"id": tid, "category_1": None, "agent_id": None, "summary": "x"}]
    )
    assert updated.status_code == 201
    assert sandbox.state.tickets[tid]["category_1"] == category
    nulled = api.post("/api/Tickets", json=[{"id": None, "summary": "y"}])
    assert nulled.status_code == 400 and "[0].id" in nulled.json()


def test_list_rows_omit_unset_fields(api: httpx.Client, sandbox: SandboxServer) -> None:
    """§9.2: a live list row had no ``hasbeenclosed``, ``dateclosed``, ``category_2``..``4``
    or ``deleted``: list rows leave out unset fields; the single-ticket view keeps them."""
    tid = open_ticket(sandbox, category_2="")
    row = api.get(f"/api/Tickets?ticketids={tid}").json()["tickets"][0]
    for gone in ("hasbeenclosed", "dateclosed", "category_2", "category_3", "category_4"):
        assert gone not in row
    assert "deleted" not in row and row["id"] == tid and row["status_id"]
    detail = api.get(f"/api/Tickets/{tid}").json()
    assert detail["hasbeenclosed"] is False and detail["dateclosed"] == UNSET_DATE


def test_full_rows_are_an_option(sandbox_factory: Factory) -> None:
    """§9.2: ``omit_unset=False`` gives every list field (the sandbox's behaviour before)."""
    sandbox = sandbox_factory(omit_unset=False)
    tid = open_ticket(sandbox)
    with authed(sandbox) as api:
        row = api.get(f"/api/Tickets?ticketids={tid}").json()["tickets"][0]
    assert row["hasbeenclosed"] is False and row["category_4"] == ""


# ---------------------------------------------------------------- §9.5 partial application


@pytest.mark.parametrize("partial", [False, True])
def test_refused_batch_keeps_the_elements_before_in_partial_mode(
    sandbox_factory: Factory, partial: bool
) -> None:
    """§3.1/§9.5: unknown whether Halo commits the elements before a bad one; the sandbox
    does both: all or nothing by default, the elements before the bad one with
    ``partial_commit``. Either way the 400 names the bad element by index."""
    sandbox = sandbox_factory(partial_commit=partial)
    ids = sorted(
        t["id"] for t in sandbox.state.tickets.values() if not t["deleted"] and not t["flagged"]
    )[:3]
    body = [{"id": ids[0], "flagged": True}, {"id": ids[1], "status_id": 999},
            {"id": ids[2], "flagged": True}]  # fmt: skip
    with authed(sandbox) as api:
        answer = api.post("/api/Tickets", json=body)
        notes = [{"ticket_id": ids[0], "outcome_id": 7, "note": "a"},
                 {"ticket_id": ids[0], "outcome_id": 4242, "note": "b"}]  # fmt: skip
        before = len(sandbox.state.actions.get(ids[0], []))
        refused_note = api.post("/api/Actions", json=notes)
    assert answer.status_code == 400 and "[1].status_id" in answer.json()
    assert sandbox.state.tickets[ids[0]]["flagged"] is partial
    assert sandbox.state.tickets[ids[2]]["flagged"] is False
    assert refused_note.status_code == 400
    assert len(sandbox.state.actions.get(ids[0], [])) == before + int(partial)


# ---------------------------------------------------------------- §9.4 mandatory fields, CAB


def test_close_refused_for_mandatory_fields_and_cab(sandbox_factory: Factory) -> None:
    """§9.4: a close of a ticket whose type requires fields it lacks answers Halo's "Details
    and Category were required" (HaloAPI #21), by ticket update or by closing action; a type
    under change approval answers the CAB refusal ``APP03/2`` (n8n); other updates land."""
    sandbox = sandbox_factory(mandatory={2: ("details", "category_1")}, cab_types={3})
    strict = open_ticket(sandbox)
    cab = next(
        t
        for t, row in sandbox.state.tickets.items()
        if t > strict and not row["deleted"] and row["status_id"] != ref.CLOSED_STATUS
    )
    sandbox.edit_ticket(strict, tickettype_id=2, details="", category_1="")
    sandbox.edit_ticket(cab, tickettype_id=3)
    with authed(sandbox) as api:
        by_update = api.post("/api/Tickets", json=[{"id": strict, "status_id": 9}])
        by_action = api.post("/api/Actions", json=[{"ticket_id": strict, "outcome_id": 9}])
        other = api.post("/api/Tickets", json=[{"id": strict, "flagged": True}])
        approval = api.post("/api/Tickets", json=[{"id": cab, "status_id": 9}])
        filled = api.post(
            "/api/Tickets",
            json=[{"id": strict, "status_id": 9, "details": "d", "category_1": "Network>VPN"}],
        )
        fields = api.get("/api/TicketType/2?includedetails=true").json()["fields"]
    for refused in (by_update, by_action):
        assert refused.status_code == 400
        assert refused.json()["Message"] == "Details and Category were required"
    assert other.status_code == 201
    assert approval.status_code == 400 and approval.json()["Message"] == ref.CAB_MESSAGE
    assert filled.status_code == 201 and sandbox.state.tickets[strict]["status_id"] == 9
    mandatory = {f["fieldname"] for f in fields if f["fieldinfo"]["mandatory"]}
    assert mandatory == {"details", "category_1"}


# ---------------------------------------------------------------- §9.6 routes, §9.8 instance


def test_lookup_by_lookupid(api: httpx.Client) -> None:
    """§9.6: HaloAPI's ``Connect-HaloAPI`` reads ``GET /api/lookup?lookupid=11``."""
    rows = api.get("/api/lookup?lookupid=11").json()
    assert rows and all(r["lookupid"] == 11 for r in rows)


def test_agent_me_and_users_me(api: httpx.Client) -> None:
    """§9.6: ``/api/Agent/me`` is the API's agent with a ``claims`` list; ``/api/Users/me``."""
    me = api.get("/api/Agent/me").json()
    assert me["id"] == ref.API_AGENT and isinstance(me["claims"], list)
    assert isinstance(api.get("/api/Users/me").json()["id"], int)


def test_agent_results_envelope_with_paging(api: httpx.Client) -> None:
    """§9.6: ``/api/Agent`` is a bare array, but ``{"results": [...]}`` with paging params."""
    assert isinstance(api.get("/api/Agent").json(), list)
    paged = api.get("/api/Agent?pageinate=true&page_size=3&page_no=1").json()
    assert len(paged["results"]) == 3 and paged["record_count"] == len(ref.AGENTS)


def test_ticketidonly(api: httpx.Client) -> None:
    """§9.6: ``ticketidonly=true`` answers only the id fields, all of them (no paging)."""
    body = api.get("/api/Tickets?ticketidonly=true&pageinate=true&page_size=5").json()
    assert len(body["tickets"]) == body["record_count"] > 5
    assert set(body["tickets"][0]) == {
        "id", "sla_id", "status_id", "client_id", "client_name", "lastincomingemail"
    }  # fmt: skip


def test_actions_by_date_range_without_ticket(api: httpx.Client, sandbox: SandboxServer) -> None:
    """§9.6: the halopsa package lists ``/api/Actions`` by ``startdate``/``enddate`` alone."""
    tid = open_ticket(sandbox)
    assert api.post("/api/Actions", json=[{"ticket_id": tid, "outcome_id": 7}]).status_code == 201
    rows = api.get("/api/Actions?startdate=2000-01-01&enddate=2999-01-01").json()["actions"]
    assert any(a["ticket_id"] == tid for a in rows)
    assert api.get("/api/Actions").json()["actions"] == []


def test_includelastaction(api: httpx.Client, sandbox: SandboxServer) -> None:
    """§9.6 (SW2 ``includelastaction`` on ``/Tickets/{id}``): the last action comes along."""
    tid = open_ticket(sandbox)
    api.post("/api/Actions", json=[{"ticket_id": tid, "outcome_id": 7, "note": "last one"}])
    ticket = api.get(f"/api/Tickets/{tid}?includedetails=true&includelastaction=true").json()
    assert ticket["lastaction"]["note"] == "last one"


def test_repeated_query_keys_bind_the_first_value(api: httpx.Client) -> None:
    """§9.6: ASP.NET binds a repeated scalar parameter's first value."""
    first = api.get("/api/Tickets?count=2&count=5").json()
    assert len(first["tickets"]) == 2
    assert api.get("/api/Tickets?count=3&count=oops").status_code == 200


def test_instance_info(api: httpx.Client) -> None:
    """§9.8: ``/api/InstanceInfo`` answers ``app_version``, ``database_version``,
    ``hosted_group``."""
    info = api.get("/api/InstanceInfo").json()
    assert re.match(r"^\d+\.\d+", info["app_version"])
    assert {"database_version", "hosted_group"} <= info.keys()


def test_command_line_sets_the_behaviours(monkeypatch: pytest.MonkeyPatch) -> None:
    """``halo-automate sandbox --full-rows --partial-commit --mandatory 2:details,category_1
    --cab-type 3`` starts a sandbox with those behaviours; a bad --mandatory is a usage error."""
    seen: list[SandboxServer] = []

    def fake_serve(sandbox: SandboxServer, stop: threading.Event | None = None) -> None:
        seen.append(sandbox)
        sandbox.stop()

    monkeypatch.setattr(command, "serve_until_stopped", fake_serve)
    args = ["--port", "0", "--tickets", "5", "--full-rows", "--partial-commit",
            "--mandatory", "2:details,category_1", "--cab-type", "3"]  # fmt: skip
    result = CliRunner().invoke(command.sandbox_command, args)
    assert result.exit_code == 0, result.output
    behaviour = seen[0].state.behaviour
    assert (behaviour.omit_unset, behaviour.partial_commit) == (False, True)
    assert behaviour.mandatory == {2: ("details", "category_1")}
    assert behaviour.cab_types == frozenset({3})
    bad = CliRunner().invoke(command.sandbox_command, ["--port", "0", "--mandatory", "x"])
    assert bad.exit_code == 2 and "TYPE:FIELD" in bad.output
