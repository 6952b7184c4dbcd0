"""The sandbox's custom fields, as Halo returns them, and the partial-array trap.

Every ticket carries the same three custom fields (a real ticket type lists its fields on
every ticket of the type), each object shaped as Halo returns it: ``id``, ``name`` (the
internal ``CF…`` name), ``label``, ``type``, ``value`` and ``display`` (FACTS §2.4). The seed
fills some values (:func:`seed`: deterministic from the seed and the ticket id), leaving
``Contract Ref`` empty on some open tickets for a playbook to fill.

Only the single-ticket view shows them: list rows leave ``customfields`` out (the list takes
per-field ids in ``include_custom_fields``, FACTS §2.3; the sandbox does not honour it).

A write: ``POST /api/Tickets`` with ``customfields`` sets each posted entry (found by ``id``
or ``name``) and BLANKS every field the array does not name, as HaloAPI issue #13 reports of
the real Halo (:func:`merge_posted`). An entry naming no field Halo knows is a 400.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from halo_automate.sandbox.replies import model_error
from halo_automate.sandbox.state import Record, SandboxState

FIELDS: tuple[Record, ...] = (
    {"id": 101, "name": "CFContractRef", "label": "Contract Ref", "type": 0},
    {"id": 102, "name": "CFSiteCode", "label": "Site Code", "type": 0},
    {"id": 103, "name": "CFBillingCode", "label": "Billing Code", "type": 0},
)
SHARES = {101: 0.6, 102: 0.7, 103: 0.5}
"""The share of tickets whose seed fills each field."""


def entry(field: Record, value: Any) -> Record:
    text = "" if value is None else str(value)
    return {**field, "value": text, "display": text}


def blank() -> list[Record]:
    """The fields of a ticket created through the API: all empty."""
    return [entry(f, "") for f in FIELDS]


def seed(state: SandboxState) -> None:
    """Fill the seeded tickets' custom fields (same values for the same seed)."""
    rng = random.Random(f"customfields-{state.seed}")
    for ticket_id in sorted(state.tickets):
        values = []
        for field in FIELDS:
            filled = rng.random() < SHARES[field["id"]]
            code = rng.randrange(1000, 9999)
            prefix = {101: "C-", 102: "S", 103: "B"}[field["id"]]
            values.append(entry(field, f"{prefix}{code}" if filled else ""))
        state.tickets[ticket_id]["customfields"] = values


def merge_posted(base: Any, posted: Any, path: Callable[[str], str]) -> list[Record]:
    """The ticket's array after a write of ``posted``: named fields set, the rest BLANKED."""
    current = base if isinstance(base, list) else blank()
    if not isinstance(posted, list):
        where = path("customfields")
        raise model_error(where, f"Cannot deserialize the current JSON object. Path '{where}'.")
    wanted: dict[int, Any] = {}
    for index, item in enumerate(posted):
        where = f"{path('customfields')}[{index}]"
        if not isinstance(item, dict):
            raise model_error(where, f"Unexpected value. Path '{where}'.")
        found = next(
            (
                f
                for f in current
                if (item.get("id") is not None and str(f["id"]) == str(item.get("id")))
                or (item.get("name") and f["name"] == item.get("name"))
            ),
            None,
        )
        if found is None:
            raise model_error(f"{where}.id", f"Custom field {item.get('id')!r} not found.")
        wanted[found["id"]] = item.get("value")
    return [
        entry({k: f[k] for k in ("id", "name", "label", "type")}, wanted.get(f["id"], ""))
        for f in current
    ]


def counts(state: SandboxState) -> dict[str, int]:
    """Filled values per field label over live tickets (for tests and closing figures)."""
    out: dict[str, int] = {f["label"]: 0 for f in FIELDS}
    for ticket in state.tickets.values():
        for item in ticket.get("customfields") or []:
            if item.get("value"):
                out[item["label"]] += 1
    return out
