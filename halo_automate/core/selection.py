"""``select`` → the ``GET /api/Tickets`` query, and the client-side re-check of that query.

Filter names are Halo's own parameter names (checked against the shipped catalogue); the
paging parameters belong to the client and are refused. Values of id parameters may be
written as names and are resolved through :class:`~halo_automate.core.lookups.Lookups` (Halo's
filters take ids even where records carry names, FACTS §6.3); which parameters those are, and
which ticket fields their re-check reads, are rows of :mod:`halo_automate.core.schema`.
Lists become comma-joined strings, booleans ``true``/``false``.

Halo silently ignores a filter it does not understand, which would widen the target of a
write. :func:`compile_recheck` therefore re-checks every filter whose meaning is known
against each fetched ticket; planning drops (and counts) tickets that fail it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from halo_automate.core.conditions import Path, Problem
from halo_automate.core.fields import PAGING_PARAMS, ticket_params
from halo_automate.core.lookups import Lookups, LookupTable
from halo_automate.core.schema import SELECT_NAMED
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import LookupMissError, PlanError

SelectValue: TypeAlias = str | int | float | bool | list[str | int]
Ticket: TypeAlias = Mapping[str, Any]
Recheck: TypeAlias = Callable[[Ticket], "str | None"]


NAMED_PARAMS = frozenset(SELECT_NAMED)
"""Parameters whose values may be names (the schema's ``select_filters``)."""

# Filters the re-check understands (documented in docs/playbooks.md).
RECHECKED_PARAMS = frozenset(
    {
        *NAMED_PARAMS,
        "team_name",
        "open_only",
        "closed_only",
        "ticketids",
        "excludethese",
        "search",
        "search_summary",
        "search_details",
        "search_user_name",
        "deleted",
    }
)
CLOSED_STATUS_NAME = "Closed"


def _list_params() -> set[str]:
    return {n for n, p in ticket_params().items() if p["id_list"]} | {"ticketids"}


# ---------------------------------------------------------------- load-time validation


def check_select(select: Mapping[str, object], path: Path = ("select",)) -> list[Problem]:
    """Check filter names and value shapes (names are resolved later, at plan time)."""
    problems: list[Problem] = []
    params = ticket_params()
    lists = _list_params()
    for name, value in select.items():
        key = (*path, name)
        if name in PAGING_PARAMS:
            problems.append((key, f"'{name}' is a paging parameter; the client pages for you"))
        elif name not in params:
            hint = did_you_mean(name, [p for p in params if p not in PAGING_PARAMS])
            problems.append((key, f"unknown ticket filter '{name}'{hint}"))
        else:
            message = _value_problem(name, params[name]["type"], value, name in lists)
            if message:
                problems.append((key, message))
    return problems


def _value_problem(name: str, halo_type: str, value: object, listable: bool) -> str | None:
    if isinstance(value, list):
        if not listable:
            return f"'{name}' takes one value, not a list"
        if not value:
            return f"'{name}' needs at least one value"
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, str | int)]
        return f"'{name}' list items must be names or ids, not {bad[0]!r}" if bad else None
    if halo_type == "bool":
        return None if isinstance(value, bool) else f"'{name}' takes true or false"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        shape = "a name or an id" if name in NAMED_PARAMS else f"a {halo_type} value"
        return f"'{name}' takes {shape}{' (or a list)' if listable else ''}, not {value!r}"
    if halo_type == "int" and not isinstance(value, int) and name not in NAMED_PARAMS:
        return f"'{name}' takes a whole number, not {value!r}"
    return None


# ---------------------------------------------------------------- building the query


def build_query(select: Mapping[str, SelectValue], lookups: Lookups) -> dict[str, str]:
    """Turn ``select`` into query parameters; names become ids (PlanError when unknown)."""
    problems = check_select(select)
    if problems:
        raise PlanError("; ".join(message for _, message in problems))
    query: dict[str, str] = {}
    for name, value in select.items():
        values = value if isinstance(value, list) else [value]
        query[name] = ",".join(_render(name, v, lookups) for v in values)
    return query


def names_lookups(select: Mapping[str, SelectValue]) -> bool:
    """Whether :func:`build_query` reads a lookup list for ``select`` (a name to turn into an
    id); without one the query can be built, and read, before the lookups arrive."""
    return any(
        isinstance(v, str)
        for name, value in select.items()
        if name in SELECT_NAMED
        for v in (value if isinstance(value, list) else [value])
    )


def _render(name: str, value: object, lookups: Lookups) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    kind = SELECT_NAMED.get(name)
    if isinstance(value, str) and kind is not None:
        try:
            return str(lookups.table(kind.kind).resolve(value).id)
        except LookupMissError as e:
            raise PlanError(f"select {name}: {e}") from e
    return str(value)


# ---------------------------------------------------------------- client-side re-check


