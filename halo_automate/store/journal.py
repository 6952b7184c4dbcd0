"""The journal: one SQLite file recording every run and every write.

apply, crash recovery, ``history``/``show`` and undo are built on it. It stores plain values
(JSON text, ints, strings) and never imports the plan module or talks to Halo.

Tables (schema version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``):

* ``runs``    one row per run: who, why, when, status, counts; its plan document apart, in
  ``run_plans``, compressed (:mod:`halo_automate.store.plans`, :meth:`Journal.plan_json`).
* ``changes`` one row per written part of a ticket, typed by :class:`ChangeKind` (a field, an
  action posted, an action removed); ``pending`` is written *before* the request is sent,
  then marked ``done`` / ``failed`` / ``skipped``.
* ``locks``   one row per playbook that a run currently holds; ``instance_locks`` one per
  Halo instance a run is writing to (:mod:`halo_automate.store.writers`).

Durability: WAL with ``synchronous=FULL``. With ``NORMAL``, WAL only syncs at checkpoints, so
a committed transaction survives an application crash but can be lost with a power failure or
kernel crash. A pending row is the only trace of a write whose request may already have been
sent, so every commit is synced; the cost is one fsync per transaction, and apply writes one
transaction per batch, not per row.

Concurrency: one connection guarded by a re-entrant lock serves any number of threads; other
processes share the file through WAL and ``busy_timeout``. Every write is ``BEGIN IMMEDIATE``:
a read-then-write (taking a lock, migrating) is atomic across processes.

Errors: every ``sqlite3`` (and file system) error becomes a one-line :class:`JournalError` in
one place, :func:`~halo_automate.store.connection.translate`.

Locks: one run per playbook at a time (:mod:`halo_automate.store.locks` says when a holder
is stale); taking a lock is one ``BEGIN IMMEDIATE`` transaction here, a heartbeat is a read
unless one is due (:mod:`halo_automate.store.playbook_locks`). The schema and its
migrations live in :mod:`halo_automate.store.migrations`, the stored values in
:mod:`halo_automate.store.records`, how a connection is opened and set up in
:mod:`halo_automate.store.connection`.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, get_args

import structlog

from halo_automate.core.outcome import RunStatus
from halo_automate.errors import JournalError, LockedError, UnknownRunError
from halo_automate.store.approvals import Approvals
from halo_automate.store.attempts import Attempts
from halo_automate.store.connection import Connect, configure, connect, create, refuse_empty
from halo_automate.store.connection import translate as _translate
from halo_automate.store.decisions import Decisions, RunExists, insert_changes, insert_run
from halo_automate.store.guards import Guards
from halo_automate.store.locks import HELD, Beats, Lock, LockRow, iso, stale_reason
from halo_automate.store.migrations import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    migrate,
    transaction,
)
from halo_automate.store.plans import Plans
from halo_automate.store.playbook_locks import PlaybookLocks
from halo_automate.store.prune import Pruning
from halo_automate.store.records import (
    ChangeKind,
    ChangeMark,
    ChangeRow,
    ChangeState,
    Counts,
    NewChange,
    RunRow,
    RunStart,
    this_host,
    who,
)
from halo_automate.store.rows import COUNT_COLUMNS, change_row, dump, lock_row, run_row
from halo_automate.store.undos import UndoHistory
from halo_automate.store.watermarks import Watermarks
from halo_automate.store.writers import InstanceLocks

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ChangeKind",
    "ChangeMark",
    "ChangeRow",
    "Counts",
    "Journal",
    "Lock",
    "LockRow",
    "NewChange",
    "RunRow",
    "RunStart",
    "who",
]

log = structlog.get_logger("halo_automate.store.journal")

RUN_STATUSES: frozenset[str] = frozenset(s.value for s in RunStatus)
CHANGE_STATES: frozenset[str] = frozenset(get_args(ChangeState))
DEFAULT_STALE_AFTER = timedelta(minutes=10)
DEFAULT_BUSY_TIMEOUT = 10.0  # seconds to wait for another process's write transaction


# --------------------------------------------------------------------------- helpers


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")


# --------------------------------------------------------------------------- journal


class Journal(
    Decisions,
    Plans,
    Pruning,
    UndoHistory,
    PlaybookLocks,
    InstanceLocks,
    Attempts,
    Approvals,
    Guards,
    Watermarks,
):
    """The journal database; create with :meth:`open`. Safe to share between threads."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        *,
        clock: Callable[[], datetime] = _utcnow,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self.stale_after = stale_after
        self._mutex = threading.RLock()
        self.lock_key = os.path.realpath(path)
        """This journal's name in the process's held-locks registry (``locks.HELD``)."""
        self.beats = Beats()  # when each held lock's heartbeat was last written (a fence reads)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] = _utcnow,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        migrations: Sequence[Migration] = MIGRATIONS,
        connect: Connect = connect,
    ) -> Journal:
        """Open (creating folder and file if needed) and migrate to ``len(migrations)``;
        ``connect`` opens the connection (:func:`connect`). A 0-byte file is refused."""
        where = Path(path)
        with _translate(where, "opening the journal"):
            where.parent.mkdir(parents=True, exist_ok=True)
            create(where)
            refuse_empty(where)
            conn = connect(where, busy_timeout)
            try:
                configure(conn, where, busy_timeout)
                migrate(conn, where, migrations)
            except BaseException:
                conn.close()
                raise
        return cls(conn, where, clock=clock, stale_after=stale_after)

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._tx("reading the schema version", write=False) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def pragma(self, name: str) -> Any:
        """The value of ``PRAGMA <name>`` on this journal's connection (``busy_timeout``,
        ``synchronous``, ``foreign_keys`` and ``journal_mode`` are set by :meth:`open`)."""
        if not name.isidentifier():
            raise ValueError(f"not a pragma name: {name!r}")
        with self._tx(f"reading PRAGMA {name}", write=False) as db:
            return db.execute(f"PRAGMA {name}").fetchone()[0]

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self, doing: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        with (
            self._mutex,
            _translate(self.path, doing, write=write),
            transaction(self._conn, begin) as db,
        ):
            yield db

    @contextmanager
    def _bare(self, doing: str) -> Iterator[sqlite3.Connection]:
        """The connection outside any transaction (VACUUM cannot run inside one)."""
        with self._mutex, _translate(self.path, doing, write=True):
            yield self._conn

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _no_run(self, run_id: str) -> JournalError:
        return UnknownRunError(
            f"journal {self.path}: no run {run_id!r} (`halo-automate history` lists the runs)"
        )

    def _require_run(self, db: sqlite3.Connection, run_id: str) -> None:
        if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            raise self._no_run(run_id)

    def _update_run(self, db: sqlite3.Connection, run_id: str, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{column} = ?" for column in values)
        cursor = db.execute(
            f"UPDATE runs SET {sets} WHERE run_id = ?",  # noqa: S608 - columns are ours
            (*values.values(), run_id),
        )
        if cursor.rowcount == 0:
            raise self._no_run(run_id)

    # ------------------------------------------------------------------ runs

    def start_run(self, run: RunStart) -> None:
        """Record a new run with status ``running``."""
        with self._tx(f"starting run {run.run_id}", write=True) as db:
            try:
                insert_run(db, run, iso(self._now()))
            except RunExists:
                raise JournalError(
                    f"journal {self.path}: run {run.run_id!r} already exists"
                ) from None

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        *,
        counts: Counts | None = None,
        message: str | None = None,
        instance: str | None = None,
    ) -> None:
        """Set the final status (and counters, message, instance facts) and ``finished_at``."""
        _check(status, RUN_STATUSES - {"running"}, "final run status")
        values: dict[str, Any] = {
            "status": status,
            "finished_at": iso(self._now()),
            "message": message,
            **({"instance": instance} if instance is not None else {}),  # v3
        }
        if counts is not None:
            values.update((name, getattr(counts, name)) for name in COUNT_COLUMNS)
        with self._tx(f"finishing run {run_id}", write=True) as db:
            self._update_run(db, run_id, values)

    def run(self, run_id: str) -> RunRow | None:
        with self._tx(f"reading run {run_id}", write=False) as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else run_row(row)

    def get_run(self, run_id: str) -> RunRow:
        """Like :meth:`run`, but an unknown run id is a JournalError."""
        found = self.run(run_id)
        if found is None:
            raise self._no_run(run_id)
        return found

    def runs(
        self, limit: int | None = 50, playbook: str | None = None, undo_of: str | None = None
    ) -> list[RunRow]:
        """Newest first; optionally only one playbook's, or only the undos of a run."""
        where: list[str] = ["1"]
        params: list[object] = []
        if playbook is not None:
            where.append("playbook = ?")
            params.append(playbook)
        if undo_of is not None:
            where.append("undo_of = ?")
            params.append(undo_of)
        params.append(-1 if limit is None else limit)  # LIMIT -1: no limit
        sql = (
            f"SELECT * FROM runs WHERE {' AND '.join(where)} "  # noqa: S608 - ours
            "ORDER BY started_at DESC, rowid DESC LIMIT ?"
        )
        with self._tx("listing runs", write=False) as db:
            return [run_row(row) for row in db.execute(sql, params)]

    def interrupted_runs(self, playbook: str | None = None) -> list[RunRow]:
        """Runs, oldest first, that nobody is running but that are still ``running`` or
        have ``pending`` changes (a write whose outcome is unknown).

        "Nobody is running it" means no live lock names the run, so a run that never takes
        a lock (a preview in another process) is listed while it is still going.
        """
        sql = (
            "SELECT * FROM runs WHERE (status = 'running' OR EXISTS (SELECT 1 FROM changes c "
            "WHERE c.run_id = runs.run_id AND c.state = 'pending')) AND (? IS NULL OR "
            "playbook = ?) ORDER BY started_at, rowid"
        )
        with self._tx("looking for interrupted runs", write=False) as db:
            found = [run_row(row) for row in db.execute(sql, (playbook, playbook))]
            locks = {r.run_id: r for r in map(lock_row, db.execute("SELECT * FROM locks"))}
        now = self._now()
        return [
            run
            for run in found
            if run.run_id not in locks or self._stale_reason(locks[run.run_id], now) is not None
        ]

    # ------------------------------------------------------------------ changes

    def add_changes(self, run_id: str, rows: Sequence[NewChange]) -> list[int]:
        """Record a batch as ``pending`` in one transaction (before sending it); the ids.

        The same transaction journals the run's decision to write (``run_decisions``, once):
        recovery finishes only runs that decided (see :mod:`halo_automate.store.decisions`)."""
        stamp = iso(self._now())
        with self._tx(f"recording {len(rows)} pending changes of run {run_id}", write=True) as db:
            self._require_run(db, run_id)
            db.execute("INSERT OR IGNORE INTO run_decisions VALUES (?, ?)", (run_id, stamp))
            return insert_changes(db, run_id, [(row, "pending", None) for row in rows], stamp)

    def mark(
        self,
        change_ids: Sequence[int],
        state: ChangeState,
        message: str | None = None,
        action_ids: Sequence[int] | None = None,
    ) -> None:
        """Set the same outcome on several changes, in one transaction."""
        self.mark_many([ChangeMark(i, state, message, action_ids) for i in change_ids])

    def mark_many(self, marks: Sequence[ChangeMark]) -> None:
        """Set each change's own outcome, in one transaction (none for no marks); unknown ids
        change nothing."""
        if not marks:
            return
        for mark in marks:
            _check(mark.state, CHANGE_STATES, "change state")
        stamp = iso(self._now())
        missing: list[int] = []
        with self._tx(f"recording the outcome of {len(marks)} changes", write=True) as db:
            for mark in marks:
                ids = None if mark.action_ids is None else dump([int(i) for i in mark.action_ids])
                cursor = db.execute(
                    "UPDATE changes SET state = ?, message = ?, action_ids = COALESCE(?, "
                    "action_ids), halo_at = COALESCE(?, halo_at), updated_at = ? WHERE id = ?",
                    (mark.state, mark.message, ids, mark.halo_at, stamp, mark.change_id),
                )
                if cursor.rowcount == 0:
                    missing.append(mark.change_id)
            if missing:
                raise JournalError(f"journal {self.path}: no change with id {missing}")

    def _select_changes(self, doing: str, where: str, params: Sequence[Any]) -> list[ChangeRow]:
        sql = f"SELECT * FROM changes WHERE {where} ORDER BY id"  # noqa: S608 - ours
        with self._tx(doing, write=False) as db:
            return [change_row(row) for row in db.execute(sql, params)]

    def changes(self, run_id: str) -> list[ChangeRow]:
        return self._select_changes(f"reading changes of run {run_id}", "run_id = ?", [run_id])

    def pending(self, run_id: str | None = None) -> list[ChangeRow]:
        """Changes whose outcome is unknown, of one run or of all runs."""
        where = "state = 'pending' AND (? IS NULL OR run_id = ?)"
        return self._select_changes("reading pending changes", where, [run_id, run_id])

    # ------------------------------------------------------------------ locks

    def acquire_lock(self, playbook: str, run_id: str) -> Lock:
        """Take the playbook's lock for ``run_id`` (LockedError if a live run holds it)."""
        now = self._now()
        held: LockRow | None = None
        reason: str | None = None
        with self._tx(f"locking playbook {playbook}", write=True) as db:
            row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
            if row is not None:
                held = lock_row(row)
                reason = self._stale_reason(held, now)
                if reason is None:
                    raise LockedError(self._locked_message(held))
            token = secrets.token_hex(8)
            db.execute(
                "INSERT OR REPLACE INTO locks (playbook, run_id, owner_pid, owner_host, "
                "acquired_at, heartbeat_at, token) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (playbook, run_id, os.getpid(), this_host(), iso(now), iso(now), token),
            )
        HELD.add(self.lock_key, playbook, run_id)
        if held is not None:
            log.warning(
                "lock_taken_over", playbook=playbook, run_id=run_id,
                previous_run_id=held.run_id, previous_holder=held.describe(), reason=reason,
            )  # fmt: skip
        return Lock(self, playbook, run_id, held, reason, token=token)

    def _locked_message(self, held: LockRow) -> str:
        minutes = self.stale_after.total_seconds() / 60
        return (
            f"journal {self.path}: playbook {held.playbook!r} is locked by {held.describe()}; "
            f"it is freed when that run ends, when its process is gone (same host), or "
            f"after {minutes:g} min without a heartbeat (other hosts)"
        )

    def _stale_reason(self, held: LockRow, now: datetime) -> str | None:
        return stale_reason(held, now, self.lock_key, self.stale_after)
