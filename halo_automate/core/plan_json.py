"""Strict JSON reading for plan documents: the parser and the typed field readers.

Shared by the current plan document (:mod:`halo_automate.core.plan_doc`) and the reader of
version-1 documents older journals hold (:mod:`halo_automate.core.plan_doc_v1`). Reading is
strict: JSON without NaN/Infinity, nested at most :data:`MAX_PLAN_DEPTH` deep, every field
of the expected type; every problem is one PlanError line (or a KeyError/TypeError/ValueError
the document reader turns into one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from halo_automate.core.actions.registry import POSTED_KINDS
from halo_automate.core.changes import (
    ActionSpec,
    FieldChange,
    Group,
    NotEvaluated,
    RemoveAction,
)
from halo_automate.errors import PlanError

MAX_PLAN_DEPTH = 64
"""Deepest nesting of arrays and objects a plan document may have (field values included)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def strict_json(text: str) -> Any:
    """Parse strictly: no NaN/Infinity, numbers Python can read, nesting at most
    :data:`MAX_PLAN_DEPTH`; every problem is one PlanError line."""
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise PlanError(f"not a plan: JSON nested deeper than {MAX_PLAN_DEPTH}") from None
    except (ValueError, TypeError) as e:
        raise PlanError(f"not a plan: bad JSON ({str(e)[:200]})") from None
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict | list):
            if depth > MAX_PLAN_DEPTH:
                raise PlanError(f"not a plan: JSON nested deeper than {MAX_PLAN_DEPTH}")
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return doc


def take(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``doc[key]``, which must be of ``kind`` (a bool is not an int)."""
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise TypeError(f"{key!r} is {type(value).__name__}, expected {kind}")
    return value


def opt_int(doc: Mapping[str, Any], key: str) -> int | None:
    return None if doc.get(key) is None else int(take(doc, key, int))


def opt_text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key!r} must be text or null")
    return value


def text_query(doc: Mapping[str, Any]) -> Mapping[str, str]:
    query = take(doc, "query", dict)
    if not all(isinstance(v, str) for v in query.values()):
        raise TypeError("'query' values must be text")
    return MappingProxyType(dict(query))


def warnings(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The plan's warnings; a document older than them (no key) has none."""
    items = doc.get("warnings", [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise TypeError("'warnings' must be a list of text")
    return tuple(items)


def not_evaluated(doc: Mapping[str, Any]) -> tuple[NotEvaluated, ...]:
    items = doc.get("not_evaluated", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("'not_evaluated' must be a list of {ticket_id, summary, why}")
    return tuple(
        NotEvaluated(take(i, "ticket_id", int), take(i, "summary", str), take(i, "why", str))
        for i in items
    )


def remove_actions(doc: Mapping[str, Any]) -> tuple[RemoveAction, ...]:
    items = doc.get("remove_actions", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("'remove_actions' must be a list of {action_id, body}")
    return tuple(
        RemoveAction(take(i, "action_id", int), MappingProxyType(dict(take(i, "body", dict))))
        for i in items
    )


def action_specs(items: object) -> tuple[ActionSpec, ...]:
    """A change's ``actions``: each ``{kind, body}`` of a posted kind some action posts
    (:data:`~halo_automate.core.actions.registry.POSTED_KINDS`)."""
    if not isinstance(items, list):
        raise TypeError(f"'actions' is {type(items).__name__}, expected a list")
    specs = []
    for item in items:
        if not isinstance(item, dict):
            raise TypeError("an action must be an object")
        kind = take(item, "kind", str)
        if kind not in POSTED_KINDS:
            raise ValueError(f"unknown action kind {kind!r} (known: {', '.join(POSTED_KINDS)})")
        specs.append(ActionSpec(kind, MappingProxyType(take(item, "body", dict))))
    return tuple(specs)


def field_changes(items: object, key: str = "fields") -> dict[str, FieldChange]:
    """``{name: {before, after}}`` as FieldChange values."""
    if not isinstance(items, dict):
        raise TypeError(f"{key!r} is {type(items).__name__}, expected {dict}")
    fields = {}
    for name, pair in items.items():
        if not isinstance(pair, dict) or set(pair) != {"before", "after"}:
            raise TypeError(f"field {name!r} must be {{before, after}}")
        fields[name] = FieldChange(pair["before"], pair["after"])
    return fields


_GROUP_KEYS = frozenset({"key", "survivor", "survivor_summary", "members"})


def groups_of(doc: Mapping[str, Any]) -> tuple[Group, ...]:
    """A ``group:`` plan's groups; a document without the key has none."""
    items = doc.get("groups", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("'groups' must be a list of {key, survivor, survivor_summary, members}")
    out = []
    for item in items:
        unknown = sorted(set(item) - _GROUP_KEYS)
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} in a group")
        members = take(item, "members", list)
        if not all(isinstance(m, int) and not isinstance(m, bool) for m in members):
            raise TypeError("a group's 'members' must be ticket ids")
        out.append(
            Group(
                take(item, "key", str),
                take(item, "survivor", int),
                take(item, "survivor_summary", str),
                tuple(members),
            )
        )
    return tuple(out)


def group_to_dict(group: Group) -> dict[str, Any]:
    return {
        "key": group.key,
        "survivor": group.survivor,
        "survivor_summary": group.survivor_summary,
        "members": list(group.members),
    }
