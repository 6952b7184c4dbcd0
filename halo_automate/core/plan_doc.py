"""A plan's JSON document: the versioned form saved plans, ``--json`` and the journal hold.

Version 2 (docs/plans.md)::

    {"format": "halo-automate/plan", "version": 2, "run_id": ..., "created_at": ...,
     "mode": "apply" | "undo", "instance": ..., "instance_identity": ...,
     "playbook": {"name": ..., "hash": <sha256 of source>, "source": <the playbook's text>},
     "undo_of": ..., "halo_rules": ..., "max_changes": ..., "expect_min": ..., "expect_max": ...,
     "query": {...}, "scanned": ..., "matched": ..., "ignored_by_halo": ...,
     "changes": [{"ticket_id", "client_name", "summary", "reason",
                  "fields": {name: {before, after}},    # sent in the ticket update
                  "carried": {name: {before, after}},   # changed by a posted action (close)
                  "actions": [{kind, body}],
                  "customfields": {"ids": {field: id}, "array": [{id, value} | {id}]},
                  "remove_actions": [{action_id, body}]}],   # undo plans (apply: refused)
     "not_evaluated_count": ..., "not_evaluated": [...], "warnings": [...],
     "groups": [{"key", "survivor", "survivor_summary", "members": [ids]}],   # group: only
     "irreversible": true,                                                     # merge only
     "custom_field_reads": true, "history_reads": N}      # apply's extra reads (estimate)

Each change is stored once: the ticket update's values are the ``fields``' after-values (an
undo's, :func:`~halo_automate.core.values.restore_value` of them), derived when reading,
never a second copy that could disagree. A change that writes custom fields (plan fields
``customfields.<label>``, issue 18) also has ``customfields``: the ids of the fields it
changes and the whole array the update sends (a partial array blanks the others in Halo),
each changed entry without its value, which is the plan field's
(:func:`~halo_automate.core.customfields.to_document`).

``halo_rules``, ``max_changes`` and ``expect_*`` summarise the playbook for the journal;
``apply`` checks them against the playbook's source (:mod:`halo_automate.core.plan_verify`),
which is where limits come from.

A ``group:`` playbook's plan (issue 18) lists its groups: the key they share (why they
grouped), the survivor and its duplicates; its changes are the duplicates'. ``irreversible``
(a merge) is written only when true, ``groups`` only when there are any, so other plans'
documents are as before.

:func:`plan_to_json` and :func:`plan_from_json` round-trip exactly. Reading is strict (JSON
without NaN/Infinity, bounded nesting: :mod:`halo_automate.core.plan_json`; no unknown keys;
one entry per ticket; action kinds a registered action posts): anything else is a
PlanError. Version-1 documents, which older journals hold, are still read
(:mod:`halo_automate.core.plan_doc_v1`); ``apply`` refuses them as files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from halo_automate.core import customfields
from halo_automate.core.changes import (
    PLAN_FORMAT,
    PLAN_VERSION,
    FieldChange,
    JSONValue,
    Plan,
    TicketChange,
)
from halo_automate.core.plan_doc_v1 import VERSION as V1
from halo_automate.core.plan_doc_v1 import plan_from_v1
from halo_automate.core.plan_json import (
    MAX_PLAN_DEPTH,
    action_specs,
    field_changes,
    group_to_dict,
    groups_of,
    not_evaluated,
    opt_int,
    opt_text,
    remove_actions,
    strict_json,
    take,
    text_query,
    warnings,
)
from halo_automate.core.values import restore_value
from halo_automate.errors import PlanError

__all__ = ["MAX_PLAN_DEPTH", "MODES", "plan_from_json", "plan_to_dict", "plan_to_json"]

MODES = ("apply", "undo")
_TOP = frozenset(
    {
        "format", "version", "run_id", "created_at", "mode", "instance", "instance_identity",
        "playbook", "undo_of", "halo_rules", "max_changes", "expect_min", "expect_max", "query",
        "scanned", "matched", "ignored_by_halo", "changes", "not_evaluated_count",
        "not_evaluated", "warnings", "groups", "irreversible", "custom_field_reads",
        "history_reads",
    }
)  # fmt: skip
_CHANGE = frozenset(
    {"ticket_id", "client_name", "summary", "reason", "fields", "carried", "actions"}
    | {"remove_actions", "customfields"}
)
_PLAYBOOK = frozenset({"name", "hash", "source"})


def update_value(mode: str, name: str, after: JSONValue) -> JSONValue:
    """What the ticket update sends for a field planned to become ``after``."""
    return restore_value(name, after) if mode == "undo" else after


def plan_to_dict(plan: Plan) -> dict[str, JSONValue]:
    """The versioned, documented JSON document of a plan."""
    doc = _plan_dict(plan)
    if plan.groups:
        doc["groups"] = [group_to_dict(g) for g in plan.groups]
    if plan.irreversible:
        doc["irreversible"] = True
    if plan.custom_field_reads:
        doc["custom_field_reads"] = True
    if plan.history_reads:
        doc["history_reads"] = plan.history_reads
    return doc


def _plan_dict(plan: Plan) -> dict[str, JSONValue]:
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "run_id": plan.run_id,
        "created_at": plan.created_at,
        "mode": plan.mode,
        "instance": plan.instance,
        "instance_identity": plan.instance_identity,
        "playbook": {
            "name": plan.playbook,
            "hash": plan.playbook_hash,
            "source": plan.playbook_source or None,
        },
        "undo_of": plan.undo_of,
        "halo_rules": plan.halo_rules,
        "max_changes": plan.max_changes,
        "expect_min": plan.expect_min,
        "expect_max": plan.expect_max,
        "query": dict(plan.query),
        "scanned": plan.scanned,
        "matched": plan.matched,
        "ignored_by_halo": plan.ignored_by_halo,
        "changes": [_change_to_dict(plan.mode, c) for c in plan.changes],
        "not_evaluated_count": len(plan.not_evaluated),
        "not_evaluated": [
            {"ticket_id": n.ticket_id, "summary": n.summary, "why": n.why}
            for n in plan.not_evaluated
        ],
        "warnings": list(plan.warnings),
    }


def _pairs(fields: Mapping[str, FieldChange], names: list[str]) -> dict[str, JSONValue]:
    return {n: {"before": fields[n].before, "after": fields[n].after} for n in names}


def _change_to_dict(mode: str, change: TicketChange) -> dict[str, JSONValue]:
    update = change.ticket_update
    array = customfields.to_document(update)  # ValueError: it disagrees with its fields
    for name, value in update.items():
        if name in (customfields.ARRAY, customfields.IDS):
            continue
        planned = change.fields.get(name)
        if planned is None or value != update_value(mode, name, planned.after):
            raise ValueError(
                f"ticket {change.ticket_id}: the update of {name!r} disagrees with its fields"
            )
    doc: dict[str, JSONValue] = {
        "ticket_id": change.ticket_id,
        "client_name": change.client_name,
        "summary": change.summary,
        "reason": change.reason,
        "fields": _pairs(change.fields, [n for n in change.fields if n in update]),
        "carried": _pairs(change.fields, [n for n in change.fields if n not in update]),
        "actions": [{"kind": a.kind, "body": dict(a.body)} for a in change.actions],
    }
    if array is not None:
        doc["customfields"] = array
    if mode == "undo" or change.remove_actions:
        doc["remove_actions"] = [
            {"action_id": r.action_id, "body": dict(r.body)} for r in change.remove_actions
        ]
    return doc


def plan_to_json(plan: Plan) -> str:
    """The plan as indented JSON text (round-trips exactly through :func:`plan_from_json`)."""
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def plan_document(text: str) -> dict[str, Any]:
    """The parsed JSON object of a plan document of any version (format checked only)."""
    doc = strict_json(text)
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanError(f"not a plan: 'format' is not {PLAN_FORMAT!r}")
    return doc


def plan_from_json(text: str) -> Plan:
    """Read a plan document (version 2, or a journal's version 1); PlanError when it is not
    one, or of an unknown version."""
    return plan_from_document(plan_document(text))


def plan_from_document(doc: Mapping[str, Any]) -> Plan:
    """The Plan of a parsed document (:func:`plan_document`); PlanError when invalid."""
    version = doc.get("version")
    if isinstance(version, bool) or version not in (V1, PLAN_VERSION):
        raise PlanError(f"unsupported plan version {version!r} (this program reads {PLAN_VERSION})")
    try:
        return plan_from_v1(doc) if version == V1 else _plan_from_dict(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"not a valid plan document: {e}") from e


def _no_unknown(doc: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {where}")


def _plan_from_dict(doc: Mapping[str, Any]) -> Plan:
    _no_unknown(doc, _TOP, "the plan")
    mode = take(doc, "mode", str)
    if mode not in MODES:
        raise ValueError(f"'mode' is {mode!r}, expected one of {', '.join(MODES)}")
    playbook = take(doc, "playbook", dict)
    _no_unknown(playbook, _PLAYBOOK, "'playbook'")
    changes = tuple(_change_from_dict(mode, c) for c in take(doc, "changes", list))
    seen: set[int] = set()
    for change in changes:
        if change.ticket_id in seen:
            raise ValueError(f"ticket {change.ticket_id} has two entries in 'changes'")
        seen.add(change.ticket_id)
    return Plan(
        version=PLAN_VERSION,
        run_id=take(doc, "run_id", str),
        playbook=take(playbook, "name", str),
        playbook_hash=take(playbook, "hash", str),
        playbook_source=opt_text(playbook, "source") or "",
        created_at=take(doc, "created_at", str),
        mode=mode,
        halo_rules=take(doc, "halo_rules", bool),
        max_changes=take(doc, "max_changes", int),
        expect_min=opt_int(doc, "expect_min"),
        expect_max=opt_int(doc, "expect_max"),
        query=text_query(doc),
        scanned=take(doc, "scanned", int),
        matched=take(doc, "matched", int),
        changes=changes,
        undo_of=opt_text(doc, "undo_of"),
        ignored_by_halo=take(doc, "ignored_by_halo", int),
        not_evaluated=not_evaluated(doc),
        warnings=warnings(doc),
        groups=groups_of(doc),
        irreversible=doc.get("irreversible") is True,
        custom_field_reads=doc.get("custom_field_reads") is True,
        history_reads=opt_int(doc, "history_reads") or 0,
        instance=take(doc, "instance", str),
        instance_identity=take(doc, "instance_identity", str),
    )


def _change_from_dict(mode: str, doc: object) -> TicketChange:
    if not isinstance(doc, dict):
        raise TypeError("a change must be an object")
    ticket_id = take(doc, "ticket_id", int)
    _no_unknown(doc, _CHANGE, f"the change of ticket {ticket_id}")
    update = field_changes(take(doc, "fields", dict))
    carried = field_changes(take(doc, "carried", dict), "carried")
    both = sorted(set(update) & set(carried))
    if both:
        raise ValueError(f"ticket {ticket_id}: field {both[0]!r} is both in fields and carried")
    values: dict[str, JSONValue] = {n: update_value(mode, n, fc.after) for n, fc in update.items()}
    if "customfields" in doc:
        values.update(customfields.from_document(take(doc, "customfields", dict), values))
    elif any(customfields.is_plan_field(n) for n in values):  # it would send no array
        raise ValueError(f"ticket {ticket_id}: custom fields without their 'customfields' array")
    return TicketChange(
        ticket_id=ticket_id,
        client_name=take(doc, "client_name", str),
        summary=take(doc, "summary", str),
        reason=take(doc, "reason", str),
        fields=MappingProxyType({**update, **carried}),
        ticket_update=MappingProxyType(values),
        actions=action_specs(take(doc, "actions", list)),
        remove_actions=remove_actions(doc),
    )
