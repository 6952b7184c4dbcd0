"""What the journal knows about a run's history after it: who undid it, who wrote its
tickets since (issue 12, "undo that knows the history").

* :meth:`UndoHistory.undone_tickets`: the tickets of a run that an undo of it already put
  back (an undo row ``done``, or an action removal that found the action gone), and by which
  undo, so a second undo is refused and a partial one undoes only the rest;
* :meth:`UndoHistory.undone_by`: for ``history`` and ``show``, the undos that wrote;
* :meth:`UndoHistory.later_changes`: every ``done`` change another run (any playbook, any
  process sharing this journal) made to one of the run's tickets after the run wrote it,
  with the Halo time of that write; undo skips a ticket whose restored field was written
  since, and counts those writes as known when it compares Halo's dates.

"After" is the journal's order of change rows (their ids): one journal serves every process
of a host, and runs of one instance write one at a time (:mod:`halo_automate.store.writers`).
A mixin of :class:`~halo_automate.store.journal.Journal`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from halo_automate.store.records import ChangeKind

_CHUNK = 500
_COVERED = (
    "SELECT c.ticket_id, c.run_id FROM changes c JOIN runs u ON u.run_id = c.run_id "
    "WHERE u.undo_of = ? AND (c.state = 'done' OR (c.kind = 'action-delete' AND "
    "c.state = 'skipped')) ORDER BY c.id"
)

_LATER = """
    SELECT c.ticket_id, c.field, c.kind, c.run_id, c.halo_at, r.playbook, r.mode,
           r.instance_name, r.instance_identity
    FROM changes c JOIN runs r ON r.run_id = c.run_id
    WHERE c.state = 'done' AND c.run_id != :run AND COALESCE(r.undo_of, '') != :run
      AND c.ticket_id IN (SELECT ticket_id FROM changes WHERE run_id = :run)
      AND c.id > (SELECT max(m.id) FROM changes m
                  WHERE m.run_id = :run AND m.ticket_id = c.ticket_id)
    ORDER BY c.id"""


@dataclass(frozen=True)
class LaterChange:
    """A ``done`` change of another run to one of a run's tickets, made after it."""

    ticket_id: int
    field: str
    """The field (a field row) or the action's kind (an action row)."""
    kind: ChangeKind
    run_id: str
    playbook: str
    mode: str
    halo_at: str | None
    """Halo's time of that write, when its answer gave one."""
    instance_name: str
    instance_identity: str | None


class UndoHistory:
    """Journal queries about a run's history (see the module docstring)."""

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def undone_tickets(self, run_id: str) -> dict[int, str]:
        """The run's tickets an undo of it already put back: ticket id → that undo's run id
        (the first one, when several undid parts of it)."""
        out: dict[int, str] = {}
        with self._tx(f"reading the undos of run {run_id}", write=False) as db:
            for ticket_id, undo_id in db.execute(_COVERED, (run_id,)):
                out.setdefault(int(ticket_id), str(undo_id))
        return out

    def undone_by(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each of ``run_ids`` that an undo wrote to (at least one row ``done``), those
        undos' run ids, oldest first."""
        out: dict[str, list[str]] = {}
        with self._tx("reading which runs were undone", write=False) as db:
            for start in range(0, len(run_ids), _CHUNK):  # SQLite's limit on parameters
                chunk = list(run_ids[start : start + _CHUNK])
                marks = ", ".join("?" * len(chunk))
                sql = (
                    "SELECT u.undo_of, u.run_id FROM runs u WHERE u.undo_of IN ("  # noqa: S608
                    f"{marks}) AND EXISTS (SELECT 1 FROM changes c WHERE c.run_id = u.run_id "
                    "AND c.state = 'done') ORDER BY u.started_at, u.rowid"
                )
                for undo_of, undo_id in db.execute(sql, chunk):
                    out.setdefault(str(undo_of), []).append(str(undo_id))
        return out

    def later_changes(self, run_id: str) -> list[LaterChange]:
        """Every ``done`` change other runs (not undos of this one) made to the run's tickets
        after the run's own last change to that ticket, in journal order."""
        with self._tx(f"reading later changes to the tickets of run {run_id}", write=False) as db:
            rows = db.execute(_LATER, {"run": run_id}).fetchall()
        return [
            LaterChange(
                ticket_id=int(r["ticket_id"]), field=r["field"], kind=ChangeKind(r["kind"]),
                run_id=r["run_id"], playbook=r["playbook"], mode=r["mode"],
                halo_at=r["halo_at"], instance_name=r["instance_name"],
                instance_identity=r["instance_identity"],
            )
            for r in rows
        ]  # fmt: skip
