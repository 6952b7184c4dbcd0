"""The Halo field and parameter catalogue shipped with the package (pure; no HTTP).

Derived from Halo's OpenAPI document by ``tools/derive_halo_fields.py``.
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
