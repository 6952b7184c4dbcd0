"""``POST /api/Tickets`` and ``POST /api/Actions``: validate every element, then apply.

By default a request is all or nothing: the first invalid element answers 400 and nothing in
the request is applied. Real Halo's behaviour for a mixed array is unknown (FACTS.md §3.1,
§9.5), so the ``partial_commit`` behaviour keeps the elements before the bad one applied
(:attr:`Rejected.prepared` carries them). The error names the element by index as Halo does.
JSON ``null`` for a nullable field binds as "not sent" (872 of 890 ``Faults`` properties are
nullable; CIPP's create body sends ``"site_id": null``: FACTS.md §9.2); ``id`` is not
nullable. A close of a ticket whose type requires fields it lacks is refused with Halo's
"<fields> were required", a close of a type under change approval with the CAB refusal
``APP03/2`` (FACTS.md §9.4; which types require what is a sandbox option). Two error
shapes, as Halo sends them:

* model binding (wrong JSON type, unknown status/type/priority/agent/team/client/site/user
  id): ``{"[0].status_id": ["..."]}``;
* business rule (.NET exception body): unknown category text, unknown team name, unknown
  ticket/action id, missing outcome or ticket id.

Fields are typed by Halo's own catalogue (``halo/halo_fields.json``); fields Halo does not
know are ignored, as Newtonsoft ignores unknown members. Every other catalogue field is
stored as sent, so a later GET shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from halo_automate.core.dates import UNSET_DATE, format_halo_date, parse_halo_date
from halo_automate.core.fields import action_fields, ticket_fields
from halo_automate.sandbox import customfields, linking
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.data import new_ticket_record
from halo_automate.sandbox.replies import Rejected, dotnet_error, model_error
from halo_automate.sandbox.state import Record, SandboxState

_INT = re.compile(r"^\s*-?\d+\s*$")
# Computed by the server: writes to them are ignored.
_DERIVED = linking.DERIVED | {"id", "isnew", "status_name", "tickettype_name", "agent_name",
                              "priority", "hasbeenclosed", "deleted", "last_update"}  # fmt: skip
_DATE_FIELDS = frozenset(
    {"dateoccurred", "datecreated", "deadlinedate", "targetdate", "startdate", "fixbydate",
     "respondbydate", "dateclosed", "lastactiondate", "dateassigned"}
)  # fmt: skip
_REFERENCES: dict[str, Callable[[SandboxState], Iterable[int]]] = {
    "status_id": lambda s: (r["id"] for r in ref.STATUSES),
    "tickettype_id": lambda s: (r["id"] for r in ref.TICKET_TYPES),
    "priority_id": lambda s: ref.PRIORITY_IDS,
    "agent_id": lambda s: [0, *(r["id"] for r in ref.AGENTS)],
    "team_id": lambda s: [0, *(r["id"] for r in ref.TEAMS)],
    "client_id": lambda s: s.clients_by_id,
    "site_id": lambda s: s.sites_by_id,
    "user_id": lambda s: s.users_by_id,
}
# action field -> the ticket field it changes
ACTION_TICKET_FIELDS = {
    "new_status": "status_id",
    "new_team": "team",
    "new_agent": "agent_id",
    "new_priority": "priority_id",
    "new_tickettype": "tickettype_id",
    "new_category1": "category_1",
    "new_category2": "category_2",
    "new_category3": "category_3",
    "new_category4": "category_4",
}
_ACTION_KEEP = {"note": "string", "note_html": "string", "hiddenfromuser": "boolean",
                "sendemail": "boolean", "who": "string"}  # fmt: skip

PathOf = Callable[[str], str]


def coerce(value: Any, kind: str, path: str) -> Any:
    """Bind a JSON value to a catalogue type as Newtonsoft would; None means "not sent"
    (JSON null binds into a nullable field: FACTS.md §9.2)."""
    if value is None:
        return None
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.match(value):
            return int(value)
        raise model_error(path, f"Could not convert {_json(value)} to integer. Path '{path}'.")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise model_error(path, f"Could not convert {_json(value)} to boolean. Path '{path}'.")
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise model_error(path, f"Could not convert {_json(value)} to decimal. Path '{path}'.")
    if kind == "string":
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return str(value)
        raise model_error(path, f"Unexpected character encountered while parsing value. "
                                f"Path '{path}'.")  # fmt: skip
    return value


def _json(value: Any) -> str:
    return (
        "{null}" if value is None else f"string: {value}" if isinstance(value, str) else repr(value)
    )


def _path(index: int) -> PathOf:
    return lambda key: f"[{index}].{key}"


def _element(body: Any, index: int) -> Record:
    if not isinstance(body, dict):
        raise model_error(f"[{index}]", f"Unexpected token {_json(body)}. Path '[{index}]'.")
    return body


def request_items(body: Any) -> list[Any]:
    """Halo binds a JSON array; anything else is a model-binding 400."""
    if not isinstance(body, list) or not body:
        raise model_error("", "A non-empty JSON array is required.")
    return body


# ---------------------------------------------------------------- ticket changes


def ticket_changes(
    state: SandboxState, base: Record, elem: Record, path: PathOf, catalogue: dict[str, str]
) -> Record:
    """Bound, validated changes for one ticket, including the fields derived from them."""
    changes: Record = {}
    for key, value in elem.items():
        kind = catalogue.get(key)
        if kind is None or key in _DERIVED or key.startswith("_"):
            continue
        bound = coerce(value, kind, path(key))
        if bound is not None:
            changes[key] = bound
    for key in _DATE_FIELDS & changes.keys():
        changes[key] = _date(changes[key], path(key))
    if "customfields" in changes:  # a partial array blanks the fields it leaves out
        changes["customfields"] = customfields.merge_posted(
            base.get("customfields"), changes["customfields"], path
        )
    _check_references(state, changes, path)
    _team(changes)
    _categories(changes)
    _people(state, base, changes)
    linking.check(state, base, changes)  # parent_id, merged_into_id + domerge
    return changes


def _date(value: Any, path: str) -> str:
    try:
        parsed = parse_halo_date(value)
    except ValueError:
        message = f"Could not convert string to DateTime: {value}. Path '{path}'."
        raise model_error(path, message) from None
    return format_halo_date(parsed) if parsed else UNSET_DATE


def _check_references(state: SandboxState, changes: Record, path: PathOf) -> None:
    for key, known in _REFERENCES.items():
        if key in changes and changes[key] not in set(known(state)):
            raise model_error(path(key), f"The value '{changes[key]}' is not valid for {key}.")


def _team(changes: Record) -> None:
    if "team" in changes:
        name = changes["team"]
        found = next((t for t in ref.TEAMS if t["name"].casefold() == name.casefold()), None)
        if found is None and name != "":
            raise dotnet_error(f"Team '{name}' is not valid")
        changes["team"], changes["team_id"] = (found["name"], found["id"]) if found else ("", 0)
    elif "team_id" in changes:
        changes["team"] = next((t["name"] for t in ref.TEAMS if t["id"] == changes["team_id"]), "")


def _categories(changes: Record) -> None:
    for level in range(1, 5):
        value = changes.get(f"category_{level}")
        if value is None:
            continue
        ids = {c["value"]: c["id"] for c in ref.CATEGORIES if c["type_id"] == level}
        if value != "" and value not in ids:
            raise dotnet_error(f"Category '{value}' is not valid")
        changes[f"categoryid_{level}"] = ids.get(value, 0)


def _people(state: SandboxState, base: Record, changes: Record) -> None:
    """Keep client/site/user names (and their ids) consistent with what was set."""
    if "user_id" in changes:
        user = state.users_by_id[changes["user_id"]]
        changes.setdefault("user_name", user["name"])
        changes.setdefault("user_email", user["emailaddress"])
        changes.setdefault("client_id", user["client_id"])
        changes.setdefault("site_id", user["site_id"])
    if "site_id" in changes:
        changes.setdefault("client_id", state.sites_by_id[changes["site_id"]]["client_id"])
    if "client_id" in changes:
        client_id = changes["client_id"]
        changes["client_name"] = state.clients_by_id[client_id]["name"]
        site_id = changes.get("site_id", base["site_id"])
        if state.sites_by_id[site_id]["client_id"] != client_id:
            site_id = next(s["id"] for s in state.sites if s["client_id"] == client_id)
        changes["site_id"] = site_id
    if "site_id" in changes:
        changes["site_name"] = state.sites_by_id[changes["site_id"]]["name"]


def apply_ticket_changes(ticket: Record, changes: Record, now: str) -> None:
    """Apply changes; entering the closed status closes, leaving it reopens."""
    was_closed = ticket["status_id"] == ref.CLOSED_STATUS
    ticket.update(changes)
    is_closed = ticket["status_id"] == ref.CLOSED_STATUS
    if is_closed and not was_closed:
        ticket["hasbeenclosed"] = True
        ticket["dateclosed"] = changes.get("dateclosed", now)
    elif was_closed and not is_closed:
        ticket["hasbeenclosed"] = False
        ticket["dateclosed"] = UNSET_DATE
    ticket["last_update"] = now


# ---------------------------------------------------------------- POST /api/Tickets


@dataclass
class TicketWrite:
    ticket_id: int | None  # None: create
    changes: Record
    recover: bool = False
    base: Record = field(default_factory=dict)


def prepare_tickets(state: SandboxState, body: Any, now: str) -> list[TicketWrite]:
    catalogue = ticket_fields()
    writes: list[TicketWrite] = []
    for index, raw in enumerate(request_items(body)):
        try:
            writes.append(_prepare_ticket(state, _element(raw, index), index, now, catalogue))
        except Rejected as rejected:
            rejected.prepared = list(writes)
            raise
    return writes


def _prepare_ticket(
    state: SandboxState, elem: Record, index: int, now: str, catalogue: dict[str, str]
) -> TicketWrite:
    path = _path(index)
    if "id" in elem and elem["id"] is None:
        message = f"Error converting value {{null}} to type 'System.Int32'. Path '{path('id')}'."
        raise model_error(path("id"), message)
    ticket_id = coerce(elem.get("id"), "integer", path("id")) if elem.get("id") else None
    recover = bool(elem.get("_recover"))
    if ticket_id is None or ticket_id <= 0:
        base = new_ticket_record(0, state, now)
        changes = ticket_changes(state, base, elem, path, catalogue)
        check_close(state, base, changes)
        return TicketWrite(None, changes)
    base = state.tickets.get(ticket_id) or {}
    if not base or (base["deleted"] and not recover):
        raise dotnet_error(f"Ticket {ticket_id} not found")
    changes = ticket_changes(state, base, elem, path, catalogue)
    check_close(state, base, changes)
    return TicketWrite(ticket_id, changes, recover)


def check_close(state: SandboxState, base: Record, changes: Record) -> None:
    """Refuse a close the ticket type forbids: CAB approval pending, or mandatory fields
    unset after the change (FACTS.md §9.4)."""
    closing = changes.get("status_id", base.get("status_id")) == ref.CLOSED_STATUS
    if not closing or base.get("status_id") == ref.CLOSED_STATUS:
        return
    rules = state.behaviour
    type_id = changes.get("tickettype_id", base.get("tickettype_id"))
    if type_id in rules.cab_types:
        raise dotnet_error(ref.CAB_MESSAGE)
    missing = [
        ref.FIELD_LABELS.get(name, name)
        for name in rules.mandatory.get(int(type_id or 0), ())
        if changes.get(name, base.get(name)) in (None, "", 0, UNSET_DATE)
    ]
    if missing:
        listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise dotnet_error(f"{listed} were required")


def apply_tickets(state: SandboxState, writes: list[TicketWrite], now: str) -> list[Record]:
    """Apply prepared writes; returns the saved tickets (creates carry ``isnew``)."""
    saved: list[Record] = []
    for write in writes:
        if write.ticket_id is None:
            ticket = new_ticket_record(state.next_ticket_id, state, now)
            apply_ticket_changes(ticket, write.changes, now)
            state.tickets[ticket["id"]] = ticket
            saved.append({**ticket, "isnew": True})
            continue
        ticket = state.tickets[write.ticket_id]
        if write.recover:
            ticket["deleted"] = False
        apply_ticket_changes(ticket, write.changes, now)
        linking.merge(state, ticket, write.changes, now)
        saved.append(ticket)
    state.version += 1
    return saved


# ---------------------------------------------------------------- POST /api/Actions


@dataclass
class ActionWrite:
    ticket_id: int
    action_id: int | None  # None: create
    fields: Record
    ticket_changes: Record


def prepare_actions(state: SandboxState, body: Any) -> list[ActionWrite]:
    writes: list[ActionWrite] = []
    for index, raw in enumerate(request_items(body)):
        try:
            writes.append(_prepare_action(state, _element(raw, index), index))
        except Rejected as rejected:
            rejected.prepared = list(writes)
            raise
    return writes


def _prepare_action(state: SandboxState, elem: Record, index: int) -> ActionWrite:
    catalogue = action_fields()
    path = _path(index)
    ticket_id = coerce(elem.get("ticket_id"), "integer", path("ticket_id")) if (
        elem.get("ticket_id") is not None) else 0  # fmt: skip
    if ticket_id <= 0:
        raise dotnet_error("A Ticket ID must be supplied for this Action")
    ticket = state.live_ticket(ticket_id)
    if ticket is None:
        raise dotnet_error(f"Ticket {ticket_id} not found")
    action_id = coerce(elem["id"], "integer", path("id")) if elem.get("id") else None
    if action_id and not any(a["id"] == action_id for a in state.actions.get(ticket_id, ())):
        raise dotnet_error(f"Action {action_id} not found on Ticket {ticket_id}")
    fields = {k: coerce(elem[k], kind, path(k)) for k, kind in _ACTION_KEEP.items() if k in elem}
    fields = {k: v for k, v in fields.items() if v is not None}
    outcome = _outcome(elem, path, required=not action_id)
    if outcome:
        fields.update(outcome=outcome["outcome"], outcome_id=outcome["id"])
        fields.setdefault("hiddenfromuser", outcome["hidefromuser"])
    changes = _action_ticket_changes(state, ticket, elem, outcome, path, catalogue)
    check_close(state, ticket, changes)
    return ActionWrite(ticket_id, action_id or None, fields, changes)


def _outcome(elem: Record, path: PathOf, *, required: bool) -> Record | None:
    outcome_id = coerce(elem.get("outcome_id"), "integer", path("outcome_id")) if (
        elem.get("outcome_id") is not None) else 0  # fmt: skip
    text = coerce(elem.get("outcome"), "string", path("outcome")) or ""
    if outcome_id:
        found = next((o for o in ref.OUTCOMES if o["id"] == outcome_id), None)
        if found is None:
            raise dotnet_error(f"Outcome {outcome_id} is not valid")
        return found
    if text.strip():
        wanted = text.strip().casefold()
        found = next((o for o in ref.OUTCOMES if o["outcome"].casefold() == wanted), None)
        if found is None:
            raise dotnet_error(f"Outcome '{text}' is not valid")
        return found
    if required:
        raise dotnet_error("An Outcome must be entered for this Action")
    return None


def _action_ticket_changes(
    state: SandboxState,
    ticket: Record,
    elem: Record,
    outcome: Record | None,
    path: PathOf,
    catalogue: dict[str, str],
) -> Record:
    """The ticket fields an action changes: ``new_*`` fields, else the outcome's status."""
    as_ticket: Record = {}
    source: dict[str, str] = {}
    for action_key, ticket_key in ACTION_TICKET_FIELDS.items():
        value = elem.get(action_key)
        if value in (None, "", 0):
            continue
        as_ticket[ticket_key] = coerce(value, catalogue.get(action_key, "string"), path(action_key))
        source[ticket_key] = action_key
    if "status_id" not in as_ticket and outcome and outcome["newstatus"]:
        as_ticket["status_id"] = outcome["newstatus"]
        source["status_id"] = "outcome_id"
    return ticket_changes(
        state, ticket, as_ticket, lambda k: path(source.get(k, k)), ticket_fields()
    )


