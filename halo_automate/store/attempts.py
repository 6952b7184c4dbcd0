"""Attempts at applying a saved plan that wrote nothing, set aside so the plan stays usable.

A saved plan's run id is the run that applies it; ``apply`` refuses a plan whose run id the
journal already holds. But an attempt that wrote nothing (declined at the prompt, no terminal
and no ``--yes``, refused by a limit or another Halo, failed before its first write) must not
use the plan up. :meth:`Attempts.set_aside_unwritten` renames such an attempt's run to
``<run id>~N`` (its rows, skipped changes and plan with it), in one transaction, so it stays
in ``history`` and ``show`` with its status, and the plan's run id is free for the next
attempt. A run that wrote (it journaled a decision to write, or a change that is not
``skipped``) or is still running is left alone, and the caller refuses the plan.

A mixin of :class:`~halo_automate.store.journal.Journal` (it uses the journal's transaction),
as :mod:`halo_automate.store.decisions` is.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Literal

Attempt = Literal["none", "set-aside", "running", "wrote"]
"""What the journal holds under a plan's run id: nothing, an attempt now set aside, a run
still running (or interrupted: recovery's), or a run that wrote."""


class Attempts:
    """Setting aside attempts that wrote nothing (see the module docstring)."""

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def set_aside_unwritten(self, run_id: str) -> tuple[Attempt, str | None]:
        """Rename run ``run_id`` to ``<run_id>~N`` when it is finished and wrote nothing;
        returns what was found and the new id of an attempt set aside."""
        with self._tx(f"setting aside the attempt {run_id}", write=True) as db:
            found = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if found is None:
                return "none", None
            if found["status"] == "running":
                return "running", None
            decided = db.execute("SELECT 1 FROM run_decisions WHERE run_id = ?", (run_id,))
            written = db.execute(
                "SELECT 1 FROM changes WHERE run_id = ? AND state != 'skipped' LIMIT 1", (run_id,)
            )
            if decided.fetchone() or written.fetchone():
                return "wrote", None
            number = 1
            while db.execute(
                "SELECT 1 FROM runs WHERE run_id = ?", (f"{run_id}~{number}",)
            ).fetchone():
                number += 1
            new_id = f"{run_id}~{number}"
            columns = list(found.keys())
            values = [new_id if c == "run_id" else found[c] for c in columns]
            marks = ", ".join("?" for _ in columns)
            db.execute(
                f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - ours
                values,
            )
            for table in ("changes", "run_plans"):
                db.execute(
                    f"UPDATE {table} SET run_id = ? WHERE run_id = ?",  # noqa: S608 - ours
                    (new_id, run_id),
                )
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            return "set-aside", new_id
