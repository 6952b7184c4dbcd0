"""Condition operators: one :class:`Op` row each in :data:`OPS`, and the field kinds they suit.

A row names the operator, the field kinds it applies to (``str``, ``int``, ``num``, ``bool``,
``date``, ``array``, ``other``, from :func:`field_kind`), a one-line meaning, the check of its
YAML value (run when a playbook is loaded) and its predicate (run on each ticket). Adding an
operator is one row here, its two functions, and its row in the docs' operators table.

Reading a field comes first (:func:`read_field`): a value that cannot be read as its field's
kind (``agent_id: "2"``, a date that is not ISO, text with a lone surrogate), or a key missing
where every list row carries it, is :class:`Unknown`, and the condition tree treats it with
three-valued logic (a ticket whose verdict is unknown is never written). A key missing where
list rows omit unset values reads as unset (``None``).

Pure: ``now`` is passed in. Regexes are RE2 (:mod:`halo_automate.core.patterns`): linear time
in the text, so no ticket can make matching slow and no timeout is needed.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from halo_automate.core import customfields
from halo_automate.core.dates import parse_halo_date
from halo_automate.core.fields import ALWAYS_IN_LIST_ROWS, ticket_list_fields
from halo_automate.core.patterns import compile_pattern
from halo_automate.core.schedule import parse_duration
from halo_automate.sanitize import clean_text, has_surrogate

MAX_DURATION = timedelta(days=365 * 100)
"""older_than/newer_than longer than this are refused (``now - duration`` must stay a date)."""
REGEX_MAX_INPUT = 10_000
"""Only this many leading characters of a value are searched (bounds the cost per ticket)."""

# Date-time fields of a ticket list row (``format: date-time`` in Halo's Faults_List schema);
# the shipped catalogue types them as plain strings.
DATE_FIELDS = frozenset(
    {
        "action_datetime", "date_fully_closed", "dateassigned", "dateclosed", "dateoccurred",
        "deadlinedate", "enddatetime", "first_responsedate", "fixbydate", "followupdate",
        "last_update", "lastactiondate", "lastchildactiondate", "lastincomingemail",
        "milestone_enddate", "milestone_startdate", "nextactivitydate", "nextappointmentdate",
        "oppconverteddate", "oppdemodate", "oppdiscountdate", "opptrialdate",
        "projectearlieststart", "projectlatestend", "respondbydate", "responsedate",
        "responsestartdate", "slaactiondate", "startdate", "startdatetime", "targetdate",
    }
)  # fmt: skip

_KINDS = {"string": "str", "integer": "int", "number": "num", "boolean": "bool", "array": "array"}
_SCALAR_KINDS = frozenset({"str", "int", "num", "bool", "other"})

Predicate: TypeAlias = Callable[[Any], bool]


def field_kind(name: str) -> str | None:
    """The condition kind of a list-row field (str, int, num, bool, date, array, other); a
    custom field (``customfield.<label or id>``) is read as text."""
    if customfields.is_where_field(name):
        return "str"
    halo_type = ticket_list_fields().get(name)
    if halo_type is None:
        return None
    if name in DATE_FIELDS:
        return "date"
    return _KINDS.get(halo_type, "other")


# ---------------------------------------------------------------- reading a ticket's value


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value (or verdict) that cannot be decided; ``why`` says which field and what it held."""

    why: str


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 40
_SHOWN.maxlist = _SHOWN.maxdict = 4


def _shown(value: object) -> str:
    """A short repr of a ticket's value for a "not evaluated" line (bounded, sanitised)."""
    return clean_text(_SHOWN.repr(value))


def _readable(kind: str, value: object) -> str | None:
    """None when ``value`` reads as ``kind``; else what it is instead."""
    if kind == "str":
        if not isinstance(value, str):
            return "not text"
        return "text with a lone surrogate (not valid Unicode)" if has_surrogate(value) else None
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "not a whole number"
    if kind == "num":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
        return None if ok else "not a number"
    if kind == "bool":
        return None if isinstance(value, bool) else "not true/false"
    if kind == "date":
        if isinstance(value, datetime) or value == "":
            return None
        try:
            parse_halo_date(value)
        except (ValueError, TypeError, OverflowError):
            return "not a date"
        return None
    if kind == "array":
        return None if isinstance(value, list) else "not a list"
    return None


