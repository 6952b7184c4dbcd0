"""Build an undo plan from the journal: an ordinary Plan, previewed, confirmed and journaled.

Every field a run changed goes back to its "before" value (closed tickets are reopened to
their previous status by the same rule); the actions the run posted are removed with
``DELETE /api/Actions/{id}?ticket_id=``; actions an earlier undo removed are posted again.
The stale check of apply then skips, rather than clobbers, any ticket someone changed since
the run: the undo plan's "before" values are the run's "after" values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from halo_automate.core import customfields
from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import (
    PLAN_VERSION,
    ActionSpec,
    FieldChange,
    Plan,
    RemoveAction,
    TicketChange,
    new_run_id,
    plan_from_json,
)
from halo_automate.core.schema import CATEGORY_FIELDS
from halo_automate.core.values import restore_value
from halo_automate.engine.writes import without_marker
from halo_automate.errors import PlanError
from halo_automate.store.journal import ChangeKind, ChangeRow, Journal


def build_undo_plan(journal: Journal, run_id: str, *, now: datetime) -> Plan:
    """The plan that puts back what ``run_id`` changed (only its *done* changes)."""
    run = journal.get_run(run_id)
    if run.mode == "preview" or run.status in ("previewed", "refused"):
        raise PlanError(f"run {run_id} was a {run.status} run and wrote nothing; nothing to undo")
    every = journal.changes(run_id)
    if run.status == "running" or any(r.state == "pending" for r in every):
        raise PlanError(
            f"run {run_id} is still running or was interrupted (writes of unknown outcome); "
            "let it finish or run `recover` first, then undo it"
        )
    rows = [r for r in every if r.state == "done"]
    if not rows:
        raise PlanError(f"run {run_id} has no applied changes; nothing to undo")
    text = journal.plan_json(run_id)
    original = plan_from_json(text) if text else None
    names = {c.ticket_id: (c.client_name, c.summary) for c in original.changes} if original else {}
    updates = {c.ticket_id: c.ticket_update for c in original.changes} if original else {}
    by_ticket: dict[int, list[ChangeRow]] = defaultdict(list)
    for row in rows:
        by_ticket[row.ticket_id].append(row)
    changes = tuple(
        _undo_change(tid, ticket_rows, names.get(tid, ("", "")), run_id, updates.get(tid))
        for tid, ticket_rows in sorted(by_ticket.items())
    )
    return Plan(
        version=PLAN_VERSION,
        run_id=new_run_id(now),
        playbook=run.playbook,
        playbook_hash=run.playbook_hash,
        created_at=now.isoformat(),
        mode="undo",
        halo_rules=original.halo_rules if original else False,
        max_changes=max(len(changes), 1),
        expect_min=None,
        expect_max=None,
        query={},
        scanned=len(changes),
        matched=len(changes),
        changes=changes,
        undo_of=run_id,
        instance=run.instance_name,
        instance_identity=run.instance_identity or "",
    )


def _undo_change(
    ticket_id: int,
    rows: list[ChangeRow],
    names: tuple[str, str],
    run_id: str,
    written: Mapping[str, Any] | None = None,
) -> TicketChange:
    fields: dict[str, FieldChange] = {}
    update: dict[str, Any] = {}
    removals: list[RemoveAction] = []
    reposts: list[ActionSpec] = []
    for row in rows:
        if row.kind is ChangeKind.ACTION:
            body = row.after if isinstance(row.after, dict) else {}
            removals += [
                RemoveAction(action_id, _without_marker(body)) for action_id in row.action_ids
            ]
        elif row.kind is ChangeKind.ACTION_DELETE:
            if isinstance(row.before, dict):
                reposts.append(ActionSpec("restore", _without_marker(row.before)))
        else:
            fields[row.field] = FieldChange(before=row.after, after=row.before)  # type: ignore[arg-type]
            update[row.field] = restore_value(row.field, row.before)
    customfields.undo_update(written, update)  # custom fields: the whole array, put back
    return TicketChange(
        ticket_id=ticket_id,
        client_name=names[0],
        summary=names[1],
        reason=f"undo of run {run_id}",
        fields=fields,
        ticket_update=update,
        actions=tuple(reposts),
        remove_actions=tuple(removals),
    )


def _without_marker(body: dict[str, Any]) -> dict[str, Any]:
    """The action body as the playbook planned it: no ticket id, no run marker."""
    out = {k: v for k, v in body.items() if k not in ("ticket_id", "dont_do_rules")}
    if "note" in out:
        out["note"] = without_marker(str(out.get("note") or ""))
    return out


def category_levels(plan: Plan) -> list[int]:
    """The category fields (1-4) an undo plan would write back."""
    used = {name for change in plan.changes for name in change.ticket_update}
    return [n for n, name in enumerate(CATEGORY_FIELDS, start=1) if name in used]


def undo_warnings(plan: Plan, lookups: Lookups) -> list[str]:
    """Tickets whose undo would restore a category value Halo no longer lists.

    Halo refuses such a value (400 "Category 'X' is not valid"), so those tickets will fail;
    saying so before the confirmation lets the user decide (typically: a category cleanup
    retired the value on purpose).
    """
    missing: dict[tuple[str, str], list[int]] = defaultdict(list)
    for change in plan.changes:
        for name in CATEGORY_FIELDS:
            value = change.ticket_update.get(name)
            level = int(name[-1])
            if isinstance(value, str) and value and lookups.category(level).by_name(value) is None:
                missing[(name, value)].append(change.ticket_id)
    return [
        f"{len(ids)} ticket(s) would get {name} {value!r} back, which Halo no longer lists: "
        f"Halo will refuse them (e.g. ticket {ids[0]})"
        for (name, value), ids in sorted(missing.items())
    ]
