"""Instance writer locks: one run writes to a Halo instance at a time, across playbooks,
threads, processes and hosts sharing the journal (issue 12, "one writer per instance").

The playbook lock (:mod:`halo_automate.store.locks`) keeps two runs of one playbook apart;
two *different* playbooks writing the same tickets (close-spam and quarantine-spam) need more:
their stale checks and writes must not interleave, or both see the tickets untouched and the
end state mixes their changes. So a run holds its instance's writer lock from its stale check
to its last write: the second run waits, then its stale check sees the first one's result and
skips those tickets.

One ``instance_locks`` row per instance (keyed by ``HaloSettings.identity``, schema v7). A
holder is stale by the same rule as a playbook lock's (:func:`~halo_automate.store.locks.
stale_reason`): its process is gone (same host) or its heartbeat is older than the journal's
``stale_after`` (other hosts); and a holder whose run lost its playbook lock (taken over by a
recovery: it sends nothing more) is gone too. A stale holder is taken over and logged. The
engine waits for a live holder (:mod:`halo_automate.engine.writer`); this module only
takes, refreshes and releases the row, each in one ``BEGIN IMMEDIATE`` transaction. A mixin
of :class:`~halo_automate.store.journal.Journal`.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from halo_automate.errors import LockLostError
from halo_automate.store.locks import HELD, Beats, LockRow, Releasing, iso, stale_reason
from halo_automate.store.records import this_host
from halo_automate.store.rows import parse

log = structlog.get_logger("halo_automate.store.writers")


def held_name(instance: str) -> str:
    """The name an instance lock has in the process's held-locks registry (``locks.HELD``)."""
    return f"instance {instance}"


@dataclass(frozen=True)
class WriterRow:
    """Who holds an instance's writer lock."""

    instance: str
    holder: LockRow
    """The holder as a lock row (its ``playbook`` is the playbook the run writes for)."""

    def describe(self) -> str:
        return f"{self.holder.describe()}, playbook {self.holder.playbook!r}"


@dataclass(frozen=True)
class WriterLock(Releasing):
    """A held instance writer lock; a context manager that releases it on exit."""

    store: InstanceLocks = field(repr=False)
    instance: str
    run_id: str
    token: str
    took_over_from: WriterRow | None = None

    def heartbeat(self) -> None:
        self.store.writer_heartbeat(self.instance, self.run_id, self.token)

    def release(self) -> bool:
        return self.store.release_writer(self.instance, self.run_id, self.token)


def _row(row: sqlite3.Row) -> WriterRow:
    return WriterRow(
        row["instance"],
        LockRow(
            playbook=row["playbook"], run_id=row["run_id"], owner_pid=int(row["owner_pid"]),
            owner_host=row["owner_host"], acquired_at=parse(row["acquired_at"]),
            heartbeat_at=parse(row["heartbeat_at"]),
        ),
    )  # fmt: skip


def _fenced(db: sqlite3.Connection, row: sqlite3.Row) -> str | None:
    """Why a writer lock's holder is gone because its run lost its playbook lock (taken over:
    it sends nothing more), or None. Rows without the playbook lock's token are not judged."""
    if not row["lock_token"]:
        return None
    found = db.execute(
        "SELECT 1 FROM locks WHERE playbook = ? AND run_id = ? AND token = ?",
        (row["playbook"], row["run_id"], row["lock_token"]),
    ).fetchone()
    return None if found else f"run {row['run_id']} no longer holds playbook {row['playbook']!r}"


