"""The Halo field and parameter catalogue shipped with the package (pure; no HTTP).

Derived from Halo's OpenAPI document by ``tools/derive_halo_fields.py``. Besides the schemas,
it records which keys a ticket list row carries (FACTS §9.2: real list rows omit unset fields):

* :data:`ALWAYS_IN_LIST_ROWS` — keys every list row carries, set or not (an unassigned ticket
  has ``agent_id: 0``); a row without one is odd, so a condition on it is *unknown*;
* :data:`NOT_IN_LIST_ROWS` — ``Faults_List`` fields that list rows do not carry as fetched
  (``details`` needs ``includedetails``); a condition on one is refused at load time;
* every other list-row field is carried when set: a missing key means unset.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

# Parameters the client owns: a playbook may not set them.
PAGING_PARAMS = frozenset(
    {"pageinate", "page_size", "page_no", "count", "order", "orderdesc", "ticketidonly"}
)

ALWAYS_IN_LIST_ROWS = frozenset(
    {
        "id", "summary", "status_id", "tickettype_id", "priority_id", "client_id", "site_id",
        "user_id", "agent_id", "dateoccurred", "lastactiondate",
    }
)  # fmt: skip

NOT_IN_LIST_ROWS: dict[str, str] = {
    "details": (
        "Halo's ticket list rows carry 'details' only with includedetails, which a scan does not "
        "request: match on summary instead, or use the select filter search_details"
    ),
}
"""List-row fields a scan does not receive -> why, and what to use instead."""


@cache
def _catalogue() -> dict[str, Any]:
    text = resources.files("halo_automate.core").joinpath("halo_fields.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def ticket_params() -> dict[str, dict[str, Any]]:
    """``GET /api/Tickets`` query parameters: name -> {type, id_list}."""
    params: dict[str, dict[str, Any]] = _catalogue()["ticket_params"]
    return params


def ticket_list_fields() -> dict[str, str]:
    """Fields of a ticket list row (``Faults_List``): name -> type."""
    fields: dict[str, str] = _catalogue()["ticket_list_fields"]
    return fields


def ticket_fields() -> dict[str, str]:
    """Fields of a full ticket (``Faults``): name -> type."""
    fields: dict[str, str] = _catalogue()["ticket_fields"]
    return fields


def action_fields() -> dict[str, str]:
    """Fields of an action body (``Actions``): name -> type."""
    fields: dict[str, str] = _catalogue()["action_fields"]
    return fields
