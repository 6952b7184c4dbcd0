"""Parent/child links and merges over real HTTP (sandbox/linking.py; FACTS.md §9.12: the
fields are Halo's, the behaviour is the sandbox's model)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock import FakeClock
from test_sandbox_fidelity import authed, dotnet_message
from test_sandbox_webhooks import Receiver

from halo_automate.core.dates import UNSET_DATE, format_halo_date
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.state import SandboxState

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
Factory = Callable[..., SandboxServer]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sb(sandbox_factory: Factory, clock: FakeClock) -> SandboxServer:
    return sandbox_factory(tickets=60, now=NOW, monotonic=clock, sleep=clock.sleep)


@pytest.fixture
def api(sb: SandboxServer) -> Iterator[httpx.Client]:
    with authed(sb) as client:
        yield client


def open_ids(sb: SandboxServer, n: int) -> list[int]:
    return [i for i, t in sb.state.tickets.items() if t["status_id"] != ref.CLOSED_STATUS][:n]


def ticket(api: httpx.Client, ticket_id: int) -> dict[str, Any]:
    response = api.get(f"/api/Tickets/{ticket_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def row(api: httpx.Client, ticket_id: int) -> dict[str, Any]:
    rows = api.get("/api/Tickets", params={"ticketids": str(ticket_id)}).json()["tickets"]
    assert len(rows) == 1
    found: dict[str, Any] = rows[0]
    return found


def post(api: httpx.Client, *elements: dict[str, Any]) -> httpx.Response:
    return api.post("/api/Tickets", json=list(elements))


def actions(api: httpx.Client, ticket_id: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get("/api/Actions", params={"ticket_id": ticket_id}).json()[
        "actions"
    ]
    return found


def note(api: httpx.Client, ticket_id: int, text: str) -> None:
    body = [{"ticket_id": ticket_id, "outcome_id": 7, "note": text}]
    assert api.post("/api/Actions", json=body).status_code == 201


# ---------------------------------------------------------------- fields on every ticket


def test_every_ticket_carries_the_link_fields(api: httpx.Client, sb: SandboxServer) -> None:
    """List rows carry parent_id and merged_into_id (0: none), even with unset fields left
    out; single reads also carry child_ticket_ids and child_count; a created ticket too."""
    rows = api.get("/api/Tickets").json()["tickets"]
    assert len(rows) == 60
    assert all((r["parent_id"], r["merged_into_id"]) == (0, 0) for r in rows)
    one = ticket(api, rows[0]["id"])
    assert (one["parent_id"], one["merged_into_id"]) == (0, 0)
    assert (one["child_ticket_ids"], one["child_count"], one["child_count_open"]) == ([], 0, 0)
    created = post(api, {"summary": "new"}).json()
    assert (created["parent_id"], created["merged_into_id"], created["child_count"]) == (0, 0, 0)
    assert (row(api, created["id"])["parent_id"], row(api, created["id"])["merged_into_id"]) == (
        0,
        0,
    )


# ---------------------------------------------------------------- links


def test_link_and_unlink(api: httpx.Client, sb: SandboxServer, clock: FakeClock) -> None:
    """``parent_id: P`` links, the parent's children follow (derived), last_update moves;
    ``parent_id: 0`` unlinks; the link counter counts both."""
    parent, first, second = open_ids(sb, 3)
    before = ticket(api, first)["last_update"]
    clock.advance(minutes=5)
    response = post(api, {"id": first, "parent_id": parent}, {"id": second, "parent_id": parent})
    assert response.status_code == 201
    child = ticket(api, first)
    assert child["parent_id"] == parent and row(api, first)["parent_id"] == parent
    assert child["last_update"] > before
    assert child["last_update"] == format_halo_date(NOW.replace(minute=5))
    shown = ticket(api, parent)
    assert (shown["child_ticket_ids"], shown["child_count"]) == ([first, second], 2)
    assert shown["child_count_open"] == 2
    assert ticket(api, first)["child_count"] == 0
    assert post(api, {"id": second, "parent_id": 0}).status_code == 201
    assert ticket(api, second)["parent_id"] == 0
    assert ticket(api, parent)["child_ticket_ids"] == [first]
    assert sb.counters["tickets_linked"] == 3 and sb.counters["tickets_merged"] == 0


def test_child_count_open_and_deleted_children(api: httpx.Client, sb: SandboxServer) -> None:
    """A closed child counts in child_count, not in child_count_open; a deleted child in
    neither; writes to the derived fields are ignored."""
    parent, first, second = open_ids(sb, 3)
    post(api, {"id": first, "parent_id": parent}, {"id": second, "parent_id": parent})
    assert post(api, {"id": first, "status_id": ref.CLOSED_STATUS}).status_code == 201
    shown = ticket(api, parent)
    assert (shown["child_count"], shown["child_count_open"]) == (2, 1)
    assert api.delete(f"/api/Tickets/{second}").status_code == 200
    forged = {"id": parent, "child_count": 9, "child_ticket_ids": [1], "child_count_open": 5}
    assert post(api, forged).status_code == 201
    shown = ticket(api, parent)
    assert (shown["child_ticket_ids"], shown["child_count"], shown["child_count_open"]) == (
        [first],
        1,
        0,
    )


def test_a_ticket_created_as_a_child(api: httpx.Client, sb: SandboxServer) -> None:
    """A create with ``parent_id`` is born linked."""
    parent = open_ids(sb, 1)[0]
    created = post(api, {"summary": "follow-up", "parent_id": parent}).json()
    assert created["parent_id"] == parent
    assert ticket(api, parent)["child_ticket_ids"] == [created["id"]]


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"parent_id": "self"}, "Ticket {c} cannot be its own parent"),
        ({"parent_id": 999999}, "Ticket 999999 not found"),
        ({"parent_id": -3}, "Ticket -3 not found"),
        ({"parent_id": "deleted"}, "Ticket {d} not found"),
    ],
)
def test_link_refusals(
    api: httpx.Client, sb: SandboxServer, element: dict[str, Any], message: str
) -> None:
    """A parent that is the ticket itself, unknown or deleted: Halo's business-rule 400
    naming the ticket; nothing in the request is applied."""
    other, child, gone = open_ids(sb, 3)
    assert api.delete(f"/api/Tickets/{gone}").status_code == 200
    value = {"self": child, "deleted": gone}.get(element["parent_id"], element["parent_id"])
    response = post(api, {"id": other, "parent_id": child}, {"id": child, "parent_id": value})
    assert response.status_code == 400
    assert dotnet_message(response) == message.format(c=child, d=gone)
    assert ticket(api, other)["parent_id"] == 0 and ticket(api, child)["parent_id"] == 0
    assert sb.counters["tickets_linked"] == 0


# ---------------------------------------------------------------- merges


def test_merge_copies_actions_notes_and_closes(
    api: httpx.Client, sb: SandboxServer, clock: FakeClock
) -> None:
    """``merged_into_id: S, domerge: true``: C's actions are copied onto S with new ids and
    ``merged_from_ticketid: C``, S gets one private note, C is closed with
    ``merged_into_id: S`` and stays readable; ``domerge`` is not stored."""
    survivor, child = open_ids(sb, 2)
    note(api, child, "first on the child")
    note(api, child, "second on the child")
    note(api, survivor, "already on the survivor")
    clock.advance(minutes=7)
    response = post(api, {"id": child, "merged_into_id": survivor, "domerge": True})
    assert response.status_code == 201
    now = format_halo_date(NOW.replace(minute=7))
    merged = ticket(api, child)
    assert merged["merged_into_id"] == survivor and "domerge" not in merged
    assert merged["status_id"] == ref.CLOSED_STATUS and merged["hasbeenclosed"] is True
    assert merged["dateclosed"] == now and merged["last_update"] == now
    assert row(api, child)["merged_into_id"] == survivor
    assert [a["note"] for a in actions(api, child)] == ["first on the child", "second on the child"]
    on_survivor = actions(api, survivor)
    assert [a["id"] for a in on_survivor] == [1, 2, 3, 4]
    assert [(a["note"], a.get("merged_from_ticketid")) for a in on_survivor] == [
        ("already on the survivor", None),
        ("first on the child", child),
        ("second on the child", child),
        (f"Ticket #{child} merged into this ticket", None),
    ]
    assert all(a["ticket_id"] == survivor for a in on_survivor)
    assert on_survivor[1]["datetime"] == actions(api, child)[0]["datetime"]
    last = on_survivor[-1]
    assert last["hiddenfromuser"] is True and last["datetime"] == now
    assert last["outcome"] == "Internal Note" and last["who"] == "API User"
    shown = ticket(api, survivor)
    assert shown["status_id"] != ref.CLOSED_STATUS and shown["merged_into_id"] == 0
    assert shown["lastactiondate"] == now and shown["last_update"] == now
    assert sb.counters["tickets_merged"] == 1 and sb.counters["tickets_linked"] == 0


def test_merge_of_a_ticket_without_actions_or_already_closed(
    api: httpx.Client, sb: SandboxServer
) -> None:
    """A closed ticket with no actions merges too: it stays closed (its close date kept) and
    the survivor gets only the note."""
    survivor = open_ids(sb, 1)[0]
    closed = next(i for i, t in sb.state.tickets.items() if t["status_id"] == ref.CLOSED_STATUS)
    was = ticket(api, closed)["dateclosed"]
    assert post(api, {"id": closed, "merged_into_id": survivor, "domerge": True}).is_success
    assert ticket(api, closed)["dateclosed"] == was != UNSET_DATE
    assert [a["note"] for a in actions(api, survivor)] == [
        f"Ticket #{closed} merged into this ticket"
    ]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("self", "Ticket {c} cannot be merged into itself"),
        ("missing", "Ticket 999999 not found"),
        ("deleted", "Ticket {x} not found"),
        ("child merged", "Ticket {c} has already been merged into ticket {x}"),
        ("target merged", "Ticket {s} has already been merged into ticket {x}"),
    ],
)
def test_merge_refusals(api: httpx.Client, sb: SandboxServer, case: str, message: str) -> None:
    """Into itself, into an unknown or deleted ticket, of a ticket already merged, or into a
    merged ticket: Halo's business-rule 400 naming the ticket; nothing applied."""
    survivor, child, extra = open_ids(sb, 3)
    note(api, child, "on the child")
    if case == "deleted":
        assert api.delete(f"/api/Tickets/{extra}").status_code == 200
    if case == "child merged":
        assert post(api, {"id": child, "merged_into_id": extra, "domerge": True}).is_success
    if case == "target merged":
        assert post(api, {"id": survivor, "merged_into_id": extra, "domerge": True}).is_success
    target = {"self": child, "missing": 999999, "deleted": extra}.get(case, survivor)
    before = {i: actions(api, i) for i in (survivor, extra)}
    response = post(api, {"id": child, "merged_into_id": target, "domerge": True})
    assert response.status_code == 400
    assert dotnet_message(response) == message.format(c=child, s=survivor, x=extra)
    assert {i: actions(api, i) for i in before} == before
    if case not in ("child merged",):
        assert ticket(api, child)["merged_into_id"] == 0
        assert ticket(api, child)["status_id"] != ref.CLOSED_STATUS


