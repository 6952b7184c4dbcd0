"""Reading version-1 plan documents, which journals written before version 2 hold.

A version-1 document stored each change twice (``fields`` and a ``ticket_update`` copy) and
its limits beside its playbook's name; ``apply`` refuses such a file (re-plan it), but the
journal's own record of an older run stays readable for ``show``, undo and crash recovery.
Only :func:`halo_automate.core.plan_doc.plan_from_json` calls this, for a journal's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from halo_automate.core.changes import Plan, TicketChange
from halo_automate.core.plan_json import (
    action_specs,
    field_changes,
    not_evaluated,
    opt_int,
    opt_text,
    remove_actions,
    take,
    text_query,
    warnings,
)

VERSION = 1


def plan_from_v1(doc: Mapping[str, Any]) -> Plan:
    """The Plan a version-1 document describes (KeyError/TypeError/ValueError when odd)."""
    return Plan(
        version=VERSION,
        run_id=take(doc, "run_id", str),
        playbook=take(doc, "playbook", str),
        playbook_hash=take(doc, "playbook_hash", str),
        created_at=take(doc, "created_at", str),
        mode=take(doc, "mode", str),
        halo_rules=take(doc, "halo_rules", bool),
        max_changes=take(doc, "max_changes", int),
        expect_min=opt_int(doc, "expect_min"),
        expect_max=opt_int(doc, "expect_max"),
        query=text_query(doc),
        scanned=take(doc, "scanned", int),
        matched=take(doc, "matched", int),
        changes=tuple(_change(c) for c in take(doc, "changes", list)),
        undo_of=opt_text(doc, "undo_of"),
        ignored_by_halo=take(doc, "ignored_by_halo", int) if "ignored_by_halo" in doc else 0,
        not_evaluated=not_evaluated(doc),
        warnings=warnings(doc),
        instance=take(doc, "instance", str) if "instance" in doc else "default",
        instance_identity=(
            take(doc, "instance_identity", str) if "instance_identity" in doc else ""
        ),
    )


def _change(doc: object) -> TicketChange:
    if not isinstance(doc, dict):
        raise TypeError("a change must be an object")
    return TicketChange(
        ticket_id=take(doc, "ticket_id", int),
        client_name=take(doc, "client_name", str),
        summary=take(doc, "summary", str),
        reason=take(doc, "reason", str),
        fields=MappingProxyType(field_changes(take(doc, "fields", dict))),
        ticket_update=MappingProxyType(dict(take(doc, "ticket_update", dict))),
        actions=action_specs(take(doc, "actions", list)),
        remove_actions=remove_actions(doc),
    )
