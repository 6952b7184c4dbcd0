"""``GET /api/Tickets``: parameters, filters, ordering and paging, read straight from the store.

Choices where real Halo's behaviour is unknown (FACTS.md marks them [?]):

* with neither ``pageinate=true`` nor ``count`` every matching ticket is returned;
* ``pageinate=true`` without ``page_size`` pages by 50; ``page_size`` above 100 is cut to 100
  silently and the envelope reports the size actually used;
* ``count`` is ignored when paginating; ``record_count`` is always the total number of matches;
* unknown parameters are ignored; a known int/bool parameter with a bad value is a 400
  model-binding error naming it, as ASP.NET does; a repeated parameter binds its first value
  (ASP.NET model binding of a scalar, FACTS.md §9.6);
* list rows leave out unset fields (null, "", the unset date, false) unless the sandbox was
  started with ``omit_unset=False``: a live row had no ``hasbeenclosed``, ``dateclosed``,
  ``category_2``..``4`` or ``deleted`` (FACTS.md §9.2);
* ``ticketidonly=true`` answers only the id fields, unpaged (the SW2 parameter description:
  "Ticket ID, SLA ID, Status ID, Client ID and Name and Lastincomingemail date ... Not
  compatible with Pagination", FACTS.md §9.6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl

from halo_automate.core.dates import UNSET_DATE, format_halo_date, parse_halo_date
from halo_automate.core.fields import ticket_params
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.replies import not_valid
from halo_automate.sandbox.state import Record, SandboxState

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
PAGING_KEYS = frozenset({"pageinate", "page_size", "page_no", "count"})
LIST_FIELDS = (
    "id", "summary", "details", "status_id", "tickettype_id", "priority_id", "client_id",
    "client_name", "site_id", "site_name", "user_id", "user_name", "user_email", "agent_id",
    "team", "team_id", "category_1", "category_2", "category_3", "category_4", "categoryid_1",
    "dateoccurred", "lastactiondate", "last_update", "hasbeenclosed", "dateclosed",
    "deadlinedate", "onhold", "flagged", "impact", "urgency", "parent_id", "merged_into_id",
)  # fmt: skip
_row_values = itemgetter(*LIST_FIELDS)
# datesearch column (DB spelling) -> ticket field
DATE_COLUMNS = {
    "dateoccured": "dateoccurred",
    "dateoccurred": "dateoccurred",
    "datecleared": "dateclosed",
    "dateclosed": "dateclosed",
    "lastactiondate": "lastactiondate",
    "last_update": "last_update",
}
_EQUAL = {
    "status_id": "status_id",
    "requesttype_id": "tickettype_id",
    "client_id": "client_id",
    "site_id": "site_id",
    "user_id": "user_id",
    "agent_id": "agent_id",
}
_IN_LIST = {
    "status": "status_id",
    "requesttype": "tickettype_id",
    "client_ids": "client_id",
    "agent": "agent_id",
    "team": "team_id",
    "priority": "priority_id",
    "ticketids": "id",
}


class Params:
    """Query parameters: case-insensitive names, the first value binds, blank means absent."""

    def __init__(self, query: str) -> None:
        first: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            first.setdefault(key.lower(), value)
        self.values = {k: v for k, v in first.items() if v.strip() != ""}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        raw = self.values.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise not_valid(name, raw) from None

    def get_bool(self, name: str) -> bool:
        raw = self.values.get(name)
        if raw is None:
            return False
        if raw.lower() not in ("true", "false"):
            raise not_valid(name, raw)
        return raw.lower() == "true"

    def ids(self, name: str) -> set[int] | None:
        """A comma-separated id list; entries that are not integers are skipped."""
        raw = self.values.get(name)
        if raw is None:
            return None
        return {int(p) for p in raw.split(",") if p.strip().lstrip("-").isdigit()}

    def check_types(self, types: Mapping[str, Mapping[str, Any]]) -> None:
        """400 for a known int/bool parameter whose value does not bind."""
        for name in self.values:
            kind = types.get(name, {}).get("type")
            if kind == "int":
                self.get_int(name)
            elif kind == "bool":
                self.get_bool(name)


ID_ONLY_FIELDS = ("id", "sla_id", "status_id", "client_id", "client_name", "lastincomingemail")


def unset(value: Any) -> bool:
    """A value real Halo leaves out of a list row."""
    return value is None or value is False or value == "" or value == UNSET_DATE


def list_row(ticket: Record, omit_unset: bool = False) -> Record:
    row = dict(zip(LIST_FIELDS, _row_values(ticket), strict=True))
    return {k: v for k, v in row.items() if not unset(v)} if omit_unset else row


def id_only_row(ticket: Record) -> Record:
    """A ``ticketidonly=true`` row (the last incoming email date: the ticket's own, else its
    opening date; the sandbox keeps no email log)."""
    row = {k: ticket.get(k) for k in ID_ONLY_FIELDS}
    row["lastincomingemail"] = ticket.get("lastincomingemail") or ticket["dateoccurred"]
    return row


def page(rows: list[Record], params: Params) -> tuple[list[Record], dict[str, int]]:
    """Slice one page (or the ``count`` limit); the extra envelope keys when paginating."""
    if params.get_bool("pageinate"):
        size = params.get_int("page_size", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        size = min(max(size, 1), MAX_PAGE_SIZE)
        number = max(params.get_int("page_no", 1) or 1, 1)
        return rows[(number - 1) * size : number * size], {"page_no": number, "page_size": size}
    count = params.get_int("count")
    return (rows[:count] if count is not None and count > 0 else rows), {}


def filter_key(params: Params) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in params.values.items() if k not in PAGING_KEYS))


def select_tickets(state: SandboxState, params: Params) -> list[Record]:
    """Every ticket matching the filters, in the requested order (default id ascending)."""
    params.check_types(ticket_params())
    want_deleted = params.get_bool("deleted")
    ids = params.ids("ticketids")
    # ticketids is answered by id lookup, as a database index would, not by a full scan
    source = (
        (state.tickets[i] for i in sorted(ids) if i in state.tickets)
        if ids is not None
        else state.tickets.values()
    )
    rows = [t for t in source if t["deleted"] is want_deleted]
    for step in _FILTERS:
        rows = step(rows, params, state)
    return _order(rows, params)


Filter = Callable[[list[Record], Params, SandboxState], list[Record]]


def _equal(rows: list[Record], params: Params, state: SandboxState) -> list[Record]:
    for name, fld in _EQUAL.items():
        value = params.get_int(name)
        if value is not None:
            rows = [t for t in rows if t[fld] == value]
    return rows


def _in_list(rows: list[Record], params: Params, state: SandboxState) -> list[Record]:
    for name, fld in _IN_LIST.items():
        wanted = params.ids(name)
        if wanted is not None:
            rows = [t for t in rows if t[fld] in wanted]
    excluded = params.ids("excludethese")
    if excluded:
        rows = [t for t in rows if t["id"] not in excluded]
    return rows


def _categories(rows: list[Record], params: Params, state: SandboxState) -> list[Record]:
    for level in range(1, 5):
        wanted = params.ids(f"category_{level}")
        if wanted is not None:
            values = {c["value"] for c in ref.CATEGORIES if c["id"] in wanted}
            fld = f"category_{level}"
            rows = [t for t in rows if t[fld] in values]
    return rows


def _search(rows: list[Record], params: Params, state: SandboxState) -> list[Record]:
    text = params.get("search")
    if text is None:
        return rows
    needle = text.casefold()
    return [
        t
        for t in rows
        if needle in t["summary"].casefold()
        or needle in t["details"].casefold()
        or needle in t["user_name"].casefold()
        or needle in t["user_email"].casefold()
    ]


def _open_closed(rows: list[Record], params: Params, state: SandboxState) -> list[Record]:
    if params.get_bool("open_only"):
        rows = [t for t in rows if t["status_id"] != ref.CLOSED_STATUS]
    if params.get_bool("closed_only"):
        rows = [t for t in rows if t["status_id"] == ref.CLOSED_STATUS]
    return rows


def _dates(rows: list[Record], params: Params, state: SandboxState) -> list[Record]:
    """``datesearch`` + ``startdate``/``enddate`` (inclusive); unset dates never match; an
    unknown column is ignored, as is the whole filter when the sandbox's ``date_filter``
    behaviour is off (``--ignore-date-filter``).

    Stored dates share one fixed-width format, so string comparison is date comparison.
    """
    if not state.behaviour.date_filter:  # the switch: a tenant that ignores it
        return rows
    column = DATE_COLUMNS.get((params.get("datesearch") or "").lower())
    start, end = date_param(params, "startdate"), date_param(params, "enddate")
    if column is None or (start is None and end is None):
        return rows
    low = start or "1900-01-02"
    high = end or "9999"
    return [t for t in rows if low <= t[column] <= high]


def date_param(params: Params, name: str) -> str | None:
    """A date query parameter in Halo's stored form (None when absent or unset); 400 naming
    the parameter when it is not a date, as ASP.NET model binding answers."""
    raw = params.get(name)
    if raw is None:
        return None
    try:
        parsed = parse_halo_date(raw)
    except ValueError:
        raise not_valid(name, raw) from None
    return format_halo_date(parsed) if parsed else None


_FILTERS: tuple[Filter, ...] = (_equal, _in_list, _categories, _search, _open_closed, _dates)


def _order(rows: list[Record], params: Params) -> list[Record]:
    """``order``/``orderdesc``; ties keep id order. An unknown field leaves id order."""
    fld = (params.get("order") or "").lower()
    fld = DATE_COLUMNS.get(fld, fld)
    desc = params.get_bool("orderdesc")
    if not fld or fld == "id":
        return rows[::-1] if desc else rows
    try:
        return sorted(rows, key=lambda t: _sort_key(t.get(fld)), reverse=desc)
    except TypeError:  # mixed value types after odd writes: compare as text
        return sorted(rows, key=lambda t: str(t.get(fld, "")), reverse=desc)


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, 0 if value is None else value)
