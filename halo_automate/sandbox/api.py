"""The Halo endpoints under ``/api`` (after the server has checked the token).

Every method takes the parsed request and returns a :class:`Reply`; callers hold the state
lock. Envelopes follow FACTS.md §4: bare arrays for Status/Category/TicketType/Team/Agent/
Outcome/Priority, wrapped objects for Tickets/Actions/Client/Site/Users, bare objects for
single records, empty 404 for a missing record. ``/api/Priority`` rows are per-SLA ``Policy``
rows (FACTS.md §9.1) and tickets' ``priority_id`` refers to their ``priorityid``; list rows
omit unset fields (§9.2); the routes other clients use live in :mod:`.ecosystem` (§9.6, §9.8).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from halo_automate.core.dates import format_halo_date
from halo_automate.sandbox import ecosystem, linking, writes
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.query import (
    Params,
    filter_key,
    id_only_row,
    list_row,
    page,
    select_tickets,
)
from halo_automate.sandbox.replies import Rejected, Reply, empty, model_error, not_valid
from halo_automate.sandbox.state import Record, SandboxState
from halo_automate.sandbox.webhooks import CREATED, UPDATED

_CACHE_SIZE = 16
_LOOKUPS: dict[str, list[Record]] = {
    "status": ref.STATUSES,
    "tickettype": ref.TICKET_TYPES,
    "team": ref.TEAMS,
    "agent": ref.AGENTS,
    "outcome": ref.OUTCOMES,
    "priority": ref.PRIORITIES,
}
_NAMES = {
    "status": {r["id"]: r["name"] for r in ref.STATUSES},
    "tickettype": {r["id"]: r["name"] for r in ref.TICKET_TYPES},
    "agent": {r["id"]: r["name"] for r in ref.AGENTS},
    "priority": ref.PRIORITY_IDS,
}
WHO = "API User"


def detail(ticket: Record, state: SandboxState) -> Record:
    """The single-ticket view: the stored ticket plus the names Halo resolves for it and its
    children (:func:`.linking.family`)."""
    priority = ticket["priority_id"]
    return {
        **ticket,
        **linking.family(state, ticket),
        "status_name": _NAMES["status"].get(ticket["status_id"], ""),
        "tickettype_name": _NAMES["tickettype"].get(ticket["tickettype_id"], ""),
        "agent_name": _NAMES["agent"].get(ticket["agent_id"], ""),
        "priority": {"id": priority, "name": _NAMES["priority"].get(priority, "")},
    }


def record_id(text: str) -> int:
    """A route id; not an integer is Halo's model-binding 400 on ``id``."""
    try:
        return int(text)
    except ValueError:
        raise not_valid("id", text) from None


def _chosen(saved: list[Record], params: Params) -> Any:
    """One element: the object; several: the last, or all with ``returnall=true``."""
    return saved if params.get_bool("returnall") else saved[-1]


