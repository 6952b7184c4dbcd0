"""The journal's record of what a run decided: to write, not to write, or to give up.

Fail closed (issue 13): recovery must only ever finish writes that a run journaled as about
to be sent, never infer a decision from a ``running`` row. So:

* a run's decision to write is its ``run_decisions`` row (:meth:`Decisions.decided_at`),
  inserted by the transaction that journals its first pending batch (the journal's
  ``add_changes``);
* a run that writes nothing (a preview, a refusal, a failure before writing) is recorded
  finished in one transaction (:meth:`Decisions.record_run`): no ``running`` row ever exists
  for it, so no crash can leave one for recovery to mistake for an interrupted apply;
* a ticket the stale check skips is journaled already ``skipped`` (:meth:`Decisions.add_skipped`),
  one transaction, never ``pending`` first;
* a run nobody can finish is given up with :meth:`Decisions.abandon_run` (who, why), its
  pending rows failed, so it no longer blocks its playbook.

A mixin of :class:`~halo_automate.store.journal.Journal` (it uses the journal's transaction
and clock), kept here so the journal module stays one screenful of plumbing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from halo_automate.core.outcome import RunStatus
from halo_automate.errors import JournalError
from halo_automate.store.locks import iso
from halo_automate.store.plans import store_plan
from halo_automate.store.records import ChangeState, NewChange, RunStart
from halo_automate.store.rows import COUNT_COLUMNS, dump

ABANDONED = "abandoned by"
"""How an abandoned run's message (and its failed rows' messages) begin."""


def insert_run(
    db: sqlite3.Connection,
    run: RunStart,
    now: str,
    *,
    status: str = "running",
    message: str | None = None,
    instance: str | None = None,
) -> None:
    """Insert a run row (``running``, or already finished at ``now`` with ``status``; with
    the instance's facts, v3, when given) and its plan (kept apart, compressed:
    :mod:`halo_automate.store.plans`)."""
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run.run_id,)).fetchone():
        raise RunExists(run.run_id)
    finished = None if status == "running" else now
    columns = (
        "run_id, playbook, playbook_hash, mode, undo_of, started_by, trigger, started_at, "
        "finished_at, status, message, " + ", ".join(COUNT_COLUMNS)
    )
    values = (
        run.run_id, run.playbook, run.playbook_hash, run.mode, run.undo_of, run.started_by,
        run.trigger, now, finished, status, message,
        *(getattr(run.counts, name) for name in COUNT_COLUMNS),
    )  # fmt: skip
    if instance is not None:
        columns += ", instance"
        values += (instance,)
    if run.instance_name != "default" or run.instance_identity is not None:  # v6
        columns += ", instance_name, instance_identity"
        values += (run.instance_name, run.instance_identity)
    marks = ", ".join("?" * len(values))
    db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", values)  # noqa: S608 - ours
    store_plan(db, run.run_id, run.plan_json)


class RunExists(Exception):
    """A run id already in the journal (the journal words the error)."""


def insert_changes(
    db: sqlite3.Connection,
    run_id: str,
    rows: Sequence[tuple[NewChange, ChangeState, str | None]],
    stamp: str,
) -> list[int]:
    """Insert change rows, each with its state and message; their ids, in order."""
    ids: list[int] = []
    for row, state, message in rows:
        cursor = db.execute(
            "INSERT INTO changes (run_id, ticket_id, kind, field, action_id, before_json, "
            "after_json, state, message, batch, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, row.ticket_id, str(row.kind), row.field, row.action_id,
             dump(row.before), dump(row.after), state, message, row.batch, stamp),
        )  # fmt: skip
        assert cursor.lastrowid is not None
        ids.append(cursor.lastrowid)
    return ids


class Decisions:
    """Journal methods that record a run's decisions (see the module docstring)."""

    path: Path

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _now(self) -> datetime:
        raise NotImplementedError  # the journal's

    def _require_run(self, db: sqlite3.Connection, run_id: str) -> None:
        raise NotImplementedError  # the journal's

    def record_run(
        self,
        run: RunStart,
        status: RunStatus | str,
        message: str | None,
        *,
        instance: str | None = None,
    ) -> None:
        """Record a run that wrote nothing, already finished, in one transaction (with the
        Halo instance's facts when it read them)."""
        if status == RunStatus.RUNNING:
            raise ValueError("record_run records a finished run; use start_run")
        with self._tx(f"recording run {run.run_id}", write=True) as db:
            try:
                insert_run(
                    db, run, iso(self._now()), status=str(status), message=message,
                    instance=instance,
                )  # fmt: skip
            except RunExists:
                raise JournalError(
                    f"journal {self.path}: run {run.run_id!r} already exists"
                ) from None

    def decided_at(self, run_id: str) -> datetime | None:
        """When the run journaled its decision to write (its first pending batch), if ever."""
        with self._tx(f"reading the decision of run {run_id}", write=False) as db:
            row = db.execute(
                "SELECT decided_at FROM run_decisions WHERE run_id = ?", (run_id,)
            ).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def add_skipped(self, run_id: str, rows: Sequence[tuple[NewChange, str]]) -> list[int]:
        """Record changes the run decided not to send, already ``skipped`` with their reason,
        in one transaction (never pending first: recovery would send them)."""
        stamp = iso(self._now())
        with self._tx(f"recording {len(rows)} skipped changes of run {run_id}", write=True) as db:
            self._require_run(db, run_id)
            return insert_changes(db, run_id, [(r, "skipped", why) for r, why in rows], stamp)

    def abandon_run(self, run_id: str, by: str, reason: str) -> int:
        """Give a run up: its pending rows failed, the run failed, both saying who and why,
        in one transaction; the number of pending rows given up."""
        message = f"{ABANDONED} {by}: {reason}"
        now = iso(self._now())
        with self._tx(f"abandoning run {run_id}", write=True) as db:
            self._require_run(db, run_id)
            cursor = db.execute(
                "UPDATE changes SET state = 'failed', message = ?, updated_at = ? "
                "WHERE run_id = ? AND state = 'pending'",
                (f"{message} (outcome unknown: read the ticket)", now, run_id),
            )
            db.execute(
                "UPDATE runs SET status = 'failed', finished_at = ?, message = ? WHERE run_id = ?",
                (now, message, run_id),
            )
            return cursor.rowcount
