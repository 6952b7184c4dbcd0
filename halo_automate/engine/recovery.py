"""Finish a run that was interrupted mid-apply (kill -9, power loss, a fatal Halo error).

The journal holds every change that was about to be sent as ``pending``. Recovery reads the
tickets back and, for each pending change:

* a field whose current value is the planned "after" landed: marked done, not re-sent;
* a field still at its "before" did not land: re-sent with its original journal rows;
* a field at some third value was changed by someone else: skipped, never overwritten;
* an action is looked up on the ticket by its run marker: found means done (its id is
  recorded), absent means re-posted (unless the fields it carries, such as a close's status,
  were changed meanwhile). A note is never posted twice;
* an action removal (undo) is done when the action is gone, re-sent when it is still there.

Then the rest of the plan is written: the parts of a started ticket that were never journaled
(for example its note, when the run died between the ticket updates and the actions) and the
tickets the run never reached (after the usual stale check), so the run ends in the state its
plan described. Counts, failures and skips are recomputed from the journal, which is the truth.

Recovery needs only an :class:`~halo_automate.engine.apply.Applier` (its client, journal and
stop flag): it takes the playbook's lock itself and writes through the applier's public
:meth:`~halo_automate.engine.apply.Applier.begin` (check, write, resend). It returns one
:class:`~halo_automate.core.outcome.RunOutcome` per run and journals it once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import structlog

from halo_automate.core.customfields import is_plan_field
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import FieldChange, Plan, TicketChange, plan_from_json
from halo_automate.core.values import field_value
from halo_automate.engine.apply import Applier
from halo_automate.engine.batches import ApplyRun
from halo_automate.engine.custom_reads import read_custom_fields, resend_values
from halo_automate.engine.rows import Write
from halo_automate.engine.tally import Meter
from halo_automate.engine.writer import instance_key, instance_writer
from halo_automate.engine.writes import (
    Todo,
    action_body,
    field_state,
    find_marked,
    marker_of,
    ticket_body,
)
from halo_automate.errors import HaloAutomateError, JournalError, LockLostError, PlanError
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import ChangeKind, ChangeMark, ChangeRow, Counts, Journal, RunRow

log = structlog.get_logger("halo_automate.engine.recovery")

LANDED = "landed before the interruption"


def recover_isolated(applier: Applier, run: RunRow) -> RunOutcome:
    """:func:`recover_run`, but a run that cannot be recovered fails alone: any error (a
    corrupt plan, a value the journal cannot store, a bug) is logged with its traceback,
    journaled as the run's failure and returned as its outcome, so the next run is recovered
    and later runs of the playbook go on. Its pending rows stay pending (their outcome is
    unknown): each recovery reports the run again until ``halo-automate abandon`` gives it up."""
    try:
        return recover_run(applier, run)
    except Exception as e:
        reason = str(e) if isinstance(e, HaloAutomateError) else f"{type(e).__name__}: {e}"
        message = f"recovery failed: {reason}; to give it up: halo-automate abandon {run.run_id}"
        log.error("recovery_failed", run_id=run.run_id, reason=reason, exc_info=True)
        try:
            applier.journal.finish_run(run.run_id, RunStatus.FAILED, message=message)
        except JournalError as journal_error:
            log.warning("recovery_failure_not_journaled", error=str(journal_error))
        error = e if isinstance(e, HaloAutomateError) else PlanError(message)
        return RunOutcome(run.run_id, run.playbook, run.mode, RunStatus.FAILED,
                          trigger=run.trigger, message=message, error=error)  # fmt: skip


def recover_run(applier: Applier, run: RunRow) -> RunOutcome:
    """Reconcile one interrupted run and finish it; returns its outcome (journaled once).

    Fail closed: a run that never journaled a decision to write (no decision row, no pending
    row: a preview, a refusal, or an apply that died before its first batch) is closed
    ``interrupted`` without a single request; its plan is never sent."""
    client, journal = applier.client, applier.journal
    meter = Meter.start(client)
    if journal.decided_at(run.run_id) is None and not journal.pending(run.run_id):
        closed = "interrupted before it decided to write; nothing was written"
        journal.finish_run(run.run_id, RunStatus.INTERRUPTED, message=closed)
        log.warning("run_closed_undecided", run_id=run.run_id)
        return RunOutcome(run.run_id, run.playbook, run.mode, RunStatus.INTERRUPTED,
                          trigger=run.trigger, message=closed)  # fmt: skip
    text = journal.plan_json(run.run_id)
    if not text:
        pending = [r.id for r in journal.pending(run.run_id)]
        journal.mark(pending, "failed", message="no plan recorded; cannot reconcile")
        journal.finish_run(run.run_id, "failed", message="no plan recorded")
        return RunOutcome(run.run_id, run.playbook, run.mode, RunStatus.FAILED, message="no plan")
    plan = plan_from_json(text)
    pending_rows = journal.pending(plan.run_id)
    log.warning("recovering_run", run_id=plan.run_id, pending=len(pending_rows))
    error: HaloAutomateError | None = None
    with journal.acquire_lock(plan.playbook, plan.run_id) as lock:
        try:  # writes only under the instance's writer lock (engine/writer.py)
            with instance_writer(
                journal,
                instance_key(client, plan),
                lock,
                stopping=lambda: applier.stopping,
                poll=applier.poll,
            ) as held:
                if held is not None:
                    reconcile_pending(applier.begin(plan, held), pending_rows)
                    todos, first_batch = remaining(journal, plan)
                    resumed = applier.begin(plan, held, first_batch=first_batch)
                    resumed.check_and_write(todos)
            interrupted = held is None or (applier.stopping and resumed.tally.unreached > 0)
        except HaloAutomateError as e:
            error, interrupted = e, False
        if isinstance(error, LockLostError):  # taken over: the new holder finishes it
            log.warning("lock_lost", run_id=plan.run_id, error=str(error))
            return RunOutcome(plan.run_id, plan.playbook, plan.mode, RunStatus.FAILED,
                              trigger=run.trigger, message=str(error), error=error,
                              locked=True)  # fmt: skip
        totals = journal_totals(journal, plan)
        if error is not None:
            status = RunStatus.FAILED
        else:
            status = RunStatus.INTERRUPTED if interrupted else totals.status
        message = None if error is None else f"recovery stopped: {error}"
        outcome = replace(totals, status=status, trigger=run.trigger, **meter.figures(),
                          message=message, error=error)  # fmt: skip
        journal.finish_run(plan.run_id, outcome.status, counts=Counts.of(outcome), message=message)
    log.info("run_recovered", **outcome.summary())
    return outcome


# ---------------------------------------------------------------------- pending rows


def reconcile_pending(run: ApplyRun, rows: Sequence[ChangeRow]) -> None:
    """Settle every pending row by reading its ticket back; re-send what did not land."""
    if not rows:
        return
    changes = {c.ticket_id: c for c in run.plan.changes}
    by_ticket: dict[int, list[ChangeRow]] = defaultdict(list)
    for row in rows:
        by_ticket[row.ticket_id].append(row)
    current = {t["id"]: t for t in run.client.tickets_by_ids(sorted(by_ticket))}
    read_custom_fields(run.client, current, (changes[t] for t in by_ticket if t in changes))
    pass_ = _Pass(run.client, run.plan)
    for tid, ticket_rows in sorted(by_ticket.items()):
        change, ticket = changes.get(tid), current.get(tid)
        if change is None or ticket is None:
            why = "not in the run's plan" if change is None else "ticket no longer exists"
            pass_.marks += [ChangeMark(r.id, "skipped", why) for r in ticket_rows]
            continue
        pass_.ticket(change, ticket, ticket_rows)
    run.journal.mark_many(pass_.marks)
    run.resend(pass_.tickets, pass_.actions, pass_.deletes)


class _Pass:
    """One reconciliation pass: marks to record and writes to re-send, by kind."""

    def __init__(self, client: HaloClient, plan: Plan) -> None:
        self.client = client
        self.plan = plan
        self.marks: list[ChangeMark] = []
        self.tickets: list[Write] = []
        self.actions: list[Write] = []
        self.deletes: list[Write] = []

    def ticket(self, change: TicketChange, ticket: dict[str, Any], rows: list[ChangeRow]) -> None:
        fields = [r for r in rows if r.kind is ChangeKind.FIELD]
        update = [r for r in fields if r.field in change.ticket_update]
        acts = [r for r in rows if r.kind is ChangeKind.ACTION]
        deletes = [r for r in rows if r.kind is ChangeKind.ACTION_DELETE]
        companions = [r for r in fields if r not in update]
        self._update(change, ticket, update)
        listed = self.client.list_actions(change.ticket_id) if acts or deletes else []
        for row in acts:
            mine = [r for r in companions if r.batch == row.batch]
            companions = [r for r in companions if r.batch != row.batch]
            self._action(change, ticket, row, mine, listed)
        for row in deletes:
            self._delete(change, row, listed)
        for row in companions:  # a carried field whose action row is not pending (not expected)
            if field_state(ticket.get(row.field), _fc(row)) == "after":
                self.marks.append(ChangeMark(row.id, "done", LANDED))
            else:
                self.marks.append(ChangeMark(row.id, "failed", "outcome unknown"))

    def _update(self, change: TicketChange, ticket: dict[str, Any], rows: list[ChangeRow]) -> None:
        resend: list[ChangeRow] = []
        for row in rows:
            state = field_state(_value(ticket, row.field), _fc(row))
            if state == "after":
                self.marks.append(ChangeMark(row.id, "done", LANDED))
            elif state == "before":
                resend.append(row)
            else:
                now = ticket.get(row.field)
                self.marks.append(
                    ChangeMark(row.id, "skipped", f"changed by someone else: now {now!r}")
                )
        values, why = resend_values(change, ticket, {r.field: r.after for r in resend})
        if resend and why is not None:  # another custom field moved: never clobbered
            self.marks += [ChangeMark(r.id, "skipped", why) for r in resend]
        elif resend:
            body = ticket_body(self.plan, change.ticket_id, values)
            self.tickets.append(Write(change, "ticket", body, row_ids=[r.id for r in resend]))

    def _action(
        self,
        change: TicketChange,
        ticket: dict[str, Any],
        row: ChangeRow,
        carried: list[ChangeRow],
        listed: list[dict[str, Any]],
    ) -> None:
        body = dict(row.after) if isinstance(row.after, dict) else {}
        ids = [row.id] + [r.id for r in carried]
        found = find_marked(listed, str(body.get("note", "")))
        if found is not None:
            found_id = found.get("id")
            action_ids = [found_id] if isinstance(found_id, int) else None
            self.marks.append(ChangeMark(row.id, "done", LANDED, action_ids))
            self.marks += [ChangeMark(r.id, "done", LANDED) for r in carried]
            return
        moved = [r for r in carried if field_state(ticket.get(r.field), _fc(r)) != "before"]
        if moved:
            why = f"changed by someone else: {moved[0].field} is {ticket.get(moved[0].field)!r}"
            self.marks += [ChangeMark(i, "skipped", why) for i in ids]
            return
        self.actions.append(Write(change, "action", body, row_ids=ids))

    def _delete(self, change: TicketChange, row: ChangeRow, listed: list[dict[str, Any]]) -> None:
        action_id = row.action_id
        if any(a.get("id") == action_id for a in listed):
            self.deletes.append(Write(change, "delete", {}, row_ids=[row.id], action_id=action_id))
        else:
            self.marks.append(ChangeMark(row.id, "done", LANDED))


def _value(ticket: dict[str, Any], name: str) -> Any:
    """A read-back value: a custom field from the ticket's array, any other field as sent."""
    return field_value(ticket, name) if is_plan_field(name) else ticket.get(name)