@pytest.mark.parametrize("domerge", [None, False, "absent"])
def test_merged_into_id_without_domerge_is_ignored(
    api: httpx.Client, sb: SandboxServer, domerge: Any
) -> None:
    """Without ``domerge: true`` a ``merged_into_id`` is stored nowhere and merges nothing
    (the other fields of the write still apply)."""
    survivor, child = open_ids(sb, 2)
    note(api, child, "on the child")
    element = {"id": child, "merged_into_id": survivor, "summary": "renamed"}
    if domerge != "absent":
        element["domerge"] = domerge
    assert post(api, element).status_code == 201
    shown = ticket(api, child)
    assert shown["summary"] == "renamed" and shown["merged_into_id"] == 0
    assert shown["status_id"] != ref.CLOSED_STATUS and "domerge" not in shown
    assert actions(api, survivor) == []
    assert sb.counters["tickets_merged"] == 0


def test_a_create_never_merges(api: httpx.Client, sb: SandboxServer) -> None:
    """A create carrying a merge is created, unmerged."""
    survivor = open_ids(sb, 1)[0]
    created = post(api, {"summary": "x", "merged_into_id": survivor, "domerge": True}).json()
    assert created["merged_into_id"] == 0 and actions(api, survivor) == []


def test_partial_commit_counts_the_links_it_kept(sandbox_factory: Factory) -> None:
    """With ``partial_commit`` the elements before a refused one land, and are counted."""
    sb = sandbox_factory(tickets=20, partial_commit=True)
    parent, child = open_ids(sb, 2)
    with authed(sb) as api:
        response = post(api, {"id": child, "parent_id": parent}, {"id": child, "parent_id": 9999})
        assert response.status_code == 400
        assert ticket(api, child)["parent_id"] == parent
    assert sb.counters["tickets_linked"] == 1


