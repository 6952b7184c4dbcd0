"""Parent/child links and merges of tickets: ``POST /api/Tickets`` with ``parent_id`` or
``merged_into_id`` + ``domerge``.

What is known (FACTS.md §9.12, marked [?] there): the ``Faults`` schema has ``parent_id``,
``child_count``, ``child_count_open``, ``child_ticket_ids``, ``merged_into_id`` and
``domerge``; ``Actions`` has ``merged_from_ticketid``. Rewst's docs say a child link can be
undone and a merge "can't be easily undone". Nothing else is verified: how a merge is
requested through the API, what it does to either ticket and what Halo refuses are the
sandbox's model, chosen to be strict where a client could do harm:

* **Link**: ``{"id": C, "parent_id": P}`` makes C a child of P; ``parent_id: 0`` unlinks.
  P must be a live ticket other than C, else the business-rule 400 ``Ticket P not found`` /
  ``Ticket C cannot be its own parent``. A parent's ``child_ticket_ids``, ``child_count`` and
  ``child_count_open`` are derived from its children's ``parent_id`` (writes to them are
  ignored); they show in the single-ticket view. A link is a write like any other
  (``last_update`` moves).
* **Merge**: ``{"id": C, "merged_into_id": S, "domerge": true}`` merges C into S. Refused
  (400, nothing applied) when S is C (``Ticket C cannot be merged into itself``), S is not a
  live ticket (``Ticket S not found``), S was itself merged (``Ticket S has already been
  merged into ticket X``) or C was already merged (``Ticket C has already been merged into
  ticket X``: a merge is done once, so a retried request copies nothing twice). The effect:
  C's actions are copied onto S (new ids on S, each copy carrying ``merged_from_ticketid: C``,
  its original dates kept), S gets one private note "Ticket #C merged into this ticket", and C
  gets ``merged_into_id: S`` and is closed (status Closed, ``hasbeenclosed``, ``dateclosed``
  now; the ticket type's close rules are not applied to a merge). C stays readable.
* ``merged_into_id`` without ``domerge: true`` (or on a create, or 0) stores nothing and is
  ignored; ``domerge`` is never stored (reads show no such key).

A multi-element request is validated against the tickets as they were before it (two merges
in one request are each checked alone).
"""

from __future__ import annotations

from typing import Any

from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import dotnet_error
from halo_automate.sandbox.state import Record, SandboxState

DERIVED = frozenset({"child_ticket_ids", "child_count", "child_count_open"})
"""Computed from the children's ``parent_id``: writes to them are ignored."""
MERGE_NOTE = "Ticket #{child} merged into this ticket"
_NOTE_OUTCOME = next(o for o in ref.OUTCOMES if o["outcome"] == "Internal Note")
_WHO = next(a["name"] for a in ref.AGENTS if a["id"] == ref.API_AGENT)


def check(state: SandboxState, base: Record, changes: Record) -> None:
    """Validate a write's ``parent_id`` and merge; leave in ``changes`` only what is stored
    (``merged_into_id`` stays only for a merge to carry out: see :func:`merge`)."""
    domerge = changes.pop("domerge", False) is True
    target = changes.pop("merged_into_id", 0)
    ticket_id = base["id"]  # 0: a create
    parent = changes.get("parent_id")
    if parent:
        if parent == ticket_id:
            raise dotnet_error(f"Ticket {ticket_id} cannot be its own parent")
        if state.live_ticket(parent) is None:
            raise dotnet_error(f"Ticket {parent} not found")
    if not (domerge and target and ticket_id):
        return
    if target == ticket_id:
        raise dotnet_error(f"Ticket {ticket_id} cannot be merged into itself")
    survivor = state.live_ticket(target)
    if survivor is None:
        raise dotnet_error(f"Ticket {target} not found")
    for who, ticket in ((target, survivor), (ticket_id, base)):
        if ticket.get("merged_into_id"):
            message = f"Ticket {who} has already been merged into ticket {ticket['merged_into_id']}"
            raise dotnet_error(message)
    changes["merged_into_id"] = target


def merge(state: SandboxState, ticket: Record, changes: Record, now: str) -> bool:
    """Carry out the merge a checked write asks for (after its changes were applied):
    copy the actions, note it on the survivor, close the merged ticket. False: no merge."""
    target_id = changes.get("merged_into_id")
    if not target_id:
        return False
    child_id = ticket["id"]
    survivor = state.tickets[target_id]
    copies = [
        {**action, "id": state.next_action_id(target_id), "ticket_id": target_id,
         "merged_from_ticketid": child_id}
        for action in state.actions.get(child_id, ())
    ]  # fmt: skip
    note = MERGE_NOTE.format(child=child_id)
    copies.append(
        {"id": state.next_action_id(target_id), "ticket_id": target_id,
         "outcome": _NOTE_OUTCOME["outcome"], "outcome_id": _NOTE_OUTCOME["id"], "note": note,
         "note_html": note, "hiddenfromuser": True, "sendemail": False, "who": _WHO,
         "datetime": now, "actiondatecreated": now}
    )  # fmt: skip
    state.actions[target_id].extend(copies)
    survivor["lastactiondate"] = survivor["last_update"] = now
    if ticket["status_id"] != ref.CLOSED_STATUS:
        ticket.update(status_id=ref.CLOSED_STATUS, hasbeenclosed=True, dateclosed=now)
        ticket["onhold"] = False
    return True


def children(state: SandboxState) -> dict[int, list[int]]:
    """Parent id -> its live children's ids, ascending (cached per state version)."""
    cached = state.derived.get("children")
    if cached is not None and cached[0] == state.version:
        return dict(cached[1])
    index: dict[int, list[int]] = {}
    for ticket_id, ticket in state.tickets.items():
        parent = ticket.get("parent_id")
        if parent and not ticket["deleted"]:
            index.setdefault(parent, []).append(ticket_id)
    state.derived["children"] = (state.version, index)
    return dict(index)


def family(state: SandboxState, ticket: Record) -> dict[str, Any]:
    """The derived parent fields of the single-ticket view."""
    kids = list(children(state).get(ticket["id"], ()))
    still_open = sum(1 for k in kids if state.tickets[k]["status_id"] != ref.CLOSED_STATUS)
    return {"child_ticket_ids": kids, "child_count": len(kids), "child_count_open": still_open}


def counts(changes: list[Record]) -> tuple[int, int]:
    """(links, merges) among a request's checked changes; an unlink counts as a link write."""
    links = sum(1 for c in changes if "parent_id" in c)
    merges = sum(1 for c in changes if c.get("merged_into_id"))
    return links, merges
