"""The journal's record of plans held for a person's approval (schema v9, issue 16).

A run whose plan needs approval is journaled ``awaiting_approval`` with its plan (as any run
that wrote nothing, in ``runs`` and ``run_plans``) and, in the same transaction, one
``approvals`` row: who planned, when it was asked, when it expires, whether the approver must
be another person. The row's ``state`` then moves once: ``waiting`` → ``approved`` /
``rejected`` / ``expired``, and an approved plan is claimed for applying by naming the run
that applies it (``applied_run_id``), once. The run row's status follows the same steps, so
``history`` and the web console show them without reading this table.

One plan open per playbook and instance: a partial unique index (``approvals_one_open``)
holds at most one ``waiting`` (or ``approved`` and not yet applied) row per pair, and
:meth:`Approvals.hold_for_approval` checks it inside its transaction, so two processes that
plan the same playbook at once never leave two plans waiting.

Every decision is a conditional ``UPDATE`` in one ``BEGIN IMMEDIATE`` transaction: of two
people deciding at once, one wins and the other is told what happened. The rules (who may
approve, what an expired plan means) are the engine's (:mod:`halo_automate.engine.approvals`);
this mixin of :class:`~halo_automate.store.journal.Journal` only stores and reads.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from halo_automate.errors import JournalError
from halo_automate.store.decisions import RunExists, insert_run
from halo_automate.store.locks import iso
from halo_automate.store.records import RunStart
from halo_automate.store.rows import stamp

ApprovalState = Literal["waiting", "approved", "rejected", "expired"]
_OPEN = "(state = 'waiting' OR (state = 'approved' AND applied_run_id IS NULL))"


@dataclass(frozen=True)
class ApprovalRequest:
    """What is known when a plan is held: it is recorded with the run, in one transaction."""

    changes: int
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    approver_must_differ: bool


@dataclass(frozen=True)
class ApprovalRow:
    """One plan held for approval (``run_id`` is the run that planned it)."""

    run_id: str
    playbook: str
    instance_name: str
    changes: int
    requested_by: str
    requested_at: datetime | str
    expires_at: datetime | str
    approver_must_differ: bool
    state: ApprovalState
    decided_by: str | None
    decided_at: datetime | str | None
    reason: str | None
    applied_run_id: str | None

    @property
    def open(self) -> bool:
        """Waiting for a decision, or approved and not yet claimed for applying."""
        return self.state == "waiting" or (self.state == "approved" and self.applied_run_id is None)


def _row(row: sqlite3.Row) -> ApprovalRow:
    decided = row["decided_at"]
    return ApprovalRow(
        run_id=row["run_id"], playbook=row["playbook"], instance_name=row["instance_name"],
        changes=int(row["changes"]), requested_by=row["requested_by"],
        requested_at=stamp(row["requested_at"]), expires_at=stamp(row["expires_at"]),
        approver_must_differ=bool(row["approver_must_differ"]), state=row["state"],
        decided_by=row["decided_by"], decided_at=None if decided is None else stamp(decided),
        reason=row["reason"], applied_run_id=row["applied_run_id"],
    )  # fmt: skip


class Approvals:
    """Journal methods for plans held for approval (see the module docstring)."""

    path: Path

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _now(self) -> datetime:
        raise NotImplementedError  # the journal's

    def hold_for_approval(
        self,
        run: RunStart,
        request: ApprovalRequest,
        message: str,
        *,
        instance: str | None = None,
        refused_message: str = "",
    ) -> ApprovalRow | None:
        """Record ``run`` ``awaiting_approval`` with its plan and its approvals row, in one
        transaction; None when it was recorded so. When another plan of the playbook and
        instance is still open (and not past its expiry), ``run`` is recorded ``refused``
        with ``refused_message`` instead (``{run_id}`` names the open one) and that open
        plan's row is returned. An open plan past its expiry is expired first."""
        now = iso(request.requested_at)
        with self._tx(f"holding run {run.run_id} for approval", write=True) as db:
            found = db.execute(
                f"SELECT * FROM approvals WHERE playbook = ? AND instance_name = ? AND {_OPEN}",  # noqa: S608
                (run.playbook, run.instance_name),
            ).fetchone()
            if found is not None and found["expires_at"] > now:
                held = _row(found)
                text = refused_message.format(run_id=held.run_id)
                self._insert(db, run, "refused", text, instance)
                return held
            if found is not None:
                _expire(db, found["run_id"], now)
            self._insert(db, run, "awaiting_approval", message, instance)
            db.execute(
                "INSERT INTO approvals (run_id, playbook, instance_name, changes, requested_by, "
                "requested_at, expires_at, approver_must_differ, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'waiting')",
                (run.run_id, run.playbook, run.instance_name, request.changes,
                 request.requested_by, now, iso(request.expires_at),
                 int(request.approver_must_differ)),
            )  # fmt: skip
        return None

    def _insert(
        self, db: sqlite3.Connection, run: RunStart, status: str, message: str, instance: str | None
    ) -> None:
        try:
            insert_run(db, run, iso(self._now()), status=status, message=message, instance=instance)
        except RunExists:
            raise JournalError(f"journal {self.path}: run {run.run_id!r} already exists") from None

    def approval(self, run_id: str) -> ApprovalRow | None:
        """The approvals row of run ``run_id``, if its plan was ever held."""
        with self._tx(f"reading the approval of run {run_id}", write=False) as db:
            row = db.execute("SELECT * FROM approvals WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _row(row)

    def approvals(
        self,
        *,
        state: ApprovalState | None = None,
        instance_name: str | None = None,
        open_only: bool = False,
    ) -> list[ApprovalRow]:
        """Held plans, oldest request first; optionally one state, one instance, or only the
        open ones (waiting, or approved and not yet applied)."""
        sql = (
            "SELECT * FROM approvals WHERE (? IS NULL OR state = ?) AND "  # noqa: S608 - ours
            f"(? IS NULL OR instance_name = ?) AND (? = 0 OR {_OPEN}) "
            "ORDER BY requested_at, rowid"
        )
        params = (state, state, instance_name, instance_name, int(open_only))
        with self._tx("listing approvals", write=False) as db:
            return [_row(r) for r in db.execute(sql, params)]

    def decide_approval(
        self,
        run_id: str,
        state: Literal["approved", "rejected"],
        by: str,
        reason: str | None,
        now: datetime,
        run_message: str,
    ) -> bool:
        """Decide a waiting plan that has not expired at ``now``: its row and its run's row
        (status ``state``, ``run_message``) in one transaction. False when it was not waiting
        (already decided, expired, or unknown): the caller reads the row to say why."""
        stamp_now = iso(now)
        with self._tx(f"deciding the approval of run {run_id}", write=True) as db:
            cursor = db.execute(
                "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, reason = ? "
                "WHERE run_id = ? AND state = 'waiting' AND expires_at > ?",
                (state, by, stamp_now, reason, run_id, stamp_now),
            )
            if cursor.rowcount == 0:
                return False
            db.execute(
                "UPDATE runs SET status = ?, message = ? WHERE run_id = ?",
                (state, run_message, run_id),
            )
        return True

    def expire_approvals(self, now: datetime) -> list[ApprovalRow]:
        """Expire every open plan whose time is up at ``now`` (its row and its run's row);
        the rows expired, as they are now."""
        stamp_now = iso(now)
        with self._tx("expiring approvals", write=True) as db:
            due = [
                str(r[0])
                for r in db.execute(
                    f"SELECT run_id FROM approvals WHERE {_OPEN} AND expires_at <= ?",  # noqa: S608
                    (stamp_now,),
                )
            ]
            for run_id in due:
                _expire(db, run_id, stamp_now)
            return [
                _row(db.execute("SELECT * FROM approvals WHERE run_id = ?", (r,)).fetchone())
                for r in due
            ]

    def claim_approved(
        self, run_id: str, applied_run_id: str, now: datetime, stale_after: timedelta
    ) -> tuple[str, bool] | None:
        """Claim approved plan ``run_id`` for the run ``applied_run_id``, in one transaction.

        ``(name, True)``: this caller applies it, as run ``name`` (``applied_run_id``, or the
        name of an earlier claim whose run never started within ``stale_after``: its process
        died, the same name is claimed again). ``(name, False)``: another claim holds it, as
        run ``name`` (applied, or being applied). None: not approved, or expired unclaimed."""
        stamp_now = iso(now)
        with self._tx(f"claiming approved run {run_id}", write=True) as db:
            row = db.execute("SELECT * FROM approvals WHERE run_id = ?", (run_id,)).fetchone()
            if row is None or row["state"] != "approved":
                return None
            name = row["applied_run_id"]
            if name is None:
                if row["expires_at"] <= stamp_now:
                    return None
                name = applied_run_id
            else:
                started = db.execute("SELECT 1 FROM runs WHERE run_id = ?", (name,)).fetchone()
                claimed = row["applied_at"] or ""
                if started is not None or claimed > iso(now - stale_after):
                    return str(name), False
            db.execute(
                "UPDATE approvals SET applied_run_id = ?, applied_at = ? WHERE run_id = ?",
                (name, stamp_now, run_id),
            )
            db.execute(
                "UPDATE runs SET message = ? WHERE run_id = ?",
                (f"approved by {row['decided_by']}; applied as run {name}", run_id),
            )
        return str(name), True


def _expire(db: sqlite3.Connection, run_id: str, now: str) -> None:
    db.execute(
        "UPDATE approvals SET state = 'expired', decided_at = ? WHERE run_id = ?", (now, run_id)
    )
    db.execute(
        "UPDATE runs SET status = 'expired', message = ? WHERE run_id = ?",
        ("the plan expired before it was approved and applied; nothing was written", run_id),
    )
