"""The reads custom fields cost: one ``GET /api/Tickets/{id}`` per ticket.

Halo's ticket list does not carry a ticket's ``customfields`` (the list's
``include_custom_fields`` takes field ids and is known from one client only, FACTS §2.3), and
a write must send the whole array (:mod:`halo_automate.core.customfields`). So:

* planning a playbook that tests or sets custom fields reads each listed ticket that the
  select re-check keeps (:func:`with_custom_fields`, one request per ticket);
* apply's stale check and read-back, and recovery's read-back, read each ticket whose change
  writes custom fields (:func:`read_custom_fields`, one request per ticket, counted by
  :func:`~halo_automate.core.plan.requests_needed`); recovery re-sends a custom field in the
  planned whole array (:func:`resend_values`).

A ticket that cannot be read keeps its list row: its custom fields are then unknown (the
planner does not evaluate it; the stale check skips it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from halo_automate.core import customfields
from halo_automate.core.plan import TicketChange
from halo_automate.errors import HaloNotFoundError
from halo_automate.halo.client import HaloClient


def with_custom_fields(
    client: HaloClient, tickets: Iterable[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """The listed tickets, each with its ``customfields`` read from its detail."""
    for ticket in tickets:
        if customfields.ARRAY in ticket or not isinstance(ticket.get("id"), int):
            yield ticket
            continue
        array = _array(client, ticket["id"])
        yield ticket if array is None else {**ticket, customfields.ARRAY: array}


def read_custom_fields(
    client: HaloClient,
    current: MutableMapping[int, Any],
    changes: Iterable[TicketChange],
    every: bool = False,
) -> None:
    """Give the re-read tickets of ``changes`` that write custom fields (``every``: all of
    them, for a re-derivation whose ``where`` reads custom fields) their array."""
    read_arrays(client, current, [c.ticket_id for c in changes if every or writes_custom_fields(c)])


def read_arrays(
    client: HaloClient, current: MutableMapping[int, Any], ticket_ids: Iterable[int]
) -> None:
    """Give these re-read tickets their custom field array (one read each; a ticket that
    cannot be read keeps its list row, its custom fields unknown)."""
    for ticket_id in ticket_ids:
        ticket = current.get(ticket_id)
        if ticket is None:
            continue
        array = _array(client, ticket_id)
        if array is not None:
            current[ticket_id] = {**ticket, customfields.ARRAY: array}


def resend_values(
    change: TicketChange, ticket: Mapping[str, Any], values: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """A re-send's ticket values (recovery): custom fields ride in the planned whole array;
    (values, why not) when another custom field moved since the plan (never clobbered)."""
    if not any(customfields.is_plan_field(n) for n in values):
        return values, None
    why = customfields.others_moved(change.ticket_update, ticket)
    if why is not None:
        return values, why
    planned = change.ticket_update.get(customfields.ARRAY)
    return {**values, customfields.ARRAY: planned}, None


def writes_custom_fields(change: TicketChange) -> bool:
    return any(customfields.is_plan_field(n) for n in change.fields)


def _array(client: HaloClient, ticket_id: int) -> list[Any] | None:
    try:
        detail = client.get_ticket(ticket_id)
    except HaloNotFoundError:
        return None
    array = detail.get(customfields.ARRAY)
    return array if isinstance(array, list) else None
