"""Before a run closes tickets: which closes Halo will refuse for missing mandatory fields.

Halo refuses a close when the ticket's type requires fields the ticket lacks ("Details and
Category were required", HaloAPI #21; FACTS §9.4). Where the API application may read a ticket
type's field settings (``GET /api/TicketType/{id}?includedetails=true``: ``fields`` with
``fieldinfo.mandatory``), the preview warns, ticket by ticket, before anything is written;
where it may not (403, or no ``fields`` in the answer), nothing is claimed. The apply itself
still reports each refused ticket with Halo's message while the rest of the batch lands
(:mod:`halo_automate.engine.batches`). Reads only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from halo_automate.core.plan import Plan, TicketChange
from halo_automate.core.values import field_value
from halo_automate.errors import HaloError
from halo_automate.halo.client import HaloClient

_UNSET = (None, "", 0, "1900-01-01T00:00:00")


def closes(change: TicketChange) -> bool:
    """Whether the change posts a close."""
    return any(action.kind == "close" for action in change.actions)


def missing_fields(
    ticket: Mapping[str, Any], change: TicketChange, mandatory: tuple[str, ...]
) -> list[str]:
    """The mandatory fields the ticket will still lack once the plan's values are written."""
    after = {name: fc.after for name, fc in change.fields.items()}
    return [name for name in mandatory if after.get(name, field_value(ticket, name)) in _UNSET]


def close_warnings(client: HaloClient, plan: Plan) -> list[str]:
    """One line per ticket whose close Halo will refuse for missing mandatory fields."""
    closing = [c for c in plan.changes if closes(c)]
    if not closing:
        return []
    try:
        tickets = {t["id"]: t for t in client.tickets_by_ids([c.ticket_id for c in closing])}
        settings: dict[int, tuple[str, ...] | None] = {}
        lines = []
        for change in closing:
            ticket = tickets.get(change.ticket_id)
            type_id = ticket.get("tickettype_id") if ticket else None
            if not isinstance(type_id, int):
                continue
            if type_id not in settings:
                settings[type_id] = client.ticket_type_mandatory(type_id)
            mandatory = settings[type_id]
            lacking = missing_fields(ticket or {}, change, mandatory or ())
            if lacking:
                lines.append(
                    f"ticket {change.ticket_id}: its ticket type {type_id} requires "
                    f"{', '.join(lacking)} on close; Halo will refuse the close"
                )
        return lines
    except HaloError as e:
        return [f"could not check the ticket types' mandatory fields: {e}"]