def _fc(row: ChangeRow) -> FieldChange:
    return FieldChange(row.before, row.after)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the rest of the plan


def remaining(journal: Journal, plan: Plan) -> tuple[list[Todo], int]:
    """What the run still has to write, per ticket, and the last batch number used.

    A ticket with no journal row was never reached: all of it. A ticket with a failed,
    pending or skipped row is finished as it is. Otherwise: the parts never journaled.
    """
    rows = journal.changes(plan.run_id)
    by_ticket: dict[int, list[ChangeRow]] = defaultdict(list)
    for row in rows:
        by_ticket[row.ticket_id].append(row)
    todos: list[Todo] = []
    for change in plan.changes:
        ticket_rows = by_ticket.get(change.ticket_id)
        if not ticket_rows:
            todos.append(Todo.whole(change))
        elif not _blocked(ticket_rows):
            todo = _rest_of(plan, change, ticket_rows)
            if todo.parts:
                todos.append(todo)
    return todos, max((r.batch for r in rows), default=0)


def _blocked(rows: list[ChangeRow]) -> bool:
    return any(
        r.state in ("failed", "pending")
        or (r.state == "skipped" and r.kind is not ChangeKind.ACTION_DELETE)
        for r in rows
    )


def _rest_of(plan: Plan, change: TicketChange, rows: list[ChangeRow]) -> Todo:
    fields = {r.field for r in rows if r.kind is ChangeKind.FIELD}
    update = bool(change.ticket_update) and not fields & set(change.ticket_update)
    # by run marker, which both note formats share (a run journaled before the playbook tag)
    posted = {_marker(r.after) for r in rows if r.kind is ChangeKind.ACTION}
    removed = {r.action_id for r in rows if r.kind is ChangeKind.ACTION_DELETE}
    actions = tuple(
        i
        for i, spec in enumerate(change.actions)
        if _marker(action_body(plan, change.ticket_id, spec, i)) not in posted
    )
    removals = tuple(r for r in change.remove_actions if r.action_id not in removed)
    return Todo(change, update, actions, removals)


