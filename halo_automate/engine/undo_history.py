"""What undo must know before it puts a ticket back: the run's history since it wrote.

Three questions, asked when the undo is planned (so the preview shows the answers) and asked
again right before it writes, under the instance's writer lock (:class:`UndoGuard`):

1. **Was it undone already?** A ticket an undo of the run already put back is left out (a
   partly undone run undoes only the rest); a run wholly undone is refused, naming its undo
   (:func:`run_history`). An undo of an undo is a run like any other.
2. **Did a later run change it?** When another run (any playbook, any process sharing the
   journal, the same Halo instance) wrote one of the fields undo would restore after this
   run did, the ticket is skipped and the report names that run: its change is newer than
   ours and undo must not clobber it. Undo that later run first.
3. **Did someone else touch it in Halo?** Halo's own dates of the ticket (``last_update``,
   ``lastactiondate``, read in the same pages as the stale check) are compared with Halo's
   time of this run's last write to it (and of the later journaled runs'): a date after them
   means a person or another integration worked on the ticket since, even if the fields are
   back at the run's values (an agent reopened a ticket closed as spam, then closed it
   properly). It is skipped as "changed since by someone else" unless ``--force`` names it.
   Halo's times come from its answers to the writes (``changes.halo_at``); a write whose
   answer had none (older journals) is placed at the journal's time plus :data:`SKEW`.

The apply's usual stale check then still compares each field with the run's "after" value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from halo_automate.core.dates import parse_halo_date
from halo_automate.engine.batches import ApplyRun
from halo_automate.engine.writes import Todo
from halo_automate.errors import PlanError
from halo_automate.store.journal import ChangeKind, ChangeRow, Journal, NewChange, RunRow
from halo_automate.store.undos import LaterChange

log = structlog.get_logger("halo_automate.engine.undo")

SLACK = timedelta(seconds=5)
"""Halo stamps a ticket a moment after the write that caused it; a date within this of our
last write is that write."""
SKEW = timedelta(minutes=2)
"""Allowance for the difference between this machine's clock and Halo's, used only for a
write whose Halo time is unknown."""
CHANGED_BY_SOMEONE = "changed since by someone else"


@dataclass(frozen=True)
class RunHistory:
    """A run's done rows still to undo (by ticket) and what happened to those tickets since."""

    run: RunRow
    rows: Mapping[int, Sequence[ChangeRow]]
    """Done rows by ticket, leaving out tickets an undo already put back."""
    undone: Mapping[int, str]
    """Tickets already put back: ticket id → the undo's run id."""
    later: Mapping[int, Sequence[LaterChange]]
    """Later changes of other runs on the same instance, by ticket."""


@dataclass(frozen=True)
class UndoSkip:
    """A ticket the undo leaves alone, why, and the rows journaled as skipped for it."""

    ticket_id: int
    reason: str
    rows: tuple[NewChange, ...]
    forcible: bool = False
    """Skipped only because Halo's dates moved (``--force`` overrides it)."""


def run_history(journal: Journal, run_id: str, *, strict: bool = True) -> RunHistory:
    """Read what undo needs; PlanError when the run cannot be undone (with ``strict``, also
    when an undo of it is running or every ticket of it was put back already)."""
    run = journal.get_run(run_id)
    if run.mode == "preview" or run.status in ("previewed", "refused"):
        raise PlanError(f"run {run_id} was a {run.status} run and wrote nothing; nothing to undo")
    every = journal.changes(run_id)
    if run.status == "running" or any(r.state == "pending" for r in every):
        raise PlanError(
            f"run {run_id} is still running or was interrupted (writes of unknown outcome); "
            "let it finish or run `recover` first, then undo it"
        )
    undone = journal.undone_tickets(run_id) if every else {}
    if strict:
        running = [u.run_id for u in journal.runs(limit=None, undo_of=run_id)
                   if u.status == "running"]  # fmt: skip
        if running:
            raise PlanError(f"run {run_id} is being undone by run {running[0]} right now")
    rows: dict[int, list[ChangeRow]] = defaultdict(list)
    for row in every:
        if row.state == "done" and row.ticket_id not in undone:
            rows[row.ticket_id].append(row)
    if not rows:
        if undone and strict:
            by = sorted(set(undone.values()))
            raise PlanError(
                f"run {run_id} was already undone by run {' and '.join(by)} (see: show "
                f"{by[0]}); nothing is left to undo. To put its changes back, undo {by[-1]}"
            )
        if strict:
            raise PlanError(f"run {run_id} has no applied changes; nothing to undo")
    later: dict[int, list[LaterChange]] = defaultdict(list)
    for change in journal.later_changes(run_id) if rows else []:
        if same_instance(run, change):
            later[change.ticket_id].append(change)
    return RunHistory(run, dict(rows), undone, dict(later))


def same_instance(run: RunRow, change: LaterChange) -> bool:
    """Whether a later change was made to the Halo the run wrote to (by identity when both
    runs recorded one, else by the config's instance name)."""
    if run.instance_identity and change.instance_identity:
        return run.instance_identity == change.instance_identity
    return run.instance_name == change.instance_name