def apply_actions(
    state: SandboxState, writes: list[ActionWrite], now: str, who: str
) -> list[Record]:
    saved: list[Record] = []
    for write in writes:
        ticket = state.tickets[write.ticket_id]
        if write.action_id is None:
            action = _new_action(state, write, now, who)
            state.actions[write.ticket_id].append(action)
        else:
            action = next(a for a in state.actions[write.ticket_id] if a["id"] == write.action_id)
            action.update(write.fields)
        apply_ticket_changes(ticket, write.ticket_changes, now)
        ticket["lastactiondate"] = now
        saved.append(action)
    state.version += 1
    return saved


def _new_action(state: SandboxState, write: ActionWrite, now: str, who: str) -> Record:
    f = write.fields
    note = f.get("note", "")
    return {
        "id": state.next_action_id(write.ticket_id),
        "ticket_id": write.ticket_id,
        "outcome": f["outcome"],
        "outcome_id": f["outcome_id"],
        "note": note or _strip_html(f.get("note_html", "")),
        "note_html": f.get("note_html", "") or note,
        "hiddenfromuser": f.get("hiddenfromuser", False),
        "sendemail": f.get("sendemail", False),
        "who": f.get("who", who),
        "datetime": now,
        "actiondatecreated": now,
    }


def _strip_html(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)