def test_links_and_merges_survive_a_saved_state(sandbox_factory: Factory, tmp_path: Path) -> None:
    """The state file keeps parent_id and merged_into_id; a state saved before the fields
    existed loads with them at 0."""
    path = tmp_path / "state.json"
    sb = sandbox_factory(tickets=20, state_file=path)
    parent, child = open_ids(sb, 2)
    with authed(sb) as api:
        assert post(api, {"id": child, "parent_id": parent}).is_success
    sb.stop()
    data = json.loads(path.read_text())
    assert next(t for t in data["tickets"] if t["id"] == child)["parent_id"] == parent
    for t in data["tickets"]:
        del t["parent_id"], t["merged_into_id"]
    loaded = SandboxState.from_json(data)
    assert {(t["parent_id"], t["merged_into_id"]) for t in loaded.tickets.values()} == {(0, 0)}


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_merge_updates_both_tickets_for_webhooks(
    sandbox_factory: Factory, hooks: Receiver
) -> None:
    """A merge is "Ticket Updated" for the merged ticket and for the survivor (it got
    actions); the merged one's payload shows it merged, the survivor's its child count."""
    sb = sandbox_factory(tickets=20)
    survivor, child = open_ids(sb, 2)
    delivery = sb.deliver_webhooks(hooks.url)
    assert delivery is not None
    with authed(sb) as api:
        assert post(api, {"id": child, "merged_into_id": survivor, "domerge": True}).is_success
    assert delivery.wait_for(2)
    got = [(b["event"], b["ticket"]["id"], b["ticket"]["merged_into_id"]) for _, b in hooks.got]
    assert got == [("Ticket Updated", child, survivor), ("Ticket Updated", survivor, 0)]
    assert "child_count" in hooks.got[1][1]["ticket"]
