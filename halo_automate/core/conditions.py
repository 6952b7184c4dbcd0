"""The ``where`` language: parse and validate a condition tree, compile it, explain matches.

A ``where`` is a mapping ``{field: {op: value, ...}, all: [...], any: [...], not: [...]}``;
every entry of a mapping ANDs together, ``all``/``any`` hold lists of such mappings, ``not``
holds a list (or one mapping) and is true when *none* of its entries match. Field names are
the ticket list-row fields Halo returns; each op checks that it suits the field's type.

Pure: no I/O and no clock (``now`` is passed to :func:`compile_where`). Regexes use the
``regex`` package with a per-match timeout and a capped input length, so a catastrophic
pattern raises :class:`RegexTimeoutError` instead of hanging a run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import regex

from halo_automate.core.dates import parse_halo_date
from halo_automate.core.fields import ticket_list_fields
from halo_automate.core.schedule import parse_duration
from halo_automate.core.suggest import did_you_mean
from halo_automate.errors import RegexTimeoutError

MAX_DURATION = timedelta(days=365 * 100)
"""older_than/newer_than longer than this are refused (``now - duration`` must stay a date)."""
REGEX_TIMEOUT_SECONDS = 0.05
REGEX_MAX_INPUT = 10_000
NEGATION_PREFIX = "not_"
GROUP_KEYS = ("all", "any", "not")

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

Path: TypeAlias = tuple[str | int, ...]
Problem: TypeAlias = tuple[Path, str]
Ticket: TypeAlias = Mapping[str, Any]
Matcher: TypeAlias = Callable[[Ticket], "str | None"]


@dataclass(frozen=True)
class Op:
    """One condition operator: the field kinds it accepts and a one-line meaning."""

    name: str
    kinds: frozenset[str]
    meaning: str


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("equals", _SCALAR_KINDS, "equal to the value (text compares case-insensitively)"),
        Op("in", _SCALAR_KINDS, "equal to one of a list of values (text case-insensitively)"),
        Op("contains", frozenset({"str"}), "text contains the value, case-insensitively"),
        Op("matches", frozenset({"str"}), "a regular expression finds a match (search)"),
        Op("domain", frozenset({"str"}), "e-mail address domain is one of (exact, no subdomains)"),
        Op("empty", _SCALAR_KINDS | {"date", "array"}, "true: null, '' or unset date; false: set"),
        Op("older_than", frozenset({"date"}), "date is more than a duration before now"),
        Op("newer_than", frozenset({"date"}), "date is less than a duration before now"),
        Op("gt", frozenset({"int", "num", "date"}), "greater than a number or a date"),
        Op("lt", frozenset({"int", "num", "date"}), "less than a number or a date"),
    )
}


@dataclass(frozen=True)
class Check:
    """One operator applied to one field; ``value`` is the validated YAML value."""

    field: str
    op: str
    negate: bool
    value: Any

    @property
    def label(self) -> str:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.field} {NEGATION_PREFIX if self.negate else ''}{self.op} {value!r}"


@dataclass(frozen=True)
class Group:
    """``all``/``any``/``not`` over child nodes (a where mapping is an ``all``)."""

    kind: str
    children: tuple[Node, ...]


Node: TypeAlias = Check | Group


def field_kind(name: str) -> str | None:
    """The condition kind of a list-row field (str, int, num, bool, date, array, other)."""
    halo_type = ticket_list_fields().get(name)
    if halo_type is None:
        return None
    if name in DATE_FIELDS:
        return "date"
    return _KINDS.get(halo_type, "other")


def op_names() -> list[str]:
    """Every operator spelling a condition accepts, negations included."""
    return [*OPS, *(NEGATION_PREFIX + name for name in OPS)]


# ---------------------------------------------------------------- parsing and validation


def parse_where(raw: object, path: Path = ("where",)) -> tuple[Node | None, list[Problem]]:
    """Validate a ``where`` value; return the tree (None when absent) and the problems."""
    if raw is None:
        return None, []
    problems: list[Problem] = []
    node = _parse_mapping(raw, path, problems, depth=0)
    return node, problems


def _parse_mapping(raw: object, path: Path, problems: list[Problem], depth: int) -> Node | None:
    if depth > 20:
        problems.append((path, "conditions are nested too deeply (more than 20 levels)"))
        return None
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            (path, "expected a mapping of fields and all/any/not, e.g. {summary: {contains: x}}")
        )
        return None
    children: list[Node] = []
    for key, value in raw.items():
        key_path = (*path, key)
        if key in GROUP_KEYS:
            child = _parse_group(key, value, key_path, problems, depth)
        else:
            child = _parse_field(key, value, key_path, problems)
        if child is not None:
            children.append(child)
    if len(children) != len(raw):
        return None
    return children[0] if len(children) == 1 else Group("all", tuple(children))


def _parse_group(
    kind: str, raw: object, path: Path, problems: list[Problem], depth: int
) -> Node | None:
    items: Sequence[object]
    if kind == "not" and isinstance(raw, Mapping):
        items = [raw]
        item_paths: list[Path] = [path]
    elif isinstance(raw, list) and raw:
        items = raw
        item_paths = [(*path, i) for i in range(len(raw))]
    else:
        problems.append((path, f"'{kind}' holds a non-empty list of conditions"))
        return None
    children = [
        _parse_mapping(item, item_path, problems, depth + 1)
        for item, item_path in zip(items, item_paths, strict=True)
    ]
    good = tuple(c for c in children if c is not None)
    return Group(kind, good) if len(good) == len(children) else None


def _parse_field(field: str, raw: object, path: Path, problems: list[Problem]) -> Node | None:
    kind = field_kind(field)
    if kind is None:
        hint = did_you_mean(field, [*ticket_list_fields(), *GROUP_KEYS])
        problems.append((path, f"unknown ticket field '{field}'{hint}"))
        return None
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            (path, f"'{field}' needs a mapping of operators, e.g. {field}: {{equals: ...}}")
        )
        return None
    tests: list[Node] = []
    for op_text, value in raw.items():
        test = _parse_test(field, kind, str(op_text), value, (*path, op_text), problems)
        if test is not None:
            tests.append(test)
    if len(tests) != len(raw):
        return None
    return tests[0] if len(tests) == 1 else Group("all", tuple(tests))


def _parse_test(
    field: str, kind: str, op_text: str, value: object, path: Path, problems: list[Problem]
) -> Check | None:
    negate = op_text.startswith(NEGATION_PREFIX)
    name = op_text[len(NEGATION_PREFIX) :] if negate else op_text
    op = OPS.get(name)
    if op is None:
        problems.append((path, f"unknown operator '{op_text}'{did_you_mean(op_text, op_names())}"))
        return None
    if kind not in op.kinds:
        problems.append((path, f"'{op_text}' does not apply to {field} ({_KIND_WORDS[kind]})"))
        return None
    try:
        normalised = _CHECKERS[name](kind, value)
    except ValueError as e:
        problems.append((path, f"{field} {op_text}: {e}"))
        return None
    return Check(field, name, negate, normalised)


_KIND_WORDS = {
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
        raise ValueError(f"{value!r} is not a value for {_KIND_WORDS[kind]}")
    return value


def _check_equals(kind: str, value: object) -> object:
    return _scalar(kind, value)


def _check_in(kind: str, value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError("expects a non-empty list of values")
    return tuple(_scalar(kind, v) for v in value)


def _check_text(kind: str, value: object) -> object:
    if not isinstance(value, str) or not value:
        raise ValueError("expects non-empty text")
    return value


def _check_regex(kind: str, value: object) -> object:
    pattern = _check_text(kind, value)
    try:
        regex.compile(pattern)
    except (regex.error, TypeError, ValueError) as e:
        raise ValueError(f"bad regular expression {pattern!r}: {e}") from e
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


_CHECKERS: dict[str, Callable[[str, object], object]] = {
    "equals": _check_equals,
    "in": _check_in,
    "contains": _check_text,
    "matches": _check_regex,
    "domain": _check_domain,
    "empty": _check_bool,
    "older_than": _check_duration,
    "newer_than": _check_duration,
    "gt": _check_bound,
    "lt": _check_bound,
}


# ---------------------------------------------------------------- explaining


def describe(node: Node) -> str:
    """A static one-line description of a node (used for ``not`` in match reasons)."""
    if isinstance(node, Check):
        return node.label
    inner = [describe(c) for c in node.children]
    if node.kind == "all":
        return inner[0] if len(inner) == 1 else "(" + " and ".join(inner) + ")"
    joined = " or ".join(inner)
    return f"not({joined})" if node.kind == "not" else f"({joined})"


def fields_of(node: Node | None) -> set[str]:
    """Every field a condition tree reads."""
    if node is None:
        return set()
    if isinstance(node, Check):
        return {node.field}
    return set().union(*(fields_of(c) for c in node.children))


# ---------------------------------------------------------------- compiling


def compile_where(node: Node | None, *, now: datetime) -> Matcher:
    """Compile a tree once into ``ticket -> reason | None`` (None: the ticket does not match)."""
    if node is None:
        return lambda ticket: "no conditions (every selected ticket)"
    return _compile(node, now)


def _compile(node: Node, now: datetime) -> Matcher:
    if isinstance(node, Check):
        return _compile_test(node, now)
    children = [_compile(c, now) for c in node.children]
    if node.kind == "any":
        return _any(children)
    if node.kind == "not":
        return _not(children, describe(node))
    return _all(children)


def _all(children: list[Matcher]) -> Matcher:
    if len(children) == 1:
        return children[0]

    def match(ticket: Ticket) -> str | None:
        reasons = []
        for child in children:
            reason = child(ticket)
            if reason is None:
                return None
            reasons.append(reason)
        return " and ".join(reasons)

    return match


def _any(children: list[Matcher]) -> Matcher:
    def match(ticket: Ticket) -> str | None:
        for i, child in enumerate(children):
            reason = child(ticket)
            if reason is not None:
                return f"any[{i}]: {reason}"
        return None

    return match


def _not(children: list[Matcher], label: str) -> Matcher:
    def match(ticket: Ticket) -> str | None:
        for child in children:
            if child(ticket) is not None:
                return None
        return label

    return match


def _compile_test(test: Check, now: datetime) -> Matcher:
    predicate = _PREDICATES[test.op](test, now)
    field, label, negate = test.field, test.label, test.negate

    def match(ticket: Ticket) -> str | None:
        return label if predicate(ticket.get(field)) is not negate else None

    return match


Predicate: TypeAlias = Callable[[Any], bool]


def _fold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def _p_equals(test: Check, now: datetime) -> Predicate:
    target = _fold(test.value)
    is_bool = isinstance(test.value, bool)
    return lambda v: _fold(v) == target and isinstance(v, bool) == is_bool


def _p_in(test: Check, now: datetime) -> Predicate:
    bools = frozenset(v for v in test.value if isinstance(v, bool))
    others = frozenset(_fold(v) for v in test.value if not isinstance(v, bool))

    def predicate(value: object) -> bool:
        if isinstance(value, bool):
            return value in bools
        return isinstance(value, str | int | float) and _fold(value) in others

    return predicate


def _p_contains(test: Check, now: datetime) -> Predicate:
    needle = str(test.value).casefold()
    return lambda v: isinstance(v, str) and needle in v.casefold()


def _p_matches(test: Check, now: datetime) -> Predicate:
    pattern = regex.compile(test.value)
    field, text = test.field, str(test.value)

    def predicate(value: object) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return (
                pattern.search(value[:REGEX_MAX_INPUT], timeout=REGEX_TIMEOUT_SECONDS) is not None
            )
        except TimeoutError as e:
            raise RegexTimeoutError(field, text) from e

    return predicate


def email_domain(value: object) -> str | None:
    """The lower-cased domain of an e-mail address (after the last ``@``), or None."""
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.rsplit("@", 1)[1].strip().rstrip(">").strip().lower() or None


def _p_domain(test: Check, now: datetime) -> Predicate:
    domains = frozenset(test.value)
    return lambda v: email_domain(v) in domains


def is_empty(value: object, *, date: bool = False) -> bool:
    """None, '', [] and (for date fields) Halo's unset dates count as empty."""
    if value is None or value == "" or value == []:
        return True
    if date:
        return _date_or_none(value) is None
    return False


