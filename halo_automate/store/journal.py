"""The journal: one SQLite file recording every run and every write.

apply, crash recovery, ``history``/``show`` and undo are built on it. It stores plain values
(JSON text, ints, strings) and never imports the plan module or talks to Halo.

Tables (schema version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``):

* ``runs``    one row per run: who, why, when, status, counts and the full plan document.
* ``changes`` one row per field (or ``action:<kind>``) per ticket; ``pending`` is written
  *before* the request is sent, then marked ``done`` / ``failed`` / ``skipped``.
* ``locks``   one row per playbook that a run currently holds.

Durability: WAL with ``synchronous=FULL``. With ``NORMAL``, WAL only syncs at checkpoints, so
a committed transaction survives an application crash but can be lost with a power failure or
kernel crash. A pending row is the only trace of a write whose request may already have been
sent, so every commit is synced; the cost is one fsync per transaction, and apply writes one
transaction per batch, not per row.

Concurrency: one connection guarded by a re-entrant lock serves any number of threads; other
processes (CLI and daemon) share the file through WAL and ``busy_timeout``. Every write runs
in ``BEGIN IMMEDIATE``, so a read-then-write (taking a lock, migrating) is atomic across
processes.

Errors: every ``sqlite3`` (and file system) error is translated to :class:`JournalError` with
a one-line message in exactly one place, :func:`_translate`.

Locks: one run per playbook at a time. A holder is *stale* when it is on this host and its pid
is gone (or the pid is this process, which does not hold it: a restarted container reuses
pids), or when it is on another host and its heartbeat is older than ``stale_after``. A stale
lock is taken over and reported in :attr:`Lock.took_over_from`. A holder must call
:meth:`Lock.heartbeat` more often than ``stale_after`` when other hosts share the journal;
heartbeat raises :class:`LockedError` if the lock was taken over meanwhile.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias, get_args

from halo_automate.core.outcome import RunStatus
from halo_automate.errors import JournalError, LockedError

JSONValue: TypeAlias = (
    bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
)
ChangeState = Literal["pending", "done", "failed", "skipped"]
RUN_STATUSES: frozenset[str] = frozenset(s.value for s in RunStatus)
CHANGE_STATES: frozenset[str] = frozenset(get_args(ChangeState))
DEFAULT_STALE_AFTER = timedelta(minutes=10)
DEFAULT_BUSY_TIMEOUT = 10.0  # seconds to wait for another process's write transaction

Migration: TypeAlias = Callable[[sqlite3.Connection], None]


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Counts:
    """A run's counters; ``planned`` counts changes, ``requests`` HTTP requests made."""

    scanned: int = 0
    matched: int = 0
    planned: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0


_COUNT_COLUMNS = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class RunStart:
    """What is known when a run starts; ``mode`` is e.g. apply/preview/undo/refused and
    ``trigger`` cli/schedule/apply-file/recover."""

    run_id: str
    playbook: str
    playbook_hash: str
    mode: str
    trigger: str
    started_by: str = field(default_factory=lambda: who())
    undo_of: str | None = None
    plan_json: str | None = None
    counts: Counts = Counts()


@dataclass(frozen=True)
class RunRow:
    run_id: str
    playbook: str
    playbook_hash: str
    mode: str
    undo_of: str | None
    started_by: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    counts: Counts
    message: str | None
    plan_json: str | None


@dataclass(frozen=True)
class NewChange:
    """One field (or ``action:<kind>``) of one ticket that a batch is about to write."""

    ticket_id: int
    field: str
    before: JSONValue
    after: JSONValue
    batch: int = 0


@dataclass(frozen=True)
class ChangeRow:
    id: int
    run_id: str
    ticket_id: int
    field: str
    before: JSONValue
    after: JSONValue
    state: ChangeState
    message: str | None
    action_ids: tuple[int, ...]
    batch: int
    updated_at: datetime


