"""What a refusal by Halo's permissions means, and what to grant: one line per refusal.

Real Halo (FACTS.md §9.3) refuses in two ways:

* **403 with an empty body** when the API application's permissions, or the role of the agent
  it logs in as, do not allow an endpoint (effective rights are the application's permissions
  intersected with the agent's role; FACTS.md §1.2). Nothing in the answer says which
  permission is missing, so :data:`PERMISSIONS` maps each endpoint the program uses to the
  Halo permission (scope) that covers it, from the scope names HaloAPI knows (FACTS.md §1.2).
  Which scope covers the ticket lookups (statuses, agents, teams ...) is not documented:
  ``read:tickets`` is our best reading, and the message always says to check the agent's role
  too.
* **400 "You do not have access to this Action at the moment"** for an action posted with an
  outcome the agent may not use (CIPP PR #106): a refusal of that one element, so only that
  ticket fails; :func:`explain_refusal` adds which outcome and what to change.

:func:`permission_message` is the text of :class:`~halo_automate.errors.HaloPermissionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

OUTCOME_REFUSED = "You do not have access to this Action at the moment"
"""Halo's 400 text for an outcome the agent may not use (CIPP PR #106)."""

WHERE = "Configuration > Integrations > Halo API > the application > Permissions"

PERMISSIONS: Mapping[str, str] = MappingProxyType(
    {
        "GET /api/Tickets": "read:tickets",
        "POST /api/Tickets": "edit:tickets",
        "DELETE /api/Tickets": "edit:tickets",
        "GET /api/Actions": "read:tickets",
        "POST /api/Actions": "edit:tickets",
        "DELETE /api/Actions": "edit:tickets",
        "GET /api/Status": "read:tickets",
        "GET /api/Category": "read:tickets",
        "GET /api/TicketType": "read:tickets",
        "GET /api/Team": "read:tickets",
        "GET /api/Agent": "read:tickets",
        "GET /api/Priority": "read:tickets",
        "GET /api/Outcome": "read:tickets",
        "GET /api/Client": "read:customers",
        "GET /api/Site": "read:customers",
        "GET /api/Users": "read:customers",
        "GET /api/InstanceInfo": "admin",
    }
)
"""``METHOD /api/Resource`` -> the Halo permission (scope) that allows it."""


def base_endpoint(endpoint: str) -> str:
    """``GET /api/Tickets/{id}`` -> ``GET /api/Tickets`` (the permission is per resource)."""
    method, _, path = endpoint.partition(" ")
    parts = path.split("/")
    return f"{method} {'/'.join(parts[:3])}" if len(parts) > 3 else endpoint


def permission_for(endpoint: str) -> str:
    """The permission to grant for ``endpoint`` (``read:``/``edit:`` of its area)."""
    found = PERMISSIONS.get(base_endpoint(endpoint))
    if found is not None:
        return found
    return "read:tickets" if endpoint.startswith("GET ") else "edit:tickets"


def permission_message(endpoint: str) -> str:
    """One line: who refused, what to grant, where."""
    return (
        f"the API application may not use {endpoint}: add '{permission_for(endpoint)}' to "
        f"its scopes ({WHERE}) and give the agent it logs in as a role that allows it (the "
        "client id and secret were accepted)"
    )


def explain_refusal(message: str, element: Mapping[str, Any]) -> str:
    """Halo's per-element 400 text, plus what to change when it is a permission refusal."""
    if OUTCOME_REFUSED.casefold() not in message.casefold():
        return message
    outcome = element.get("outcome_id", element.get("outcome", "?"))
    return (
        f"{message} (POST /api/Actions: the API application's agent may not use outcome "
        f"{outcome}; allow that outcome for the agent's role, or choose another outcome)"
    )
