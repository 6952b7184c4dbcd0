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
from halo_automate.core.actions.base import PlaybookAction
from halo_automate.core.conditions import fields_of
from halo_automate.core.plan import TicketChange
from halo_automate.core.playbook import Playbook
from halo_automate.errors import HaloNotFoundError
from halo_automate.halo.client import HaloClient


def playbook_reads_custom_fields(playbook: Playbook) -> bool:
    """Whether planning the playbook needs each ticket's custom fields."""
    if any(customfields.is_where_field(f) for f in fields_of(playbook.where)):
        return True
    return any(_sets_custom(a) for a in playbook.actions)


def _sets_custom(action: PlaybookAction) -> bool:
    spec = action.spec
    return action.kind == "set" and isinstance(spec, dict) and customfields.ARRAY in spec


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
) -> None:
    """Give the re-read tickets of ``changes`` that write custom fields their array."""
    for change in changes:
        ticket = current.get(change.ticket_id)
        if ticket is None or not writes_custom_fields(change):
            continue
        array = _array(client, change.ticket_id)
        if array is not None:
            current[change.ticket_id] = {**ticket, customfields.ARRAY: array}


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