def later_run_reason(rows: Sequence[ChangeRow], later: Sequence[LaterChange]) -> str | None:
    """The later run that wrote one of the fields undo would restore, if any."""
    fields = {r.field for r in rows if r.kind is ChangeKind.FIELD}
    for change in later:
        if change.kind is ChangeKind.FIELD and change.field in fields:
            return (
                f"changed since by run {change.run_id} ({change.playbook}): {change.field}; "
                f"undo that run first"
            )
    return None


def _halo_time(value: str | None) -> datetime | None:
    try:
        return parse_halo_date(value)
    except ValueError:
        return None


def known_until(rows: Sequence[ChangeRow], later: Sequence[LaterChange]) -> datetime | None:
    """The latest moment Halo may show for the ticket from writes the journal knows of."""
    times: list[datetime] = []
    for row in rows:
        halo = _halo_time(row.halo_at)
        if halo is not None:
            times.append(halo + SLACK)
        elif isinstance(row.updated_at, datetime):
            times.append(row.updated_at + SKEW)
    times += [t + SLACK for t in (_halo_time(c.halo_at) for c in later) if t is not None]
    if any(c.halo_at is None for c in later) and times:
        times.append(max(times) + SKEW)  # a later write of unknown time: allow for the clock
    return max(times) if times else None


def halo_reason(ticket: Mapping[str, Any], known: datetime | None) -> str | None:
    """Why Halo says the ticket was touched after the writes the journal knows of, if it does."""
    if known is None:
        return None
    for key in ("last_update", "lastactiondate"):
        when = _halo_time(ticket.get(key))
        if when is not None and when > known:
            return (
                f"{CHANGED_BY_SOMEONE}: Halo's {key} {when:%Y-%m-%d %H:%M:%S} is after the "
                f"run's write (force with --force {ticket.get('id')})"
            )
    return None


def assess(
    history: RunHistory,
    current: Mapping[int, Mapping[str, Any]],
    rows_of: Mapping[int, tuple[NewChange, ...]],
    force: Iterable[int] = (),
    ticket_ids: Iterable[int] | None = None,
) -> list[UndoSkip]:
    """The tickets (of ``ticket_ids``, default all still to undo) undo must leave alone now:
    put back by an undo meanwhile, written by a later run, or touched in Halo since (unless
    forced). ``current``: the tickets as read now; a ticket missing there is left to the
    stale check. ``rows_of``: the rows to journal as skipped for each ticket."""
    forced = set(force)
    skips: list[UndoSkip] = []
    for tid in history.rows if ticket_ids is None else ticket_ids:
        rows = history.rows.get(tid)
        if rows is None:
            undo_id = history.undone.get(tid)
            gone = f"already undone by run {undo_id}" if undo_id else "not in the journal any more"
            skips.append(UndoSkip(tid, gone, rows_of.get(tid, ())))
            continue
        later = history.later.get(tid, ())
        reason = later_run_reason(rows, later)
        if reason is not None:
            skips.append(UndoSkip(tid, reason, rows_of.get(tid, ())))
            continue
        ticket = current.get(tid)
        why = None if ticket is None else halo_reason(ticket, known_until(rows, later))
        if why is not None and tid not in forced:
            skips.append(UndoSkip(tid, why, rows_of.get(tid, ()), forcible=True))
    return skips


@dataclass
class UndoGuard:
    """Asked by the applier right before an undo writes, under the instance's writer lock:
    journals the tickets the undo's plan already left out (``skips``) and skips the planned
    ones that :func:`assess` now finds undone, written by a later run, or touched in Halo
    (one read of the planned tickets, 100 per request)."""

    undo_of: str
    skips: tuple[UndoSkip, ...] = ()
    force: frozenset[int] = frozenset()
    found: list[UndoSkip] = field(default_factory=list)

    def __call__(self, run: ApplyRun, todos: Sequence[Todo]) -> list[Todo]:
        ids = [t.change.ticket_id for t in todos]
        history = run_history(run.journal, self.undo_of, strict=False)
        current = {t["id"]: t for t in run.client.tickets_by_ids(ids)} if ids else {}
        rows_of = {t.change.ticket_id: skipped_rows(t.change.ticket_id, t) for t in todos}
        self.found = assess(history, current, rows_of, self.force, ids)
        skipped = [*self.skips, *self.found]
        rows = [(row, s.reason) for s in skipped for row in s.rows]
        if rows:
            run.journal.add_skipped(run.plan.run_id, rows)
        for skip in skipped:
            run.tally.skipped += 1
            run.tally.skips.append((skip.ticket_id, skip.reason))
            log.info("ticket_skipped", ticket_id=skip.ticket_id, reason=skip.reason)
        gone = {s.ticket_id for s in self.found}
        return [t for t in todos if t.change.ticket_id not in gone]


def skipped_rows(ticket_id: int, todo: Todo) -> tuple[NewChange, ...]:
    """The rows a skipped undo of a ticket is journaled with: its fields (before → after as
    the undo would have written them), or its first action when it restores no field."""
    change = todo.change
    rows = tuple(NewChange(ticket_id, n, fc.before, fc.after) for n, fc in change.fields.items())
    if rows or not change.actions:
        return rows
    spec = change.actions[0]
    return (NewChange(ticket_id, spec.kind, None, dict(spec.body), 0, ChangeKind.ACTION),)