def read_field(field: str, kind: str, ticket: Any) -> object:
    """The ticket's value of ``field`` for a condition: the value, None (unset) or Unknown."""
    if customfields.is_where_field(field):
        value, why = customfields.condition_value(ticket, field)
        return value if why is None else Unknown(why)
    try:
        value = ticket[field]
    except KeyError:
        if field in ALWAYS_IN_LIST_ROWS:
            return Unknown(f"field {field} is missing from the ticket's list row")
        return None  # list rows omit unset fields (FACTS 9.2)
    if value is None:
        return None
    what = _readable(kind, value)
    return value if what is None else Unknown(f"field {field} is {_shown(value)}, {what}")


# ---------------------------------------------------------------- checking values (load time)


KIND_WORDS = {
    "str": "a text field",
    "int": "a whole-number field",
    "num": "a number field",
    "bool": "a true/false field",
    "date": "a date field",
    "array": "a list field",
    "other": "a field of another type",
}


def _scalar(kind: str, value: object) -> object:
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "num": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
    }.get(kind, isinstance(value, str | int | float | bool))
    if not ok:
        raise ValueError(f"{value!r} is not a value for {KIND_WORDS[kind]}")
    return value


def _check_equals(kind: str, value: object) -> object:
    return _scalar(kind, value)


