"""Build an undo plan from the journal: an ordinary Plan, previewed, confirmed and journaled.

Every field a run changed goes back to its "before" value (closed tickets are reopened to
their previous status by the same rule). What undo knows about the run's history (undone
already, written by a later run, touched in Halo since) is :mod:`halo_automate.engine.
undo_history`'s: such tickets are left out and reported, and checked again right before the
undo writes. The apply's stale check then skips, rather than clobbers, any ticket whose field
someone changed since: the undo plan's "before" values are the run's "after" values.

A ticket the run merged into another (``merge``, issue 18) is left out and reported: Halo has no
way back from a merge, and undoing its other changes would reopen a merged
ticket.

Notes, at the cost of the apply (issue 12): Halo deletes actions one request at a time, so by
default undo keeps the run's private notes (they stay as the audit trail) and adds ONE private
note per ticket, "Reverted by run U (halo-automate undo of run R)", posted in the same batched
``POST /api/Actions`` the apply uses. Notes the run posted visible to the user are still
deleted (``DELETE /api/Actions/{id}?ticket_id=``, one request each): a customer must not keep
reading "closed as spam" on a reopened ticket. ``delete_notes=True`` (``--delete-notes``)
deletes every note the run posted instead, and adds none. Actions an earlier undo deleted are
posted again (kind ``restore``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from halo_automate.core import customfields
from halo_automate.core.groups import MERGED
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
    requests_needed,
    seconds_needed,
)
from halo_automate.core.schema import CATEGORY_FIELDS
from halo_automate.core.values import restore_value
from halo_automate.engine.custom_reads import read_arrays
from halo_automate.engine.undo_history import (
    RunHistory,
    UndoGuard,
    UndoSkip,
    assess,
    run_history,
    skipped_rows,
)
from halo_automate.engine.writes import Todo, without_marker
from halo_automate.errors import PlanError
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import ChangeKind, ChangeRow, Journal

NOTE_OUTCOME = "Internal Note"
"""The outcome of the note undo adds (never a closing outcome: it must change nothing)."""


def reverted_text(undo_id: str, run_id: str) -> str:
    """The private note undo adds to each ticket it puts back."""
    return f"Reverted by run {undo_id} (halo-automate undo of run {run_id})."


@dataclass(frozen=True)
class UndoPlan:
    """An undo's plan and what its preview says beside the changes."""

    plan: Plan
    skips: tuple[UndoSkip, ...]
    """Tickets left out: changed by a later run or in Halo since, or undone meanwhile."""
    undone: Mapping[int, str]
    """Tickets an earlier undo put back already (left out, not skipped): ticket → undo."""
    delete_notes: bool
    notes_added: int
    notes_deleted: int
    notes_kept: int
    force: frozenset[int] = frozenset()

    def guard(self) -> UndoGuard:
        """What the applier asks right before writing (journals :attr:`skips` too)."""
        return UndoGuard(self.plan.undo_of or "", self.skips, self.force)

    def cost(
        self, batch_size: int, page_size: int, rate_requests: int, rate_seconds: float
    ) -> tuple[int, float]:
        """(requests, least seconds at the rate limit) the undo's apply needs: the check
        before writing (:class:`UndoGuard`, one page per ``page_size`` tickets) included."""
        checks = -(-len(self.plan.changes) // page_size)
        requests = requests_needed(self.plan, batch_size, page_size) + checks
        return requests, seconds_needed(self.plan, requests, rate_requests, rate_seconds)


def prepare_undo(
    client: HaloClient,
    journal: Journal,
    run_id: str,
    *,
    now: datetime,
    delete_notes: bool = False,
    force: Iterable[int] = (),
) -> UndoPlan:
    """The undo of ``run_id``, checked against the journal and against Halo as read now (one
    read of the run's tickets; with notes to add, the outcomes lookup)."""
    history = run_history(journal, run_id)
    current = {t["id"]: t for t in client.tickets_by_ids(sorted(history.rows))}
    custom = [t for t, rows in history.rows.items() if any(_custom(r) for r in rows)]
    read_arrays(client, current, custom)  # custom fields: put back into the array as it is now
    outcome = None if delete_notes else note_outcome(client.lookups(["outcomes"]))
    return plan_undo(
        journal, history, now=now, delete_notes=delete_notes, note_outcome=outcome,
        current=current, force=frozenset(force),
    )  # fmt: skip


def note_outcome(lookups: Lookups) -> int:
    found = lookups.outcomes.by_name(NOTE_OUTCOME)
    if found is None:
        raise PlanError(
            f"Halo lists no outcome {NOTE_OUTCOME!r} for the note undo adds; "
            "undo with --delete-notes instead"
        )
    return found.id


def build_undo_plan(
    journal: Journal,
    run_id: str,
    *,
    now: datetime,
    delete_notes: bool = False,
    note_outcome: int | None = None,
) -> Plan:
    """The plan that puts back what ``run_id`` changed (only its *done* changes, only the
    tickets no undo put back yet, leaving out those a later run changed). Without
    ``note_outcome`` no "Reverted" note is added (:func:`prepare_undo` looks it up)."""
    history = run_history(journal, run_id)
    return plan_undo(
        journal, history, now=now, delete_notes=delete_notes, note_outcome=note_outcome
    ).plan


def plan_undo(
    journal: Journal,
    history: RunHistory,
    *,
    now: datetime,
    delete_notes: bool,
    note_outcome: int | None,
    current: Mapping[int, Mapping[str, Any]] | None = None,
    force: frozenset[int] = frozenset(),
) -> UndoPlan:
    run = history.run
    text = journal.plan_json(run.run_id)
    original = plan_from_json(text) if text else None
    names = {c.ticket_id: (c.client_name, c.summary) for c in original.changes} if original else {}
    updates = {c.ticket_id: c.ticket_update for c in original.changes} if original else {}
    undo_id = new_run_id(now)
    note = None
    if note_outcome is not None and not delete_notes:
        note = ActionSpec("note", {"outcome_id": note_outcome,
                                   "note": reverted_text(undo_id, run.run_id),
                                   "hiddenfromuser": True, "sendemail": False})  # fmt: skip
    now_of = current or {}
    built = {
        tid: _undo_change(tid, rows, names.get(tid, ("", "")), run.run_id, delete_notes, note,
                          (updates.get(tid), now_of.get(tid)))
        for tid, rows in sorted(history.rows.items())
    }  # fmt: skip
    rows_of = {tid: skipped_rows(tid, Todo.whole(c)) for tid, (c, _) in built.items()}
    skips = tuple(assess(history, current or {}, rows_of, force))
    skips += tuple(_merges(history, rows_of, {s.ticket_id for s in skips}))
    left_out = {s.ticket_id for s in skips}
    kept = [(c, n) for tid, (c, n) in built.items() if tid not in left_out and Todo.whole(c).parts]
    changes = tuple(c for c, _ in kept)
    plan = Plan(
        version=PLAN_VERSION,
        run_id=undo_id,
        playbook=run.playbook,
        playbook_hash=run.playbook_hash,
        created_at=now.isoformat(),
        mode="undo",
        halo_rules=original.halo_rules if original else False,
        max_changes=max(len(changes), 1),
        expect_min=None,
        expect_max=None,
        query={},
        scanned=len(built),
        matched=len(built),
        changes=changes,
        undo_of=run.run_id,
        instance=run.instance_name,
        instance_identity=run.instance_identity or "",
    )
    return UndoPlan(
        plan=plan,
        skips=skips,
        undone=history.undone,
        delete_notes=delete_notes,
        notes_added=sum(1 for c in changes for a in c.actions if a is note),
        notes_deleted=sum(len(c.remove_actions) for c in changes),
        notes_kept=sum(n for _, n in kept),
        force=force,
    )


def _undo_change(
    ticket_id: int,
    rows: Iterable[ChangeRow],
    names: tuple[str, str],
    run_id: str,
    delete_notes: bool,
    note: ActionSpec | None,
    arrays: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None] = (None, None),
) -> tuple[TicketChange, int]:
    """The undo of one ticket, and how many of the run's notes on it it keeps. ``arrays``:
    the run's planned ticket update and the ticket as read now, for custom fields
    (:func:`~halo_automate.core.customfields.undo_update`)."""
    fields: dict[str, FieldChange] = {}
    update: dict[str, Any] = {}
    removals: list[RemoveAction] = []
    reposts: list[ActionSpec] = []
    kept = 0
    for row in rows:
        if row.kind is ChangeKind.ACTION:
            body = row.after if isinstance(row.after, dict) else {}
            if delete_notes or not body.get("hiddenfromuser"):
                removals += [
                    RemoveAction(action_id, _without_marker(body)) for action_id in row.action_ids
                ]
            else:
                kept += len(row.action_ids)
        elif row.kind is ChangeKind.ACTION_DELETE:
            if isinstance(row.before, dict):
                reposts.append(ActionSpec("restore", _without_marker(row.before)))
        else:
            fields[row.field] = FieldChange(before=row.after, after=row.before)  # type: ignore[arg-type]
            update[row.field] = restore_value(row.field, row.before)
    customfields.undo_update(arrays[0], update, arrays[1])  # the whole array, each put back
    actions = (*reposts, note) if note is not None else tuple(reposts)
    change = TicketChange(
        ticket_id=ticket_id,
        client_name=names[0],
        summary=names[1],
        reason=f"undo of run {run_id}",
        fields=fields,
        ticket_update=update,
        actions=actions,
        remove_actions=tuple(removals),
    )
    return change, kept


def _merges(
    history: RunHistory, rows_of: Mapping[int, tuple[Any, ...]], skipped: set[int]
) -> list[UndoSkip]:
    """The tickets the run merged: a merge cannot be undone, so undo leaves them alone."""
    out = []
    for tid, rows in sorted(history.rows.items()):
        into = [r.after for r in rows if r.kind is ChangeKind.FIELD and r.field == MERGED]
        if into and tid not in skipped:
            why = f"merged into #{into[0]} by run {history.run.run_id}: a merge cannot be undone"
            out.append(UndoSkip(tid, why, rows_of.get(tid, ())))
    return out


def _custom(row: ChangeRow) -> bool:
    return row.kind is ChangeKind.FIELD and customfields.is_plan_field(row.field)


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
