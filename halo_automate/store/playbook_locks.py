"""Holding a playbook lock: who holds it, the heartbeat that fences every send, releasing it.

A run re-validates its lock right before every request it sends (the fence of
:mod:`halo_automate.engine.batches`) and before journaling each write batch. Only the
*validation* has to happen every time: the heartbeat's other purpose, keeping the lock alive
for other hosts, needs a refresh well within ``stale_after`` (:mod:`.locks`). Writing
``heartbeat_at`` each time cost a synced write transaction per fence (``synchronous=FULL``),
two per fence with the instance writer lock (:mod:`.writers`), four of a write batch's seven
transactions. So :meth:`PlaybookLocks.heartbeat` writes it only when this journal last wrote it
``stale_after / 10`` ago or more (:class:`~halo_automate.store.locks.Beats`); in between it is
one read that the lock row still names this run and this acquisition's token. A takeover
committed before that read is seen by it exactly as by the write (WAL: a read sees every
committed transaction), and raises :class:`~halo_automate.errors.LockLostError`. The lock is
taken by :meth:`~halo_automate.store.journal.Journal.acquire_lock`. A mixin of the journal.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path

from halo_automate.errors import LockLostError
from halo_automate.store.locks import HELD, Beats, LockRow, iso
from halo_automate.store.rows import lock_row


class PlaybookLocks:
    """Journal methods for a held playbook lock (see the module docstring)."""

    path: Path
    lock_key: str
    stale_after: timedelta
    beats: Beats

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _now(self) -> datetime:
        raise NotImplementedError  # the journal's

    def lock(self, playbook: str) -> LockRow | None:
        """Who holds the playbook's lock, if anyone (stale or not)."""
        with self._tx(f"reading the lock of {playbook}", write=False) as db:
            row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
        return None if row is None else lock_row(row)

    def heartbeat(self, playbook: str, run_id: str, token: str | None = None) -> None:
        """Check that ``run_id`` (with ``token``, the acquisition's own token, when given)
        still holds the lock, LockLostError if not; refresh its heartbeat when due."""
        key = ("playbook", playbook, run_id, token or "")

        def check() -> None:
            with self._tx(f"checking the lock of {playbook}", write=False) as db:
                row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
            if row is None or row["run_id"] != run_id or token not in (None, row["token"]):
                raise self._lost(playbook, run_id, row)

        def write(now: datetime) -> None:
            with self._tx(f"refreshing the lock of {playbook}", write=True) as db:
                cursor = db.execute(
                    "UPDATE locks SET heartbeat_at = ? WHERE playbook = ? AND run_id = ? "
                    "AND (? IS NULL OR token = ?)",
                    (iso(now), playbook, run_id, token, token),
                )
                if cursor.rowcount == 0:
                    row = db.execute(
                        "SELECT * FROM locks WHERE playbook = ?", (playbook,)
                    ).fetchone()
                    raise self._lost(playbook, run_id, row)

        self.beats.beat(key, self._now(), self.stale_after, check=check, write=write)

    def _lost(self, playbook: str, run_id: str, row: sqlite3.Row | None) -> LockLostError:
        now = "nobody" if row is None else lock_row(row).describe()
        return LockLostError(
            f"journal {self.path}: run {run_id} lost the lock of playbook {playbook!r}; it is "
            f"now held by {now}"
        )

    def release_lock(self, playbook: str, run_id: str, token: str | None = None) -> bool:
        """Release ``run_id``'s lock (``token``'s, when given); False if not held (anymore)."""
        HELD.discard(self.lock_key, playbook, run_id)
        self.beats.forget(("playbook", playbook, run_id, token or ""))
        with self._tx(f"unlocking playbook {playbook}", write=True) as db:
            cursor = db.execute(
                "DELETE FROM locks WHERE playbook = ? AND run_id = ? AND (? IS NULL OR token = ?)",
                (playbook, run_id, token, token),
            )
            return cursor.rowcount > 0