@dataclass(frozen=True)
class ChangeMark:
    """The outcome of one change; ``action_ids=None`` keeps the ids already recorded."""

    change_id: int
    state: ChangeState
    message: str | None = None
    action_ids: Sequence[int] | None = None


@dataclass(frozen=True)
class LockRow:
    playbook: str
    run_id: str
    owner_pid: int
    owner_host: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        return (
            f"run {self.run_id} (pid {self.owner_pid} on {self.owner_host}, "
            f"since {_iso(self.acquired_at)}, last heartbeat {_iso(self.heartbeat_at)})"
        )


@dataclass(frozen=True)
class Lock:
    """A held playbook lock; a context manager that releases it on exit."""

    journal: Journal = field(repr=False)
    playbook: str
    run_id: str
    took_over_from: LockRow | None = None
    takeover_reason: str | None = None

    def heartbeat(self) -> None:
        self.journal.heartbeat(self.playbook, self.run_id)

    def release(self) -> bool:
        return self.journal.release_lock(self.playbook, self.run_id)

    def __enter__(self) -> Lock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.release()
            return
        # Already failing (often for the same reason, e.g. a read-only or full disk): the first
        # error says what went wrong, so a failed release must not replace it. The row left
        # behind names this process; it is taken over once the process is gone (or by this
        # process, which no longer holds it).
        with contextlib.suppress(JournalError):
            self.release()


def who() -> str:
    """``user@host pid N`` for ``runs.started_by``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER (containers)
        user = f"uid{os.getuid()}"
    return f"{user}@{_this_host()} pid {os.getpid()}"


# --------------------------------------------------------------------------- schema

_V1 = (
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, playbook TEXT NOT NULL, playbook_hash TEXT NOT NULL,
        mode TEXT NOT NULL, undo_of TEXT, started_by TEXT NOT NULL, trigger TEXT NOT NULL,
        started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
        scanned INTEGER NOT NULL DEFAULT 0, matched INTEGER NOT NULL DEFAULT 0,
        planned INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0, message TEXT, plan_json TEXT)""",
    "CREATE INDEX runs_playbook ON runs (playbook, started_at)",
    "CREATE INDEX runs_undo_of ON runs (undo_of)",
    """CREATE TABLE changes (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs (run_id),
        ticket_id INTEGER NOT NULL, field TEXT NOT NULL, before_json TEXT NOT NULL,
        after_json TEXT NOT NULL, state TEXT NOT NULL, message TEXT,
        action_ids TEXT NOT NULL DEFAULT '[]', batch INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL)""",
    "CREATE INDEX changes_run_state ON changes (run_id, state)",
    "CREATE INDEX changes_ticket ON changes (ticket_id)",
    """CREATE TABLE locks (
        playbook TEXT PRIMARY KEY, run_id TEXT NOT NULL, owner_pid INTEGER NOT NULL,
        owner_host TEXT NOT NULL, acquired_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL)""",
)


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Version 1: runs, changes, locks. (executescript would COMMIT, so one by one.)"""
    for statement in _V1:
        conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (_migrate_v1,)
"""Migration ``i`` takes the schema from version ``i`` to ``i + 1``; append, never edit."""
SCHEMA_VERSION = len(MIGRATIONS)


# --------------------------------------------------------------------------- helpers


@contextmanager
def _translate(path: Path, doing: str, *, write: bool = False) -> Iterator[None]:
    """The one place where sqlite3 and OS errors become a one-line JournalError."""
    try:
        yield
    except (sqlite3.Error, OSError) as e:
        reason = str(e).rstrip(".") or type(e).__name__
        tail = "; stopping before the next write" if write else ""
        raise JournalError(f"journal {path}: {reason} while {doing}{tail}") from e


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLITE_FULL and friends may have rolled back already
            conn.execute("ROLLBACK")
        raise


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    """Open the connection (a seam: tests swap it to open the file read-only)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


