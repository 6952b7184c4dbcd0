"""Routes and shapes other Halo clients depend on, so the sandbox serves the ecosystem.

halo_automate itself needs few of these; the PowerShell module HaloAPI, CIPP, n8n and the
``halopsa`` package call them (FACTS.md §9.6, from their public code), and a sandbox that
answers them 404 would fail those clients where real Halo does not:

* ``GET /api/Priority``: one ``Policy`` row per (SLA, priority), ``id`` a GUID string,
  ``priorityid`` the integer, ``slaid`` the SLA; ``?slaid=`` filters; ``GET /api/Priority/{id}``
  takes the GUID, and anything else is an empty 404 (the HC probe: ``/Priority/probe`` 404)
  (FACTS.md §9.1);
* ``GET /api/Lookup?lookupid=N`` (HaloAPI ``Connect-HaloAPI`` reads lookupid 11);
* ``GET /api/Agent/me`` (with a ``claims`` list, as HC captured) and ``GET /api/Users/me``;
* ``GET /api/Agent`` answers ``{"record_count", "results": [...]}`` when paging parameters
  are sent, a bare array otherwise (HC);
* ``GET /api/Actions`` with ``startdate``/``enddate`` and no ``ticket_id`` (the halopsa
  package), filtered on the action's ``datetime``;
* ``GET /api/TicketType/{id}?includedetails=true`` with the type's ``fields`` and their
  ``mandatory`` setting (SW2 ``RequestTypeField.fieldinfo``; FACTS.md §9.4);
* ``GET /api/InstanceInfo``: ``app_version``, ``database_version``, ``hosted_group``
  (FACTS.md §9.8).
"""

from __future__ import annotations

from collections.abc import Callable

from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.query import Params, date_param, page
from halo_automate.sandbox.replies import Reply, empty, not_valid
from halo_automate.sandbox.state import Record, SandboxState

Handler = Callable[[str, Params, bytes], Reply]
_PAGING = ("pageinate", "page_size", "page_no")


def agent_me() -> Record:
    """The agent the API application logs in as, with its claims (HC's ``/Agent/me``)."""
    return {**ref.AGENTS[0], "claims": [{"type": "role", "value": "API"}], "is_api_agent": True}


def routes(state: SandboxState) -> dict[tuple[str, str, bool], Handler]:
    """The handlers this module adds or replaces, keyed as :class:`HaloApi`'s table."""

    def priorities(_: str, params: Params, body: bytes) -> Reply:
        slaid = params.get_int("slaid")
        return Reply(200, [p for p in ref.PRIORITIES if slaid is None or p["slaid"] == slaid])

    def priority(ident: str, params: Params, body: bytes) -> Reply:
        found = [p for p in ref.PRIORITIES if p["id"] == ident.lower()]
        return Reply(200, found[0]) if found else empty(404)

    def lookup(_: str, params: Params, body: bytes) -> Reply:
        wanted = params.get_int("lookupid")
        if wanted is None:
            return Reply(200, [r for rows in ref.LOOKUP_LISTS.values() for r in rows])
        return Reply(200, ref.LOOKUP_LISTS.get(wanted, []))

    def user(ident: str, params: Params, body: bytes) -> Reply:
        if ident.lower() == "me":
            return Reply(200, state.users[0])
        try:
            wanted = int(ident)
        except ValueError:
            raise not_valid("id", ident) from None
        found = state.users_by_id.get(wanted)
        return Reply(200, found) if found else empty(404)

    def agents(_: str, params: Params, body: bytes) -> Reply:
        if not any(params.get(k) is not None for k in _PAGING):
            return Reply(200, ref.AGENTS)
        shown, extra = page(ref.AGENTS, params)
        return Reply(200, {"record_count": len(ref.AGENTS), **extra, "results": shown})

    def ticket_type(ident: str, params: Params, body: bytes) -> Reply:
        try:
            wanted = int(ident)
        except ValueError:
            raise not_valid("id", ident) from None
        found = next((t for t in ref.TICKET_TYPES if t["id"] == wanted), None)
        if found is None:
            return empty(404)
        if not params.get_bool("includedetails"):
            return Reply(200, found)
        return Reply(200, {**found, "fields": type_fields(state, wanted)})

    def instance_info(_: str, params: Params, body: bytes) -> Reply:
        return Reply(200, ref.INSTANCE_INFO)

    return {
        ("priority", "GET", False): priorities,
        ("priority", "GET", True): priority,
        ("lookup", "GET", False): lookup,
        ("users", "GET", True): user,
        ("agent", "GET", False): agents,
        ("tickettype", "GET", True): ticket_type,
        ("instanceinfo", "GET", False): instance_info,
    }


def type_fields(state: SandboxState, type_id: int) -> list[Record]:
    """A ticket type's field rows: ``fieldname`` and ``fieldinfo.mandatory`` (1 or 0)."""
    required = state.behaviour.mandatory.get(type_id, ())
    names = dict.fromkeys([*ref.FIELD_LABELS, *required])
    return [
        {
            "id": n,
            "rtid": type_id,
            "fieldid": n,
            "fieldname": name,
            "fieldinfo": {
                "name": name,
                "label": ref.FIELD_LABELS.get(name, name),
                "mandatory": 1 if name in required else 0,
            },
        }
        for n, name in enumerate(names, start=1)
    ]


def actions_between(state: SandboxState, params: Params) -> list[Record]:
    """Every live ticket's actions whose ``datetime`` lies in [startdate, enddate]; none when
    neither bound is given (Halo wants a ticket or a range)."""
    start, end = date_param(params, "startdate"), date_param(params, "enddate")
    if start is None and end is None:
        return []
    low, high = start or "1900", end or "9999"
    rows: list[Record] = []
    for ticket_id, actions in state.actions.items():
        if state.live_ticket(ticket_id) is None:
            continue
        rows += [a for a in actions if low <= str(a.get("datetime", "")) <= high]
    return sorted(rows, key=lambda a: (str(a.get("datetime", "")), a["ticket_id"], a["id"]))


__all__ = ["actions_between", "agent_me", "routes", "type_fields"]
