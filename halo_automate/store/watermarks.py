"""Where the journal keeps each playbook's read watermark, per instance (schema v10).

An incremental scheduled run reads only the tickets updated since its playbook's last
successful read on the same Halo (:mod:`halo_automate.core.incremental`). That moment, with
the playbook version and query it read with, its last full read and the size of the set that
full read saw, is one ``read_watermarks`` row keyed by playbook and instance name. A row is
written only after a run that read successfully ended well (:meth:`Watermarks.save_watermark`),
so a failed, refused or partial run re-reads its window next time.

Also the journal's figures for budget estimates: the requests of a playbook's recent
scheduled runs (:meth:`Watermarks.recent_requests`).

A mixin of :class:`~halo_automate.store.journal.Journal` (it uses the journal's transaction),
as :mod:`halo_automate.store.decisions` is.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime

from halo_automate.core.incremental import Watermark
from halo_automate.store.locks import iso
from halo_automate.store.rows import parse as parse_iso


class Watermarks:
    """The journal's read watermarks (see the module docstring)."""

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _now(self) -> datetime:
        raise NotImplementedError  # the journal's

    def watermark(self, playbook: str, instance: str) -> Watermark | None:
        """The last successful read of ``playbook`` on ``instance``; None before the first."""
        with self._tx(f"reading the watermark of {playbook}", write=False) as db:
            row = db.execute(
                "SELECT read_at, full_at, playbook_hash, query, full_count FROM read_watermarks"
                " WHERE playbook = ? AND instance_name = ?",
                (playbook, instance),
            ).fetchone()
        if row is None:
            return None
        return Watermark(
            playbook, instance, parse_iso(row[0]), parse_iso(row[1]), row[2], row[3], row[4]
        )

    def save_watermark(self, mark: Watermark) -> None:
        """Record (replace) a playbook's watermark on an instance."""
        values = (
            mark.playbook, mark.instance, iso(mark.read_at), iso(mark.full_at),
            mark.playbook_hash, mark.query, mark.full_count, iso(self._now()),
        )  # fmt: skip
        with self._tx(f"saving the watermark of {mark.playbook}", write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO read_watermarks (playbook, instance_name, read_at, "
                "full_at, playbook_hash, query, full_count, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def forget_watermark(self, playbook: str, instance: str) -> None:
        """Drop a watermark: the playbook's next scheduled run reads in full."""
        with self._tx(f"dropping the watermark of {playbook}", write=True) as db:
            db.execute(
                "DELETE FROM read_watermarks WHERE playbook = ? AND instance_name = ?",
                (playbook, instance),
            )

    def recent_requests(self, playbook: str, instance: str, limit: int = 10) -> list[int]:
        """The request counts of the playbook's last ``limit`` finished scheduled runs on
        ``instance``, newest first (budget estimates)."""
        with self._tx(f"reading the recent runs of {playbook}", write=False) as db:
            rows = db.execute(
                "SELECT requests FROM runs WHERE playbook = ? AND instance_name = ? "
                "AND trigger = 'schedule' AND status != 'running' "
                "ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (playbook, instance, limit),
            ).fetchall()
        return [int(r[0]) for r in rows]
