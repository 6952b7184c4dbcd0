"""A plan's JSON document: the versioned form saved plans, ``--json`` and the journal hold.

``{"format": "halo-automate/plan", "version": 1, ...}``; :func:`plan_to_json` and
:func:`plan_from_json` round-trip exactly. Reading is strict: JSON without NaN/Infinity,
nested at most :data:`MAX_PLAN_DEPTH` deep; a document that is not a plan, of another version,
or holding an action kind no registered action posts
(:data:`~halo_automate.core.actions.registry.POSTED_KINDS`) is a PlanError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from halo_automate.core.actions.registry import POSTED_KINDS
from halo_automate.core.changes import (
    PLAN_FORMAT,
    PLAN_VERSION,
    ActionSpec,
    FieldChange,
    JSONValue,
    NotEvaluated,
    Plan,
    RemoveAction,
    TicketChange,
)
from halo_automate.errors import PlanError


def plan_to_dict(plan: Plan) -> dict[str, JSONValue]:
    """The versioned, documented JSON document of a plan."""
    return {
        "format": PLAN_FORMAT,
        "version": plan.version,
        "run_id": plan.run_id,
        "playbook": plan.playbook,
        "playbook_hash": plan.playbook_hash,
        "created_at": plan.created_at,
        "mode": plan.mode,
        "instance": plan.instance,
        "instance_identity": plan.instance_identity,
        "undo_of": plan.undo_of,
        "halo_rules": plan.halo_rules,
        "max_changes": plan.max_changes,
        "expect_min": plan.expect_min,
        "expect_max": plan.expect_max,
        "query": dict(plan.query),
        "scanned": plan.scanned,
        "matched": plan.matched,
        "ignored_by_halo": plan.ignored_by_halo,
        "changes": [_change_to_dict(c) for c in plan.changes],
        "not_evaluated_count": len(plan.not_evaluated),
        "not_evaluated": [
            {"ticket_id": n.ticket_id, "summary": n.summary, "why": n.why}
            for n in plan.not_evaluated
        ],
        "warnings": list(plan.warnings),
    }


def _change_to_dict(change: TicketChange) -> dict[str, JSONValue]:
    return {
        "ticket_id": change.ticket_id,
        "client_name": change.client_name,
        "summary": change.summary,
        "reason": change.reason,
        "fields": {k: {"before": v.before, "after": v.after} for k, v in change.fields.items()},
        "ticket_update": dict(change.ticket_update),
        "actions": [{"kind": a.kind, "body": dict(a.body)} for a in change.actions],
        "remove_actions": [
            {"action_id": r.action_id, "body": dict(r.body)} for r in change.remove_actions
        ],
    }


def plan_to_json(plan: Plan) -> str:
    """The plan as indented JSON text (round-trips exactly through :func:`plan_from_json`)."""
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def plan_from_json(text: str) -> Plan:
    """Read a plan document; PlanError when it is not one, or of an unknown version."""
    doc = _strict_json(text)
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanError(f"not a plan: 'format' is not {PLAN_FORMAT!r}")
    version = doc.get("version")
    if version != PLAN_VERSION or isinstance(version, bool):
        raise PlanError(f"unsupported plan version {version!r} (this program reads {PLAN_VERSION})")
    try:
        return _plan_from_dict(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"not a valid plan document: {e}") from e


MAX_PLAN_DEPTH = 64
"""Deepest nesting of arrays and objects a plan document may have (field values included)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _strict_json(text: str) -> Any:
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


def _take(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise TypeError(f"{key!r} is {type(value).__name__}, expected {kind}")
    return value


def _opt_int(doc: Mapping[str, Any], key: str) -> int | None:
    return None if doc.get(key) is None else int(_take(doc, key, int))


def _plan_from_dict(doc: Mapping[str, Any]) -> Plan:
    query = _take(doc, "query", dict)
    if not all(isinstance(v, str) for v in query.values()):
        raise TypeError("'query' values must be text")
    undo_of = doc.get("undo_of")
    if undo_of is not None and not isinstance(undo_of, str):
        raise TypeError("'undo_of' must be text or null")
    return Plan(
        version=PLAN_VERSION,
        run_id=_take(doc, "run_id", str),
        playbook=_take(doc, "playbook", str),
        playbook_hash=_take(doc, "playbook_hash", str),
        created_at=_take(doc, "created_at", str),
        mode=_take(doc, "mode", str),
        halo_rules=_take(doc, "halo_rules", bool),
        max_changes=_take(doc, "max_changes", int),
        expect_min=_opt_int(doc, "expect_min"),
        expect_max=_opt_int(doc, "expect_max"),
        query=MappingProxyType(dict(query)),
        scanned=_take(doc, "scanned", int),
        matched=_take(doc, "matched", int),
        changes=tuple(_change_from_dict(c) for c in _take(doc, "changes", list)),
        undo_of=undo_of,
        ignored_by_halo=_take(doc, "ignored_by_halo", int) if "ignored_by_halo" in doc else 0,
        not_evaluated=_not_evaluated(doc),
        warnings=_warnings(doc),
        instance=_take(doc, "instance", str) if "instance" in doc else "default",
        instance_identity=(
            _take(doc, "instance_identity", str) if "instance_identity" in doc else ""
        ),
    )


def _warnings(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The plan's warnings; a document older than them (no key) has none."""
    items = doc.get("warnings", [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise TypeError("'warnings' must be a list of text")
    return tuple(items)


def _not_evaluated(doc: Mapping[str, Any]) -> tuple[NotEvaluated, ...]:
    items = doc.get("not_evaluated", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("'not_evaluated' must be a list of {ticket_id, summary, why}")
    return tuple(
        NotEvaluated(_take(i, "ticket_id", int), _take(i, "summary", str), _take(i, "why", str))
        for i in items
    )


def _change_from_dict(doc: object) -> TicketChange:
    if not isinstance(doc, dict):
        raise TypeError("a change must be an object")
    fields = {}
    for name, pair in _take(doc, "fields", dict).items():
        if not isinstance(pair, dict) or set(pair) != {"before", "after"}:
            raise TypeError(f"field {name!r} must be {{before, after}}")
        fields[name] = FieldChange(pair["before"], pair["after"])
    actions = []
    for item in _take(doc, "actions", list):
        if not isinstance(item, dict):
            raise TypeError("an action must be an object")
        kind = _take(item, "kind", str)
        if kind not in POSTED_KINDS:
            raise ValueError(f"unknown action kind {kind!r} (known: {', '.join(POSTED_KINDS)})")
        actions.append(ActionSpec(kind, MappingProxyType(_take(item, "body", dict))))
    return TicketChange(
        ticket_id=_take(doc, "ticket_id", int),
        client_name=_take(doc, "client_name", str),
        summary=_take(doc, "summary", str),
        reason=_take(doc, "reason", str),
        fields=MappingProxyType(fields),
        ticket_update=MappingProxyType(dict(_take(doc, "ticket_update", dict))),
        actions=tuple(actions),
        remove_actions=_remove_actions(doc),
    )


def _remove_actions(doc: Mapping[str, Any]) -> tuple[RemoveAction, ...]:
    items = doc.get("remove_actions", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("'remove_actions' must be a list of {action_id, body}")
    return tuple(
        RemoveAction(_take(i, "action_id", int), MappingProxyType(dict(_take(i, "body", dict))))
        for i in items
    )