class InstanceLocks:
    """Journal methods for the instance writer locks (see the module docstring)."""

    path: Path
    lock_key: str
    stale_after: timedelta
    beats: Beats

    def _tx(self, doing: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # the journal's

    def _now(self) -> datetime:
        raise NotImplementedError  # the journal's

    def writer(self, instance: str) -> WriterRow | None:
        """Who holds the instance's writer lock, if anyone (stale or not)."""
        with self._tx(f"reading the writer lock of {instance}", write=False) as db:
            row = db.execute(
                "SELECT * FROM instance_locks WHERE instance = ?", (instance,)
            ).fetchone()
        return None if row is None else _row(row)

    def try_writer(
        self, instance: str, run_id: str, playbook: str, lock_token: str | None = None
    ) -> WriterLock | WriterRow:
        """Take the instance's writer lock for ``run_id`` (which holds the playbook's lock with
        ``lock_token``), or return its live holder."""
        now = self._now()
        previous: WriterRow | None = None
        reason: str | None = None
        with self._tx(f"locking instance {instance} for writing", write=True) as db:
            row = db.execute(
                "SELECT * FROM instance_locks WHERE instance = ?", (instance,)
            ).fetchone()
            if row is not None:
                previous = _row(row)
                reason = _fenced(db, row) or self._writer_stale(previous, now)
                if reason is None:
                    return previous
            token = secrets.token_hex(8)
            db.execute(
                "INSERT OR REPLACE INTO instance_locks (instance, run_id, playbook, owner_pid, "
                "owner_host, acquired_at, heartbeat_at, token, lock_token) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (instance, run_id, playbook, os.getpid(), this_host(), iso(now), iso(now), token,
                 lock_token or ""),
            )  # fmt: skip
        HELD.add(self.lock_key, held_name(instance), run_id)
        if previous is not None:
            log.warning(
                "instance_lock_taken_over", instance=instance, run_id=run_id,
                previous_holder=previous.describe(), reason=reason,
            )  # fmt: skip
        return WriterLock(self, instance, run_id, token, previous)

    def _writer_stale(self, held: WriterRow, now: datetime) -> str | None:
        # The registry knows instance locks by held_name(instance), not by the playbook.
        as_lock = LockRow(held_name(held.instance), held.holder.run_id, held.holder.owner_pid,
                          held.holder.owner_host, held.holder.acquired_at,
                          held.holder.heartbeat_at)  # fmt: skip
        return stale_reason(as_lock, now, self.lock_key, self.stale_after)

    def writer_heartbeat(self, instance: str, run_id: str, token: str) -> None:
        """Check that ``run_id`` still holds the lock, LockLostError if not; refresh its
        heartbeat when due (a read in between: :mod:`halo_automate.store.playbook_locks`)."""
        key = ("writer", instance, run_id, token)

        def check() -> None:
            with self._tx(f"checking the writer lock of {instance}", write=False) as db:
                row = db.execute(
                    "SELECT * FROM instance_locks WHERE instance = ?", (instance,)
                ).fetchone()
            if row is None or (row["run_id"], row["token"]) != (run_id, token):
                raise self._writer_lost(instance, run_id, row)

        def write(now: datetime) -> None:
            with self._tx(f"refreshing the writer lock of {instance}", write=True) as db:
                cursor = db.execute(
                    "UPDATE instance_locks SET heartbeat_at = ? WHERE instance = ? "
                    "AND run_id = ? AND token = ?",
                    (iso(now), instance, run_id, token),
                )
                if cursor.rowcount == 0:
                    row = db.execute(
                        "SELECT * FROM instance_locks WHERE instance = ?", (instance,)
                    ).fetchone()
                    raise self._writer_lost(instance, run_id, row)

        self.beats.beat(key, self._now(), self.stale_after, check=check, write=write)

    def _writer_lost(self, instance: str, run_id: str, row: sqlite3.Row | None) -> LockLostError:
        now = "nobody" if row is None else _row(row).describe()
        return LockLostError(
            f"journal {self.path}: run {run_id} lost the writer lock of instance {instance}; "
            f"it is now held by {now}"
        )

    def release_writer(self, instance: str, run_id: str, token: str) -> bool:
        """Release ``run_id``'s writer lock; False if it no longer held it."""
        HELD.discard(self.lock_key, held_name(instance), run_id)
        self.beats.forget(("writer", instance, run_id, token))
        with self._tx(f"unlocking instance {instance}", write=True) as db:
            cursor = db.execute(
                "DELETE FROM instance_locks WHERE instance = ? AND run_id = ? AND token = ?",
                (instance, run_id, token),
            )
            return cursor.rowcount > 0
