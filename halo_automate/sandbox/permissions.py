"""The sandbox's model of Halo's permissions: what the API application and its agent may do.

Real Halo (FACTS.md §9.3):

* answers **403 with an empty body** when the API application's permissions or the role of the
  agent it logs in as do not allow an endpoint (MSPbots' "Halo API Connection Failed ... 403";
  the HC sweep's ``/Timesheet/mine``); effective rights are the application's permissions
  intersected with the agent's role (n8n's credentials docs);
* refuses an action whose outcome the agent may not use with **400 "You do not have access to
  this Action at the moment"** (CyberDrain/CIPP PR #106, where CIPP's notes were silently
  lost), the serialized .NET exception of a business rule (FACTS.md §5.2);
* does not let a ticket be assigned to an **API-only agent** (Halo's runbooks guide); the agent
  the sandbox's application logs in as (``reference.API_AGENT``) is one. The exact text of that
  refusal is not public: the sandbox's is its own.

:class:`Permissions` holds the application's denied endpoints (``--deny "POST /api/Actions"``,
``--deny Priority`` for every verb) and the outcomes its agent may use
(``--allowed-outcomes 1,Internal Note``; default every outcome). The server asks
:meth:`Permissions.forbids` after the bearer check and :meth:`Permissions.refusal` before a
write is applied (a refused batch applies nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import Reply, dotnet_error
from halo_automate.sandbox.state import SandboxState

OUTCOME_REFUSED = "You do not have access to this Action at the moment"
API_AGENT_REFUSED = "Tickets cannot be assigned to an API-only Agent"
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "*"})
_NAMES = {n.lower(): n for n in ("Tickets", "Actions", "Status", "Category", "TicketType", "Team",
                                 "Agent", "Outcome", "Priority", "Client", "Site", "Users",
                                 "InstanceInfo")}  # fmt: skip


def parse_rule(text: str) -> tuple[str, str]:
    """``"POST /api/Actions"`` -> ``("POST", "actions")``; ``"Priority"`` -> ``("*", ...)``."""
    words = text.split()
    if len(words) == 1:
        method, path = "*", words[0]
    elif len(words) == 2:
        method, path = words[0].upper(), words[1]
    else:
        raise ValueError(f"not an endpoint rule: {text!r} (try 'POST /api/Actions' or 'Agent')")
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r} in {text!r}")
    parts = [p for p in path.split("/") if p]
    if parts[:1] and parts[0].lower() == "api":
        parts = parts[1:]
    if len(parts) != 1 or not parts[0].replace("_", "").isalnum():
        raise ValueError(f"not an /api resource: {text!r} (try 'GET /api/Agent')")
    return method, parts[0].lower()


@dataclass(frozen=True)
class Permissions:
    """What the API application may not call, and which outcomes its agent may use."""

    denied: frozenset[tuple[str, str]] = frozenset()
    allowed_outcomes: frozenset[int] | None = None  # None: every outcome

    @classmethod
    def of(
        cls, deny: Iterable[str] = (), allowed_outcomes: Iterable[str] | None = None
    ) -> Permissions:
        """From the command line's texts; ValueError names a bad rule or outcome."""
        allowed = None if allowed_outcomes is None else frozenset(
            _outcome_id(o) for o in allowed_outcomes)  # fmt: skip
        return cls(frozenset(parse_rule(d) for d in deny), allowed)

    def forbids(self, method: str, lower: list[str]) -> bool:
        """Whether ``METHOD /api/<resource>[/id]`` is outside the application's permissions."""
        if len(lower) < 2 or lower[0] != "api":
            return False
        resource = lower[1]
        return (method, resource) in self.denied or ("*", resource) in self.denied

    def refusal(
        self, method: str, lower: list[str], body: bytes, state: SandboxState
    ) -> Reply | None:
        """The 400 Halo gives a write its agent may not make; None when it may."""
        if method != "POST" or len(lower) != 2 or lower[0] != "api":
            return None
        elements = _elements(body)
        if lower[1] == "actions" and self.allowed_outcomes is not None:
            for elem in elements:
                outcome = _posted_outcome(elem)
                if outcome is not None and outcome not in self.allowed_outcomes:
                    return dotnet_error(OUTCOME_REFUSED).reply
        if lower[1] == "tickets":
            for elem in elements:
                if _assigns_api_agent(elem, state):
                    return dotnet_error(API_AGENT_REFUSED).reply
        return None

    def describe(self) -> dict[str, Any]:
        """For the command's banner and ``GET /_sandbox/permissions``."""
        return {
            "deny": sorted(f"{m} /api/{_NAMES.get(r, r)}" for m, r in self.denied),
            "allowed_outcomes": None if self.allowed_outcomes is None
            else sorted(self.allowed_outcomes),
        }  # fmt: skip


def _outcome_id(text: str) -> int:
    wanted = text.strip()
    for outcome in ref.OUTCOMES:
        if wanted == str(outcome["id"]) or wanted.casefold() == outcome["outcome"].casefold():
            return int(outcome["id"])
    names = ", ".join(f"{o['id']} ({o['outcome']})" for o in ref.OUTCOMES)
    raise ValueError(f"unknown outcome {text!r}; the sandbox has {names}")


def _elements(body: bytes) -> list[dict[str, Any]]:
    """The body's objects; a body the API would refuse anyway gives none (it answers)."""
    try:
        data = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, dict)]


def _posted_outcome(elem: dict[str, Any]) -> int | None:
    value, text = elem.get("outcome_id"), elem.get("outcome")
    for outcome in ref.OUTCOMES:
        if isinstance(value, int) and not isinstance(value, bool) and value == outcome["id"]:
            return int(outcome["id"])
        if isinstance(text, str) and text.strip().casefold() == outcome["outcome"].casefold():
            return int(outcome["id"])
    return None


def _assigns_api_agent(elem: dict[str, Any], state: SandboxState) -> bool:
    agent = elem.get("agent_id")
    if isinstance(agent, bool) or agent != ref.API_AGENT:
        return False
    ticket_id = elem.get("id")
    ticket = state.tickets.get(ticket_id) if isinstance(ticket_id, int) else None
    return ticket is None or ticket.get("agent_id") != ref.API_AGENT