def _check_in(kind: str, value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError("expects a non-empty list of values")
    return tuple(_scalar(kind, v) for v in value)


def _check_text(kind: str, value: object) -> object:
    if isinstance(value, list):
        either = "|".join(str(v) for v in value)
        raise ValueError(
            "expects non-empty text, not a list; for any of several, write one condition per "
            f"value under any: [...], or one pattern: matches: '{either}'"
        )
    if not isinstance(value, str) or not value:
        raise ValueError("expects non-empty text")
    return value


def _check_regex(kind: str, value: object) -> object:
    pattern = _check_text(kind, value)
    compile_pattern(str(pattern))  # ValueError names what RE2 does not support
    return pattern


def _check_domain(kind: str, value: object) -> object:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("expects a domain or a non-empty list of domains")
    for item in items:
        if not isinstance(item, str) or not item.strip() or "@" in item or " " in item.strip():
            raise ValueError(f"{item!r} is not a domain (write it without '@', e.g. example.com)")
    return tuple(str(i).strip().lower() for i in items)


def _check_bool(kind: str, value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("expects true or false")
    return value


def _check_duration(kind: str, value: object) -> object:
    try:
        duration = parse_duration(value)
    except OverflowError:
        duration = MAX_DURATION + MAX_DURATION
    if duration > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than {MAX_DURATION.days // 365} years")
    return value


def _check_bound(kind: str, value: object) -> object:
    if kind != "date":
        return _scalar("num", value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date (write e.g. '2024-01-31')")
    try:
        parsed = parse_halo_date(value)
    except ValueError as e:
        raise ValueError(f"{value!r} is not a date (write e.g. '2024-01-31')") from e
    if parsed is None:
        raise ValueError(f"{value!r} is the unset date; use 'empty' instead")
    return value


# ---------------------------------------------------------------- predicates (per ticket)


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def _p_equals(field: str, value: Any, now: datetime) -> Predicate:
    target = _fold(value)
    is_bool = isinstance(value, bool)
    return lambda v: _fold(v) == target and isinstance(v, bool) == is_bool


def _p_in(field: str, value: Any, now: datetime) -> Predicate:
    bools = frozenset(v for v in value if isinstance(v, bool))
    others = frozenset(_fold(v) for v in value if not isinstance(v, bool))

    def predicate(value: object) -> bool:
        if isinstance(value, bool):
            return value in bools
        return isinstance(value, str | int | float) and _fold(value) in others

    return predicate


def _p_contains(field: str, value: Any, now: datetime) -> Predicate:
    needle = str(value).casefold()
    return lambda v: isinstance(v, str) and needle in v.casefold()


def _p_matches(field: str, value: Any, now: datetime) -> Predicate:
    search = compile_pattern(value).search
    return lambda v: isinstance(v, str) and search(v[:REGEX_MAX_INPUT]) is not None


def email_domain(value: object) -> str | None:
    """The lower-cased domain of an e-mail address (after the last ``@``), or None."""
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.rsplit("@", 1)[1].strip().rstrip(">").strip().lower() or None


def _p_domain(field: str, value: Any, now: datetime) -> Predicate:
    domains = frozenset(value)
    return lambda v: email_domain(v) in domains


def is_empty(value: object, *, date: bool = False) -> bool:
    """None, '', [] and (for date fields) Halo's unset dates count as empty."""
    if value is None or value == "" or value == []:
        return True
    if date:
        return _date_or_none(value) is None
    return False


def _p_empty(field: str, value: Any, now: datetime) -> Predicate:
    date, wanted = field in DATE_FIELDS, bool(value)
    return lambda v: is_empty(v, date=date) is wanted


def _date_or_none(value: object) -> datetime | None:
    try:
        return parse_halo_date(value)
    except (ValueError, TypeError):
        return None


def _p_older(field: str, value: Any, now: datetime) -> Predicate:
    cutoff = now - parse_duration(value)

    def predicate(value: object) -> bool:
        when = _date_or_none(value)
        return when is not None and when < cutoff

    return predicate


def _p_newer(field: str, value: Any, now: datetime) -> Predicate:
    cutoff = now - parse_duration(value)

    def predicate(value: object) -> bool:
        when = _date_or_none(value)
        return when is not None and when > cutoff

    return predicate


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bound(field: str, value: Any, greater: bool) -> Predicate:
    if field in DATE_FIELDS:
        limit = parse_halo_date(value)

        def by_date(value: object) -> bool:
            when = _date_or_none(value)
            if when is None or limit is None:
                return False
            return when > limit if greater else when < limit

        return by_date
    number = value
    if greater:
        return lambda v: _is_number(v) and bool(v > number)
    return lambda v: _is_number(v) and bool(v < number)


def _p_gt(field: str, value: Any, now: datetime) -> Predicate:
    return _bound(field, value, greater=True)


def _p_lt(field: str, value: Any, now: datetime) -> Predicate:
    return _bound(field, value, greater=False)


# ---------------------------------------------------------------- the operators


@dataclass(frozen=True)
class Op:
    """One condition operator: the field kinds it accepts, its meaning, how its value is checked
    when loading and how it is tested against a ticket."""

    name: str
    kinds: frozenset[str]
    meaning: str
    check: Callable[[str, object], object]
    """Validates the YAML value for a field kind, returning it normalised (ValueError)."""
    predicate: Callable[[str, Any, datetime], Predicate]
    """(field, validated value, now) -> what a ticket's field value must satisfy."""


# One row per operator: name, field kinds, meaning, value check, predicate.
# fmt: off
OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("equals", _SCALAR_KINDS, "equal to the value (text compares case-insensitively)",
           _check_equals, _p_equals),
        Op("in", _SCALAR_KINDS, "equal to one of a list of values (text case-insensitively)",
           _check_in, _p_in),
        Op("contains", frozenset({"str"}), "text contains the value, case-insensitively",
           _check_text, _p_contains),
        Op("matches", frozenset({"str"}), "a regular expression finds a match (search)",
           _check_regex, _p_matches),
        Op("domain", frozenset({"str"}), "e-mail address domain is one of (exact, no subdomains)",
           _check_domain, _p_domain),
        Op("empty", _SCALAR_KINDS | {"date", "array"}, "true: null, '' or unset date; false: set",
           _check_bool, _p_empty),
        Op("older_than", frozenset({"date"}), "date is more than a duration before now",
           _check_duration, _p_older),
        Op("newer_than", frozenset({"date"}), "date is less than a duration before now",
           _check_duration, _p_newer),
        Op("gt", frozenset({"int", "num", "date"}), "greater than a number or a date",
           _check_bound, _p_gt),
        Op("lt", frozenset({"int", "num", "date"}), "less than a number or a date",
           _check_bound, _p_lt),
    )
}
# fmt: on
