"""Pruning the journal: old runs' change rows and plans go, what undo and audit need stays.

After months of large runs most of the journal is the change rows and plans of runs nobody
will undo any more. ``halo-automate prune --older-than 90d`` deletes those, and only those:

* a run is pruned only if it started *and* finished before the cutoff, is not ``running``
  nor a plan held for approval (waiting, or approved and not yet applied: issue 16),
  has no ``pending`` change (a write of unknown outcome: recovery needs it), holds no lock,
  and has no undo that is running or newer than the cutoff (that undo's own audit trail
  points at it); a run whose dates cannot be read as dates is kept;
* its run row stays, with who started it, when, why, its status and counts (the audit
  trail; ``history`` lists it as before), and so does its decision row; its change rows and
  its plan go, so ``show`` lists no changes for it and ``undo`` refuses it.

:meth:`Pruning.prune_preview` counts what would go (runs, change rows, plans, bytes);
:meth:`Pruning.prune` deletes it in one ``BEGIN IMMEDIATE`` transaction, re-checking each
run (one may have been undone since the preview); :meth:`Pruning.vacuum` then gives the
space back to the file system. A mixin of :class:`~halo_automate.store.journal.Journal`.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from halo_automate.store.locks import iso

_DATE = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*'"

_PRUNABLE = f"""
    SELECT r.run_id FROM runs r
    WHERE r.status NOT IN ('running', 'awaiting_approval')
      AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.run_id
          AND a.state = 'approved' AND a.applied_run_id IS NULL)
      AND r.started_at GLOB {_DATE} AND r.started_at < :cutoff
      AND r.finished_at GLOB {_DATE} AND r.finished_at < :cutoff
      AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.run_id = r.run_id AND c.state = 'pending')
      AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.run_id = r.run_id)
      AND NOT EXISTS (SELECT 1 FROM runs u WHERE u.undo_of = r.run_id AND (u.status = 'running'
          OR NOT (COALESCE(u.finished_at, '') GLOB {_DATE}) OR u.finished_at >= :cutoff))
      AND (EXISTS (SELECT 1 FROM changes c WHERE c.run_id = r.run_id)
           OR EXISTS (SELECT 1 FROM run_plans p WHERE p.run_id = r.run_id)
           OR r.plan_json IS NOT NULL)
    ORDER BY r.started_at, r.rowid"""  # noqa: S608 - no user text: the cutoff is a parameter

_CHANGE_BYTES = (
    "SELECT count(*), COALESCE(sum(length(before_json) + length(after_json) + length(field) "
    "+ length(action_ids) + COALESCE(length(message), 0) + 64), 0) FROM changes WHERE run_id = ?"
)


@dataclass(frozen=True)
class PrunePlan:
    """What pruning at ``cutoff`` would delete: ``run_ids``' change rows and plans."""

    cutoff: datetime
    run_ids: tuple[str, ...]
    changes: int
    plans: int
    bytes: int
    """About how many bytes of rows and plans (the file shrinks by about this after VACUUM)."""


@dataclass(frozen=True)
class Pruned:
    runs: int
    changes: int
    plans: int


class Pruning:
    """Journal methods that prune old runs (see the module docstring)."""

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _bare(self, doing: str) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _now(self) -> datetime:
        raise NotImplementedError  # the journal's

    def prune_preview(self, older_than: timedelta) -> PrunePlan:
        """What :meth:`prune` would delete for runs older than ``older_than`` (from now)."""
        cutoff = self._now() - older_than
        changes = plans = size = 0
        with self._tx("counting what pruning would delete", write=False) as db:
            run_ids = tuple(row[0] for row in db.execute(_PRUNABLE, {"cutoff": iso(cutoff)}))
            for run_id in run_ids:
                count, change_bytes = db.execute(_CHANGE_BYTES, (run_id,)).fetchone()
                plan = db.execute(
                    "SELECT (SELECT length(plan) FROM run_plans WHERE run_id = :r), "
                    "(SELECT length(plan_json) FROM runs WHERE run_id = :r)",
                    {"r": run_id},
                ).fetchone()
                changes += int(count)
                plans += int(plan[0] is not None or plan[1] is not None)
                size += int(change_bytes) + int(plan[0] or 0) + int(plan[1] or 0)
        return PrunePlan(cutoff, run_ids, changes, plans, size)

    def prune(self, plan: PrunePlan) -> Pruned:
        """Delete the change rows and plans of ``plan``'s runs that may still be pruned (each
        is checked again, in the same transaction); the run rows stay."""
        runs = changes = plans = 0
        with self._tx(f"pruning {len(plan.run_ids)} runs", write=True) as db:
            still = {row[0] for row in db.execute(_PRUNABLE, {"cutoff": iso(plan.cutoff)})}
            for run_id in plan.run_ids:
                if run_id not in still:
                    continue
                runs += 1
                changes += db.execute("DELETE FROM changes WHERE run_id = ?", (run_id,)).rowcount
                plans += db.execute("DELETE FROM run_plans WHERE run_id = ?", (run_id,)).rowcount
                db.execute("UPDATE runs SET plan_json = NULL WHERE run_id = ?", (run_id,))
        return Pruned(runs, changes, plans)

    def vacuum(self) -> None:
        """Rebuild the file without its free pages (needs about the journal's size free)."""
        with self._bare("vacuuming the journal") as db:
            db.execute("VACUUM")
