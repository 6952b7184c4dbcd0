"""The journal's runaway guard: scheduled refusals in a row, and paused playbooks (v9).

Issue 16: a scheduled playbook that its limits refuse again and again (a runaway rule, a
``where`` that suddenly matches thousands) is paused after ``limits.pause_after_refusals``
refusals in a row, and stays paused, whatever its schedule says, until a person resumes it
(``halo-automate resume PLAYBOOK``). One ``playbook_guards`` row per playbook and instance
holds the count and the pause; the daemon reads it before every scheduled run, so a resume
from the CLI takes effect at the next run without a reload.

A mixin of :class:`~halo_automate.store.journal.Journal` (its transaction); the rule of what
counts as a refusal is the engine's (:mod:`halo_automate.engine.runaway`).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from halo_automate.store.locks import iso
from halo_automate.store.rows import stamp


@dataclass(frozen=True)
class GuardRow:
    """A playbook's refusals in a row on one instance, and its pause if it is paused."""

    playbook: str
    instance_name: str
    refusals: int
    paused_at: datetime | str | None
    paused_reason: str | None
    resumed_at: datetime | str | None
    resumed_by: str | None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def _row(row: sqlite3.Row) -> GuardRow:
    def when(value: object) -> datetime | str | None:
        return None if value is None else stamp(value)

    return GuardRow(
        playbook=row["playbook"], instance_name=row["instance_name"],
        refusals=int(row["refusals"]), paused_at=when(row["paused_at"]),
        paused_reason=row["paused_reason"], resumed_at=when(row["resumed_at"]),
        resumed_by=row["resumed_by"],
    )  # fmt: skip


_KEY = "playbook = ? AND instance_name = ?"


class Guards:
    """Journal methods of the runaway guard (see the module docstring)."""

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def guard(self, playbook: str, instance_name: str) -> GuardRow | None:
        with self._tx(f"reading the guard of {playbook}", write=False) as db:
            row = db.execute(f"SELECT * FROM playbook_guards WHERE {_KEY}",  # noqa: S608
                             (playbook, instance_name)).fetchone()  # fmt: skip
        return None if row is None else _row(row)

    def count_refusal(
        self,
        playbook: str,
        instance_name: str,
        *,
        refused: bool,
        pause_after: int,
        now: datetime,
        reason: str,
    ) -> tuple[GuardRow, bool]:
        """Count one scheduled run: a refusal adds one, any other counted ending starts the
        count again. Reaching ``pause_after`` (> 0) pauses the playbook with ``reason``.
        The row as it is now, and whether this run paused it."""
        with self._tx(f"counting a run of {playbook}", write=True) as db:
            db.execute(
                "INSERT OR IGNORE INTO playbook_guards (playbook, instance_name) VALUES (?, ?)",
                (playbook, instance_name),
            )
            row = _row(db.execute(f"SELECT * FROM playbook_guards WHERE {_KEY}",  # noqa: S608
                                  (playbook, instance_name)).fetchone())  # fmt: skip
            refusals = row.refusals + 1 if refused else 0
            pausing = refused and not row.paused and 0 < pause_after <= refusals
            db.execute(
                "UPDATE playbook_guards SET refusals = ?, "  # noqa: S608 - ours
                "paused_at = CASE WHEN ? THEN ? ELSE paused_at END, "
                f"paused_reason = CASE WHEN ? THEN ? ELSE paused_reason END WHERE {_KEY}",
                (refusals, pausing, iso(now), pausing, reason, playbook, instance_name),
            )
            new = _row(db.execute(f"SELECT * FROM playbook_guards WHERE {_KEY}",  # noqa: S608
                                  (playbook, instance_name)).fetchone())  # fmt: skip
        return new, pausing

    def resume_playbook(self, playbook: str, instance_name: str, by: str, now: datetime) -> bool:
        """Resume a paused playbook (its count starts again); False if it was not paused."""
        with self._tx(f"resuming {playbook}", write=True) as db:
            cursor = db.execute(
                "UPDATE playbook_guards SET refusals = 0, paused_at = NULL, resumed_at = ?, "  # noqa: S608
                f"resumed_by = ? WHERE {_KEY} AND paused_at IS NOT NULL",
                (iso(now), by, playbook, instance_name),
            )
            return cursor.rowcount > 0

    def paused_playbooks(self, instance_name: str | None = None) -> list[GuardRow]:
        """Paused playbooks (of one instance, or all), by name."""
        sql = (
            "SELECT * FROM playbook_guards WHERE paused_at IS NOT NULL AND "
            "(? IS NULL OR instance_name = ?) ORDER BY playbook, instance_name"
        )
        with self._tx("listing paused playbooks", write=False) as db:
            return [_row(r) for r in db.execute(sql, (instance_name, instance_name))]