def _configure(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise JournalError(f"journal {path}: cannot use WAL mode (SQLite chose {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row


def _migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    target = len(migrations)
    with _transaction(conn, "BEGIN IMMEDIATE"):
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > target:
            raise JournalError(
                f"journal {path}: schema version {found} is newer than this halo_automate "
                f"supports (version {target}); upgrade halo_automate or use another journal"
            )
        for version in range(found, target):
            migrations[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")


def _this_host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _dump(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")


def _run_row(row: sqlite3.Row) -> RunRow:
    finished = row["finished_at"]
    return RunRow(
        run_id=row["run_id"],
        playbook=row["playbook"],
        playbook_hash=row["playbook_hash"],
        mode=row["mode"],
        undo_of=row["undo_of"],
        started_by=row["started_by"],
        trigger=row["trigger"],
        started_at=_parse(row["started_at"]),
        finished_at=None if finished is None else _parse(finished),
        status=RunStatus(row["status"]),
        counts=Counts(**{name: int(row[name]) for name in _COUNT_COLUMNS}),
        message=row["message"],
        plan_json=row["plan_json"],
    )


def _change_row(row: sqlite3.Row) -> ChangeRow:
    return ChangeRow(
        id=int(row["id"]),
        run_id=row["run_id"],
        ticket_id=int(row["ticket_id"]),
        field=row["field"],
        before=json.loads(row["before_json"]),
        after=json.loads(row["after_json"]),
        state=row["state"],
        message=row["message"],
        action_ids=tuple(int(i) for i in json.loads(row["action_ids"])),
        batch=int(row["batch"]),
        updated_at=_parse(row["updated_at"]),
    )


def _lock_row(row: sqlite3.Row) -> LockRow:
    return LockRow(
        playbook=row["playbook"],
        run_id=row["run_id"],
        owner_pid=int(row["owner_pid"]),
        owner_host=row["owner_host"],
        acquired_at=_parse(row["acquired_at"]),
        heartbeat_at=_parse(row["heartbeat_at"]),
    )


# Locks held by this process: (real db path, playbook, run id). A lock row naming this pid
# and host but absent here was left by an earlier process that had the same pid.
_HELD: set[tuple[str, str, str]] = set()
_HELD_GUARD = threading.Lock()


# --------------------------------------------------------------------------- journal


class Journal:
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
        self._key = os.path.realpath(path)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] = _utcnow,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Journal:
        """Open (creating folder and file if needed) and migrate to ``len(migrations)``."""
        where = Path(path)
        with _translate(where, "opening the journal"):
            where.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(where, busy_timeout)
            try:
                _configure(conn, where, busy_timeout)
                _migrate(conn, where, migrations)
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

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self, doing: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        with (
            self._mutex,
            _translate(self.path, doing, write=write),
            _transaction(self._conn, begin) as db,
        ):
            yield db

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _no_run(self, run_id: str) -> JournalError:
        return JournalError(f"journal {self.path}: no run {run_id!r}")

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
        columns = (
            "run_id, playbook, playbook_hash, mode, undo_of, started_by, trigger, "
            "started_at, status, plan_json, " + ", ".join(_COUNT_COLUMNS)
        )
        values = (
            run.run_id, run.playbook, run.playbook_hash, run.mode, run.undo_of,
            run.started_by, run.trigger, _iso(self._now()), "running", run.plan_json,
            *(getattr(run.counts, name) for name in _COUNT_COLUMNS),
        )  # fmt: skip
        marks = ", ".join("?" * len(values))
        with self._tx(f"starting run {run.run_id}", write=True) as db:
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run.run_id,)).fetchone():
                raise JournalError(f"journal {self.path}: run {run.run_id!r} already exists")
            db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", values)  # noqa: S608

    def update_run(
        self, run_id: str, *, counts: Counts | None = None, plan_json: str | None = None
    ) -> None:
        """Replace the counters and/or the plan document of a run."""
        values: dict[str, Any] = {}
        if counts is not None:
            values.update((name, getattr(counts, name)) for name in _COUNT_COLUMNS)
        if plan_json is not None:
            values["plan_json"] = plan_json
        if not values:
            raise ValueError("update_run needs counts or plan_json")
        with self._tx(f"updating run {run_id}", write=True) as db:
            self._update_run(db, run_id, values)

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        *,
        counts: Counts | None = None,
        message: str | None = None,
    ) -> None:
        """Set the final status (and counters and message) and ``finished_at``."""
        _check(status, RUN_STATUSES - {"running"}, "final run status")
        values: dict[str, Any] = {
            "status": status,
            "finished_at": _iso(self._now()),
            "message": message,
        }
        if counts is not None:
            values.update((name, getattr(counts, name)) for name in _COUNT_COLUMNS)
        with self._tx(f"finishing run {run_id}", write=True) as db:
            self._update_run(db, run_id, values)

    def run(self, run_id: str) -> RunRow | None:
        with self._tx(f"reading run {run_id}", write=False) as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _run_row(row)

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
            return [_run_row(row) for row in db.execute(sql, params)]

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
            found = [_run_row(row) for row in db.execute(sql, (playbook, playbook))]
            locks = {r.run_id: r for r in map(_lock_row, db.execute("SELECT * FROM locks"))}
        now = self._now()
        return [
            run
            for run in found
            if run.run_id not in locks or self._stale_reason(locks[run.run_id], now) is not None
        ]

    # ------------------------------------------------------------------ changes

    def add_changes(self, run_id: str, rows: Sequence[NewChange]) -> list[int]:
        """Record a batch as ``pending`` in one transaction (before sending it); the ids."""
        stamp = _iso(self._now())
        ids: list[int] = []
        with self._tx(f"recording {len(rows)} pending changes of run {run_id}", write=True) as db:
            self._require_run(db, run_id)
            for row in rows:
                cursor = db.execute(
                    "INSERT INTO changes (run_id, ticket_id, field, before_json, after_json, "
                    "state, batch, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (run_id, row.ticket_id, row.field, _dump(row.before), _dump(row.after),
                     row.batch, stamp),
                )  # fmt: skip
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
        return ids

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
        """Set each change's own outcome, in one transaction; unknown ids change nothing."""
        for mark in marks:
            _check(mark.state, CHANGE_STATES, "change state")
        stamp = _iso(self._now())
        missing: list[int] = []
        with self._tx(f"recording the outcome of {len(marks)} changes", write=True) as db:
            for mark in marks:
                ids = None if mark.action_ids is None else _dump([int(i) for i in mark.action_ids])
                cursor = db.execute(
                    "UPDATE changes SET state = ?, message = ?, "
                    "action_ids = COALESCE(?, action_ids), updated_at = ? WHERE id = ?",
                    (mark.state, mark.message, ids, stamp, mark.change_id),
                )
                if cursor.rowcount == 0:
                    missing.append(mark.change_id)
            if missing:
                raise JournalError(f"journal {self.path}: no change with id {missing}")

    def _select_changes(self, doing: str, where: str, params: Sequence[Any]) -> list[ChangeRow]:
        sql = f"SELECT * FROM changes WHERE {where} ORDER BY id"  # noqa: S608 - ours
        with self._tx(doing, write=False) as db:
            return [_change_row(row) for row in db.execute(sql, params)]

    def changes(self, run_id: str) -> list[ChangeRow]:
        return self._select_changes(f"reading changes of run {run_id}", "run_id = ?", [run_id])

    def pending(self, run_id: str | None = None) -> list[ChangeRow]:
        """Changes whose outcome is unknown, of one run or of all runs."""
        where = "state = 'pending' AND (? IS NULL OR run_id = ?)"
        return self._select_changes("reading pending changes", where, [run_id, run_id])

    def ticket_changes(self, ticket_id: int) -> list[ChangeRow]:
        """Every change recorded for one ticket, oldest first (undo checks later runs)."""
        doing = f"reading changes of ticket {ticket_id}"
        return self._select_changes(doing, "ticket_id = ?", [ticket_id])

    # ------------------------------------------------------------------ locks

    def lock(self, playbook: str) -> LockRow | None:
        """Who holds the playbook's lock, if anyone (stale or not)."""
        with self._tx(f"reading the lock of {playbook}", write=False) as db:
            row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
        return None if row is None else _lock_row(row)

    def acquire_lock(self, playbook: str, run_id: str) -> Lock:
        """Take the playbook's lock for ``run_id`` (LockedError if a live run holds it)."""
        now = self._now()
        held: LockRow | None = None
        reason: str | None = None
        with self._tx(f"locking playbook {playbook}", write=True) as db:
            row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
            if row is not None:
                held = _lock_row(row)
                reason = self._stale_reason(held, now)
                if reason is None:
                    raise LockedError(self._locked_message(held))
            db.execute(
                "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?, ?)",
                (playbook, run_id, os.getpid(), _this_host(), _iso(now), _iso(now)),
            )
        with _HELD_GUARD:
            _HELD.add((self._key, playbook, run_id))
        return Lock(self, playbook, run_id, took_over_from=held, takeover_reason=reason)

    def _locked_message(self, held: LockRow) -> str:
        minutes = self.stale_after.total_seconds() / 60
        return (
            f"journal {self.path}: playbook {held.playbook!r} is locked by {held.describe()}; "
            f"it is freed when that run ends, when its process is gone (same host), or "
            f"after {minutes:g} min without a heartbeat (other hosts)"
        )

    def _stale_reason(self, held: LockRow, now: datetime) -> str | None:
        """Why a lock holder is gone, or None while it is alive."""
        where = f"pid {held.owner_pid} on {held.owner_host}"
        if held.owner_host == _this_host():
            if held.owner_pid == os.getpid():
                with _HELD_GUARD:
                    mine = (self._key, held.playbook, held.run_id) in _HELD
                return None if mine else f"{where} is this process, which did not take it"
            return None if _pid_alive(held.owner_pid) else f"{where} is no longer running"
        if now - held.heartbeat_at <= self.stale_after:
            return None
        return f"{where} sent no heartbeat since {_iso(held.heartbeat_at)}"

    def heartbeat(self, playbook: str, run_id: str) -> None:
        """Refresh the lock's heartbeat; LockedError if ``run_id`` no longer holds it."""
        with self._tx(f"refreshing the lock of {playbook}", write=True) as db:
            cursor = db.execute(
                "UPDATE locks SET heartbeat_at = ? WHERE playbook = ? AND run_id = ?",
                (_iso(self._now()), playbook, run_id),
            )
            if cursor.rowcount == 0:
                row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
                now = "nobody" if row is None else _lock_row(row).describe()
                raise LockedError(
                    f"journal {self.path}: run {run_id} lost the lock of playbook "
                    f"{playbook!r}; it is now held by {now}"
                )

    def release_lock(self, playbook: str, run_id: str) -> bool:
        """Release ``run_id``'s lock; False if it did not hold it (anymore)."""
        with _HELD_GUARD:
            _HELD.discard((self._key, playbook, run_id))
        with self._tx(f"unlocking playbook {playbook}", write=True) as db:
            cursor = db.execute(
                "DELETE FROM locks WHERE playbook = ? AND run_id = ?", (playbook, run_id)
            )
            return cursor.rowcount > 0

    def break_lock(self, playbook: str) -> LockRow | None:
        """Remove the playbook's lock whoever holds it (an operator's last resort)."""
        with self._tx(f"breaking the lock of {playbook}", write=True) as db:
            row = db.execute("SELECT * FROM locks WHERE playbook = ?", (playbook,)).fetchone()
            db.execute("DELETE FROM locks WHERE playbook = ?", (playbook,))
        return None if row is None else _lock_row(row)