def _p_empty(test: Check, now: datetime) -> Predicate:
    date, wanted = test.field in DATE_FIELDS, bool(test.value)
    return lambda v: is_empty(v, date=date) is wanted


def _date_or_none(value: object) -> datetime | None:
    try:
        return parse_halo_date(value)
    except (ValueError, TypeError):
        return None


def _p_older(test: Check, now: datetime) -> Predicate:
    cutoff = now - parse_duration(test.value)

    def predicate(value: object) -> bool:
        when = _date_or_none(value)
        return when is not None and when < cutoff

    return predicate


def _p_newer(test: Check, now: datetime) -> Predicate:
    cutoff = now - parse_duration(test.value)

    def predicate(value: object) -> bool:
        when = _date_or_none(value)
        return when is not None and when > cutoff

    return predicate


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bound(test: Check, greater: bool) -> Predicate:
    if test.field in DATE_FIELDS:
        limit = parse_halo_date(test.value)

        def by_date(value: object) -> bool:
            when = _date_or_none(value)
            if when is None or limit is None:
                return False
            return when > limit if greater else when < limit

        return by_date
    number = test.value
    if greater:
        return lambda v: _is_number(v) and bool(v > number)
    return lambda v: _is_number(v) and bool(v < number)


def _p_gt(test: Check, now: datetime) -> Predicate:
    return _bound(test, greater=True)


def _p_lt(test: Check, now: datetime) -> Predicate:
    return _bound(test, greater=False)


_PREDICATES: dict[str, Callable[[Check, datetime], Predicate]] = {
    "equals": _p_equals,
    "in": _p_in,
    "contains": _p_contains,
    "matches": _p_matches,
    "domain": _p_domain,
    "empty": _p_empty,
    "older_than": _p_older,
    "newer_than": _p_newer,
    "gt": _p_gt,
    "lt": _p_lt,
}