def recheck(query: Mapping[str, str], ticket: Ticket, lookups: Lookups) -> str | None:
    """None when ``ticket`` satisfies every known filter of ``query``, else the reason."""
    return compile_recheck(query, lookups)(ticket)


def compile_recheck(query: Mapping[str, str], lookups: Lookups) -> Recheck:
    """Compile the known filters of ``query`` once; unknown-meaning filters are not checked."""
    checks = [
        check
        for name, text in query.items()
        if (check := _compile_filter(name, text, lookups)) is not None
    ]

    def run(ticket: Ticket) -> str | None:
        for check in checks:
            reason = check(ticket)
            if reason is not None:
                return reason
        return None

    return run


def _ids(text: str) -> frozenset[int]:
    return frozenset(int(p) for p in text.split(",") if p.strip().lstrip("-").isdigit())


def _is_true(text: str) -> bool:
    return text.strip().lower() == "true"


def _compile_filter(name: str, text: str, lookups: Lookups) -> Recheck | None:
    kind = SELECT_NAMED.get(name)
    if kind is not None and kind.id_field is not None:
        if kind.name_field is None:
            return _member(name, kind.id_field, _ids(text))
        table = lookups.table(kind.kind)
        return _by_id_or_name(name, kind.id_field, kind.name_field, _ids(text), table)
    if name == "team_name":
        return _text_equals(name, "team", text)
    if name in ("open_only", "closed_only"):
        return _closed_filter(name, text, lookups) if _is_true(text) else None
    if name in ("ticketids", "excludethese"):
        return _ticket_ids(name, _ids(text), keep=name == "ticketids")
    if name.startswith("search"):
        return _search(name, text)
    if name == "deleted":
        return _deleted(_is_true(text))
    return None


def _member(name: str, field: str, ids: frozenset[int]) -> Recheck:
    def check(ticket: Ticket) -> str | None:
        value = ticket.get(field)
        return None if value in ids else f"{field} {value!r} is not in the {name} filter"

    return check


def _by_id_or_name(
    name: str, id_field: str, name_field: str, ids: frozenset[int], table: LookupTable
) -> Recheck:
    names = {n.casefold() for i in ids if (n := table.name_of(i)) is not None}

    def check(ticket: Ticket) -> str | None:
        value = ticket.get(id_field)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return None if value in ids else f"{id_field} {value} is not in the {name} filter"
        text = ticket.get(name_field)
        if isinstance(text, str) and text.casefold() in names:
            return None
        return f"{name_field} {text!r} is not in the {name} filter"

    return check


def _text_equals(name: str, field: str, text: str) -> Recheck:
    wanted = text.casefold()

    def check(ticket: Ticket) -> str | None:
        value = ticket.get(field)
        ok = isinstance(value, str) and value.casefold() == wanted
        return None if ok else f"{field} {value!r} does not equal the {name} filter"

    return check


def is_closed(ticket: Ticket, lookups: Lookups) -> bool:
    """Whether a ticket is closed.

    The status decides when the lookups know it (the status named "Closed"); only otherwise
    ``hasbeenclosed``. Status first because ``hasbeenclosed`` records that a ticket was *ever*
    closed and may stay true after it is re-opened.
    """
    status = lookups.statuses.name_of(ticket.get("status_id"))
    if status is not None:
        return status.casefold() == CLOSED_STATUS_NAME.casefold()
    return bool(ticket.get("hasbeenclosed"))


def _closed_filter(name: str, text: str, lookups: Lookups) -> Recheck:
    want_closed = name == "closed_only"

    def check(ticket: Ticket) -> str | None:
        if is_closed(ticket, lookups) is want_closed:
            return None
        state = "closed" if want_closed else "open"
        return f"ticket is not {state} ({name} filter)"

    return check


def _ticket_ids(name: str, ids: frozenset[int], *, keep: bool) -> Recheck:
    def check(ticket: Ticket) -> str | None:
        inside = ticket.get("id") in ids
        return None if inside is keep else f"ticket id is {'not ' if keep else ''}in {name}"

    return check


_SEARCH_FIELDS = {
    "search": ("summary", "details", "user_name", "user_email"),
    "search_summary": ("summary",),
    "search_details": ("details",),
    "search_user_name": ("user_name",),
}


def _search(name: str, text: str) -> Recheck | None:
    fields = _SEARCH_FIELDS.get(name)
    if fields is None:
        return None
    needle = text.casefold()

    def check(ticket: Ticket) -> str | None:
        for field in fields:
            value = ticket.get(field)
            if isinstance(value, str) and needle in value.casefold():
                return None
        return f"none of {', '.join(fields)} contains the {name} text {text!r}"

    return check


def _deleted(wanted: bool) -> Recheck:
    def check(ticket: Ticket) -> str | None:
        deleted = bool(ticket.get("deleted"))
        return None if deleted is wanted else f"ticket deleted={deleted} (deleted filter)"

    return check
