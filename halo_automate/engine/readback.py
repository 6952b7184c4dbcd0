"""Reading back writes whose outcome is unknown: did each land, not land, or did someone else
change the ticket meanwhile (:meth:`~halo_automate.engine.batches.ApplyRun` settles them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from halo_automate.engine.custom_reads import read_custom_fields
from halo_automate.engine.rows import Write
from halo_automate.engine.writes import Verdict, find_marked, ticket_verdict
from halo_automate.halo.client import HaloClient


def read_back(client: HaloClient, writes: Sequence[Write]) -> dict[int, tuple[Verdict, object]]:
    """For each write (by ``id``): landed (with the action found), absent, or changed."""
    out: dict[int, tuple[Verdict, object]] = {}
    tickets = [w for w in writes if w.kind == "ticket"]
    if tickets:
        ids = sorted({w.ticket_id for w in tickets})
        current = {t["id"]: t for t in client.tickets_by_ids(ids)}
        read_custom_fields(client, current, (w.change for w in tickets))
        for w in tickets:
            out[id(w)] = ticket_verdict(w.change.fields, w.body, current.get(w.ticket_id))
    listed: dict[int, list[dict[str, Any]]] = {}
    for write in writes:
        if write.kind == "ticket":
            continue
        if write.ticket_id not in listed:
            listed[write.ticket_id] = client.list_actions(write.ticket_id)
        actions = listed[write.ticket_id]
        if write.kind == "action":
            found = find_marked(actions, str(write.body.get("note", "")))
            out[id(write)] = ("landed", found) if found is not None else ("absent", None)
        else:
            present = any(a.get("id") == write.action_id for a in actions)
            out[id(write)] = ("absent", None) if present else ("landed", None)
    return out