# ---------------------------------------------------------------------- counts


def _marker(body: object) -> str | None:
    return marker_of(str(body.get("note") or "")) if isinstance(body, dict) else None


def journal_totals(journal: Journal, plan: Plan) -> RunOutcome:
    """A run's outcome, per ticket, from its journal rows (which are the truth)."""
    by_ticket: dict[int, list[ChangeRow]] = defaultdict(list)
    for row in journal.changes(plan.run_id):
        by_ticket[row.ticket_id].append(row)
    failures: list[tuple[int, str]] = []
    skips: list[tuple[int, str]] = []
    done = 0
    for tid, rows in sorted(by_ticket.items()):
        bad = [r for r in rows if r.state in ("failed", "pending")]
        skipped = [
            r for r in rows if r.state == "skipped" and r.kind is not ChangeKind.ACTION_DELETE
        ]
        if bad:
            failures.append((tid, bad[0].message or "outcome unknown (pending)"))
        elif skipped:
            skips.append((tid, skipped[0].message or "skipped"))
        else:
            done += 1
    return RunOutcome(
        run_id=plan.run_id,
        playbook=plan.playbook,
        mode=plan.mode,
        status=RunStatus.PARTIAL if failures or skips else RunStatus.SUCCEEDED,
        scanned=plan.scanned,
        matched=plan.matched,
        planned=len(plan.changes),
        changed=done,
        skipped=len(skips),
        failed=len(failures),
        failures=tuple(failures),
        skips=tuple(skips),
    )
