"""The ``where`` language: parse and validate a condition tree, compile it, explain matches.

A ``where`` is a mapping ``{field: {op: value, ...}, all: [...], any: [...], not: [...]}``;
every entry of a mapping ANDs together, ``all``/``any`` hold lists of such mappings, ``not``
holds a list (or one mapping) and is true when *none* of its entries match. Field names are
the ticket list-row fields Halo returns; each op checks that it suits the field's type.

The operators (what each checks and tests) are rows of :mod:`halo_automate.core.operators`;
this module owns the tree: parsing and validating it (load time), describing it, and compiling
it into one matcher that explains why a ticket matched.

Three-valued: a compiled tree answers a reason (true), None (false) or
:class:`~halo_automate.core.operators.Unknown` (a field it reads cannot be read as its type, see
:func:`~halo_automate.core.operators.read_field`). Groups follow Kleene's logic: ``not`` of
unknown is unknown, ``any`` with a true child is true, ``all`` with a false child is false,
otherwise an unknown child makes the group unknown. So odd data never turns a ``not`` true:
a ticket whose verdict is unknown is reported and never written (:mod:`halo_automate.core.plan`).

Pure: no I/O and no clock (``now`` is passed to :func:`compile_where`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from halo_automate.core.fields import NOT_IN_LIST_ROWS, ticket_list_fields
from halo_automate.core.operators import KIND_WORDS, OPS, Unknown, field_kind, read_field
from halo_automate.core.suggest import did_you_mean, field_hint

NEGATION_PREFIX = "not_"
GROUP_KEYS = ("all", "any", "not")

Path: TypeAlias = tuple[str | int, ...]
Problem: TypeAlias = tuple[Path, str]
Ticket: TypeAlias = Mapping[str, Any]
Verdict: TypeAlias = "str | Unknown | None"
"""A reason (the ticket matches), None (it does not) or Unknown (it cannot be decided)."""
Matcher: TypeAlias = Callable[[Ticket], Verdict]


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
        shown = repr(value)
        if isinstance(value, str) and "'" not in value and value.isprintable():
            shown = f"'{value}'"  # as written: repr would double a regex's every backslash
        return f"{self.field} {NEGATION_PREFIX if self.negate else ''}{self.op} {shown}"


@dataclass(frozen=True)
class Group:
    """``all``/``any``/``not`` over child nodes (a where mapping is an ``all``)."""

    kind: str
    children: tuple[Node, ...]


Node: TypeAlias = Check | Group


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
        hint = field_hint(field, [*ticket_list_fields(), *GROUP_KEYS])
        problems.append((path, f"unknown ticket field '{field}'{hint}"))
        return None
    if field in NOT_IN_LIST_ROWS:
        problems.append((path, f"'{field}' cannot be tested: {NOT_IN_LIST_ROWS[field]}"))
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
        problems.append((path, f"'{op_text}' does not apply to {field} ({KIND_WORDS[kind]})"))
        return None
    try:
        normalised = op.check(kind, value)
    except ValueError as e:
        problems.append((path, f"{field} {op_text}: {e}"))
        return None
    return Check(field, name, negate, normalised)


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


NO_CONDITIONS = "no conditions (every selected ticket)"
"""The reason of a match by a playbook without ``where:``."""


def compile_where(node: Node | None, *, now: datetime) -> Matcher:
    """Compile a tree once into ``ticket -> reason | None | Unknown`` (see :data:`Verdict`)."""
    if node is None:
        return lambda ticket: NO_CONDITIONS
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

    def match(ticket: Ticket) -> Verdict:
        reasons = []
        unknown: Unknown | None = None
        for child in children:
            verdict = child(ticket)
            if verdict is None:
                return None  # a false child decides, whatever else is unknown
            if isinstance(verdict, Unknown):
                unknown = unknown or verdict
            else:
                reasons.append(verdict)
        return unknown or " and ".join(reasons)

    return match


def _first_true(children: list[Matcher], ticket: Ticket) -> tuple[int, Verdict]:
    """(index, reason) of the first true child; else (-1, the first Unknown or None)."""
    unknown: Unknown | None = None
    for i, child in enumerate(children):
        verdict = child(ticket)
        if isinstance(verdict, Unknown):
            unknown = unknown or verdict
        elif verdict is not None:
            return i, verdict
    return -1, unknown


def _any(children: list[Matcher]) -> Matcher:
    def match(ticket: Ticket) -> Verdict:
        i, verdict = _first_true(children, ticket)
        return f"any[{i}]: {verdict}" if i >= 0 else verdict

    return match


def _not(children: list[Matcher], label: str) -> Matcher:
    def match(ticket: Ticket) -> Verdict:
        i, verdict = _first_true(children, ticket)
        if i >= 0:
            return None
        return verdict if isinstance(verdict, Unknown) else label

    return match


def _compile_test(test: Check, now: datetime) -> Matcher:
    predicate = OPS[test.op].predicate(test.field, test.value, now)
    field, label, negate = test.field, test.label, test.negate
    kind = field_kind(field) or "other"

    def match(ticket: Ticket) -> Verdict:
        value = read_field(field, kind, ticket)
        if isinstance(value, Unknown):
            return value  # not unknown is unknown
        return label if predicate(value) is not negate else None

    return match