class HaloApi:
    def __init__(self, state: SandboxState, clock: Callable[[], datetime]) -> None:
        self.state = state
        self.clock = clock
        self._cache: OrderedDict[tuple[Any, ...], list[Record]] = OrderedDict()
        self._table = self._handlers()

    def now(self) -> str:
        return format_halo_date(self.clock())

    def handle(self, method: str, parts: list[str], query: str, body: bytes) -> Reply:
        """``parts``: the path after ``/api``, original case (resource names compare lower)."""
        if not parts:
            return empty(404)
        resource, rest = parts[0].lower(), parts[1:]
        try:
            return self._route(method, resource, rest, Params(query), body)
        except Rejected as rejected:
            return rejected.reply

    def _route(
        self, method: str, resource: str, rest: list[str], params: Params, body: bytes
    ) -> Reply:
        if len(rest) > 1:
            return empty(404)
        handler = self._table.get((resource, method, bool(rest)))
        if handler is None:
            known = any(r == resource for r, _, _ in self._table)
            return empty(405 if known else 404)
        return handler(rest[0] if rest else "", params, body)

    def _handlers(self) -> dict[tuple[str, str, bool], Callable[[str, Params, bytes], Reply]]:
        table: dict[tuple[str, str, bool], Callable[[str, Params, bytes], Reply]] = {
            ("tickets", "GET", False): self.list_tickets,
            ("tickets", "GET", True): self.get_ticket,
            ("tickets", "POST", False): self.post_tickets,
            ("tickets", "DELETE", True): self.delete_ticket,
            ("actions", "GET", False): self.list_actions,
            ("actions", "GET", True): self.get_action,
            ("actions", "POST", False): self.post_actions,
            ("actions", "DELETE", True): self.delete_action,
            ("category", "GET", False): self.list_categories,
            ("category", "GET", True): self.get_lookup_for("category"),
            ("client", "GET", False): self.list_clients,
            ("site", "GET", False): self.list_sites,
            ("users", "GET", False): self.list_users,
        }
        for name in ("client", "site", "users"):
            table[(name, "GET", True)] = self.get_lookup_for(name)
        for name in _LOOKUPS:
            table[(name, "GET", False)] = self.list_lookup_for(name)
            table[(name, "GET", True)] = self.get_lookup_for(name)
        table.update(ecosystem.routes(self.state))
        return table

    # ------------------------------------------------------------------ tickets

    def list_tickets(self, _: str, params: Params, body: bytes) -> Reply:
        key = (self.state.version, filter_key(params))
        rows = self._cache.get(key)
        if rows is None:
            rows = select_tickets(self.state, params)
            self._cache[key] = rows
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        if params.get_bool("ticketidonly"):  # FACTS §9.6: id fields only, never paged
            return Reply(200, {"record_count": len(rows), "tickets": list(map(id_only_row, rows))})
        shown, extra = page(rows, params)
        omit = self.state.behaviour.omit_unset
        return Reply(
            200,
            {"record_count": len(rows), **extra, "tickets": [list_row(t, omit) for t in shown]},
        )

    def get_ticket(self, ident: str, params: Params, body: bytes) -> Reply:
        ticket = self.state.live_ticket(record_id(ident))
        if ticket is None:
            return empty(404)
        shown = detail(ticket, self.state)
        if params.get_bool("includelastaction"):
            actions = self.state.actions.get(ticket["id"])
            shown["lastaction"] = actions[-1] if actions else None
        return Reply(200, shown)

    def post_tickets(self, _: str, params: Params, body: bytes) -> Reply:
        now = self.now()
        try:
            prepared = writes.prepare_tickets(self.state, _json_body(body), now)
        except Rejected as rejected:
            if self.state.behaviour.partial_commit and rejected.prepared:
                kept = writes.apply_tickets(self.state, rejected.prepared, now)
                rejected.reply.tickets_written = len(kept)
                changes = [w.changes for w in rejected.prepared]
                rejected.reply.links, rejected.reply.merges = linking.counts(changes)
            raise
        saved = writes.apply_tickets(self.state, prepared, now)
        shown = [detail(t, self.state) | {"isnew": t.get("isnew", False)} for t in saved]
        reply = Reply(201, _chosen(shown, params))
        reply.tickets_written = len(saved)
        reply.links, reply.merges = linking.counts([w.changes for w in prepared])
        reply.events = [(CREATED if t.get("isnew") else UPDATED, t["id"]) for t in saved]
        reply.events += [(UPDATED, w.changes["merged_into_id"]) for w in prepared
                         if w.changes.get("merged_into_id")]  # fmt: skip
        return reply

    def delete_ticket(self, ident: str, params: Params, body: bytes) -> Reply:
        ticket = self.state.live_ticket(record_id(ident))
        if ticket is None:
            return empty(404)
        ticket["deleted"] = True
        self.state.version += 1
        reply = Reply(200, detail(ticket, self.state))
        reply.tickets_written = 1
        return reply

    # ------------------------------------------------------------------ actions

    def list_actions(self, _: str, params: Params, body: bytes) -> Reply:
        ticket_id = params.get_int("ticket_id")
        if ticket_id:
            rows = list(self.state.actions.get(ticket_id, ()))
        else:  # by date range across tickets (the halopsa package: FACTS.md §9.6)
            rows = ecosystem.actions_between(self.state, params)
        if params.get_bool("excludeprivate"):
            rows = [a for a in rows if not a["hiddenfromuser"]]
        count = params.get_int("count")
        if count and count > 0:
            rows = rows[:count]
        return Reply(200, {"record_count": len(rows), "actions": rows})

    def _find_action(self, ident: str, params: Params) -> Record | None:
        action_id, ticket_id = record_id(ident), params.get_int("ticket_id")
        if not ticket_id or self.state.live_ticket(ticket_id) is None:
            return None
        found = [a for a in self.state.actions.get(ticket_id, ()) if a["id"] == action_id]
        return found[0] if found else None

    def get_action(self, ident: str, params: Params, body: bytes) -> Reply:
        action = self._find_action(ident, params)
        return Reply(200, action) if action else empty(404)

    def delete_action(self, ident: str, params: Params, body: bytes) -> Reply:
        action = self._find_action(ident, params)
        if action is None:
            return empty(404)
        self.state.actions[action["ticket_id"]].remove(action)
        self.state.version += 1
        reply = Reply(200, action)
        reply.actions_written = 1
        return reply

    def post_actions(self, _: str, params: Params, body: bytes) -> Reply:
        now = self.now()
        try:
            prepared = writes.prepare_actions(self.state, _json_body(body))
        except Rejected as rejected:
            if self.state.behaviour.partial_commit and rejected.prepared:
                kept = writes.apply_actions(self.state, rejected.prepared, now, WHO)
                rejected.reply.actions_written = len(kept)
            raise
        saved = writes.apply_actions(self.state, prepared, now, WHO)
        reply = Reply(201, _chosen(saved, params))
        reply.actions_written = len(saved)
        reply.events = [(UPDATED, tid) for tid in dict.fromkeys(a["ticket_id"] for a in saved)]
        return reply

    # ------------------------------------------------------------------ lookups

    def list_lookup_for(self, name: str) -> Callable[[str, Params, bytes], Reply]:
        return lambda _, params, body: Reply(200, _LOOKUPS[name])

    def get_lookup_for(self, name: str) -> Callable[[str, Params, bytes], Reply]:
        def get(ident: str, params: Params, body: bytes) -> Reply:
            if name == "agent" and ident.lower() == "me":
                return Reply(200, ecosystem.agent_me())
            wanted = record_id(ident)
            found = [r for r in self._rows(name) if r["id"] == wanted]
            return Reply(200, found[0]) if found else empty(404)

        return get

    def _rows(self, name: str) -> list[Record]:
        extra = {
            "category": ref.CATEGORIES,
            "client": self.state.clients,
            "site": self.state.sites,
            "users": self.state.users,
        }
        return _LOOKUPS.get(name) or extra[name]

    def list_categories(self, _: str, params: Params, body: bytes) -> Reply:
        type_id = params.get_int("type_id")
        rows = [c for c in ref.CATEGORIES if type_id is None or c["type_id"] == type_id]
        return Reply(200, rows)

    def list_clients(self, _: str, params: Params, body: bytes) -> Reply:
        rows = _search(self.state.clients, params, "name")
        return _wrapped("clients", rows, params)

    def list_sites(self, _: str, params: Params, body: bytes) -> Reply:
        rows = _by_client(self.state.sites, params)
        return _wrapped("sites", _search(rows, params, "name"), params)

    def list_users(self, _: str, params: Params, body: bytes) -> Reply:
        rows = _by_client(self.state.users, params)
        site_id = params.get_int("site_id")
        if site_id is not None:
            rows = [u for u in rows if u["site_id"] == site_id]
        rows = _search(rows, params, "name", "emailaddress")
        return _wrapped("users", rows, params)


def _by_client(rows: list[Record], params: Params) -> list[Record]:
    client_id = params.get_int("client_id")
    return rows if client_id is None else [r for r in rows if r["client_id"] == client_id]


def _search(rows: list[Record], params: Params, *fields: str) -> list[Record]:
    text = params.get("search")
    if text is None:
        return rows
    needle = text.casefold()
    return [r for r in rows if any(needle in str(r[f]).casefold() for f in fields)]


def _wrapped(key: str, rows: list[Record], params: Params) -> Reply:
    shown, extra = page(rows, params)
    return Reply(200, {"record_count": len(rows), **extra, key: shown})


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise model_error("", f"The request body is not valid JSON: {e}") from None
