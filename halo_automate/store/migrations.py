"""The journal's schema, as a list of migrations, and the one function that runs them.

Migration ``i`` takes the schema from version ``i`` to ``i + 1`` (kept in ``PRAGMA
user_version``); append a migration, never edit one, so every journal ever written can be
brought up to date. All pending migrations run in one ``BEGIN IMMEDIATE`` transaction: a
failure leaves the journal at its old version, and two processes never migrate at once.

* v1: ``runs``, ``changes``, ``locks``.
* v2: a typed change kind: ``changes.kind`` (``field`` / ``action`` / ``action-delete``) and
  ``changes.action_id``, converted from v1's string protocol in ``changes.field``
  (``action:<kind>`` becomes kind ``action``, field ``<kind>``; ``action-delete:<id>`` becomes
  kind ``action-delete``, action_id ``<id>``, field ``""``).
* v3: ``runs.instance``, the Halo instance's facts read by a run that writes (the JSON of
  ``GET /api/InstanceInfo``'s version fields, or ``{"readable": false}`` where the
  application may not read it; NULL for older runs). FACTS §9.8.
* v4: fail closed (issue 13). ``run_decisions``: one row per run that journaled its decision
  to write, inserted by the same transaction that records its first pending batch (recovery
  only finishes runs that decided; a small table, so the big ``runs`` row is not rewritten);
  runs of older journals that already wrote (a change row that is not ``skipped``) count as
  decided. ``locks.token``: a fresh token per acquisition, so a
  holder that lost its lock (even to a recovery of its own run id) can tell before a send.
* v5: plans apart and compressed (issue 13). ``run_plans``: one row per run that recorded a
  plan, the zlib of its UTF-8 JSON (:mod:`halo_automate.store.plans`); existing
  ``runs.plan_json`` texts move there and the column is left NULL (SQLite before 3.35
  cannot drop it), so listing runs never reads a plan. The freed pages are reused by new
  rows; ``prune`` (or any VACUUM) gives them back to the file system.
* v6: instances (issue 12). ``runs.instance_name`` (the config's name of the Halo a run
  talked to; ``default`` for older runs, which knew one Halo) and ``runs.instance_identity``
  (its API base URL and tenant; NULL for older runs).
* v7: one writer per instance and undo that knows the history (issue 12).
  ``instance_locks``: one row per Halo instance (its identity) whose writer lock a run holds
  (:mod:`halo_automate.store.writers`), with the token of the playbook lock it writes
  under (a run that lost that lock holds no writer lock either); ``changes.halo_at``: Halo's
  own time of a write, from its answer (a ticket's ``last_update``, an action's
  ``datetime``; NULL when Halo gave none or for older rows), so undo can tell whether a
  ticket was touched after the run wrote it.
* v8: one request budget per instance (issue 12). ``budget_slots`` (one row per request sent
  in the rolling window, by instance key, wall-clock seconds) and ``budget_windows`` (per
  instance: until when a 429 pauses every process, and the slowest recent request of any
  process, by which slots are held longer than a window); :mod:`halo_automate.store.budget`.
* v9: approvals and runaway pauses (issue 16). ``approvals``: one row per run whose plan was
  held for a person's approval (its plan stays in ``run_plans``): who planned, when it
  expires, its state (``waiting``, ``approved``, ``rejected``, ``expired``), who decided and
  why, and the run that applies it (named when claimed, ``applied_at``); at most one
  ``waiting`` or ``approved`` and unapplied row per playbook and instance (a partial unique
  index). ``playbook_guards``: per playbook and
  instance, the scheduled refusals in a row and, once paused, when, why and who resumed it.
* v10: incremental reads (issue 15). ``read_watermarks``: per playbook and instance name, the
  start of its last successful read, its last full read, the playbook hash and query it read
  with, and the size of the whole set (:mod:`halo_automate.store.watermarks`).
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeAlias

from halo_automate.errors import JournalError

Migration: TypeAlias = Callable[[sqlite3.Connection], None]

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

_V2 = (
    "ALTER TABLE changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'field'",
    "ALTER TABLE changes ADD COLUMN action_id INTEGER",
    "UPDATE changes SET kind = 'action', field = substr(field, 8) "
    "WHERE substr(field, 1, 7) = 'action:'",
    "UPDATE changes SET kind = 'action-delete', "
    "action_id = CAST(substr(field, 15) AS INTEGER), field = '' "
    "WHERE substr(field, 1, 14) = 'action-delete:'",
)

_V4 = (
    """CREATE TABLE run_decisions (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id), decided_at TEXT NOT NULL)""",
    "INSERT INTO run_decisions SELECT run_id, started_at FROM runs WHERE EXISTS (SELECT 1 "
    "FROM changes c WHERE c.run_id = runs.run_id AND c.state != 'skipped')",
    "ALTER TABLE locks ADD COLUMN token TEXT NOT NULL DEFAULT ''",
)


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Version 1: runs, changes, locks. (executescript would COMMIT, so one by one.)"""
    for statement in _V1:
        conn.execute(statement)


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Version 2: the typed change kind (see the module docstring)."""
    for statement in _V2:
        conn.execute(statement)


def _migrate_v3(conn: sqlite3.Connection) -> None:
    """Version 3: ``runs.instance`` (see the module docstring)."""
    conn.execute("ALTER TABLE runs ADD COLUMN instance TEXT")


def _migrate_v4(conn: sqlite3.Connection) -> None:
    """Version 4: the decision to write and the lock token (see the module docstring)."""
    for statement in _V4:
        conn.execute(statement)


def _migrate_v5(conn: sqlite3.Connection) -> None:
    """Version 5: plans compressed in ``run_plans`` (see the module docstring). A frozen
    copy of the stored form, so this migration never changes with the plans module."""
    conn.execute(
        "CREATE TABLE run_plans (run_id TEXT PRIMARY KEY REFERENCES runs (run_id), "
        "plan BLOB NOT NULL)"
    )
    found = conn.execute("SELECT run_id, plan_json FROM runs WHERE plan_json IS NOT NULL")
    for run_id, text in found:  # one plan in memory at a time
        blob = zlib.compress(str(text).encode("utf-8", "surrogatepass"), 6)
        conn.execute("INSERT INTO run_plans (run_id, plan) VALUES (?, ?)", (run_id, blob))
    conn.execute("UPDATE runs SET plan_json = NULL WHERE plan_json IS NOT NULL")


def _migrate_v6(conn: sqlite3.Connection) -> None:
    """Version 6: which Halo instance a run talked to."""
    conn.execute("ALTER TABLE runs ADD COLUMN instance_name TEXT NOT NULL DEFAULT 'default'")
    conn.execute("ALTER TABLE runs ADD COLUMN instance_identity TEXT")
    conn.execute("CREATE INDEX IF NOT EXISTS runs_instance ON runs (instance_name, playbook)")


def _migrate_v7(conn: sqlite3.Connection) -> None:
    """Version 7: the instance writer locks and Halo's time of each write."""
    conn.execute(
        "CREATE TABLE instance_locks (instance TEXT PRIMARY KEY, run_id TEXT NOT NULL, "
        "playbook TEXT NOT NULL, owner_pid INTEGER NOT NULL, owner_host TEXT NOT NULL, "
        "acquired_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL, token TEXT NOT NULL, "
        "lock_token TEXT NOT NULL DEFAULT '')"
    )
    conn.execute("ALTER TABLE changes ADD COLUMN halo_at TEXT")


def _migrate_v8(conn: sqlite3.Connection) -> None:
    """Version 8: the request budget's window, shared by every process (store/budget.py)."""
    conn.execute("CREATE TABLE budget_slots (key TEXT NOT NULL, sent_at REAL NOT NULL)")
    conn.execute("CREATE INDEX budget_slots_key ON budget_slots (key, sent_at)")
    conn.execute(
        "CREATE TABLE budget_windows (key TEXT PRIMARY KEY, paused_until REAL NOT NULL DEFAULT 0,"
        " margin REAL NOT NULL DEFAULT 0, margin_at REAL NOT NULL DEFAULT 0)"
    )


_V9 = (
    """CREATE TABLE approvals (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id), playbook TEXT NOT NULL,
        instance_name TEXT NOT NULL, changes INTEGER NOT NULL, requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL, expires_at TEXT NOT NULL,
        approver_must_differ INTEGER NOT NULL, state TEXT NOT NULL, decided_by TEXT,
        decided_at TEXT, reason TEXT, applied_run_id TEXT, applied_at TEXT)""",
    "CREATE UNIQUE INDEX approvals_one_open ON approvals (playbook, instance_name) "
    "WHERE state = 'waiting' OR (state = 'approved' AND applied_run_id IS NULL)",
    "CREATE INDEX approvals_state ON approvals (state, expires_at)",
    """CREATE TABLE playbook_guards (
        playbook TEXT NOT NULL, instance_name TEXT NOT NULL,
        refusals INTEGER NOT NULL DEFAULT 0, paused_at TEXT, paused_reason TEXT,
        resumed_at TEXT, resumed_by TEXT, PRIMARY KEY (playbook, instance_name))""",
)


def _migrate_v9(conn: sqlite3.Connection) -> None:
    """Version 9: approvals and runaway pauses (see the module docstring)."""
    for statement in _V9:
        conn.execute(statement)


def _migrate_v10(conn: sqlite3.Connection) -> None:
    """Version 10: each playbook's read watermark per instance (incremental runs; issue 15)."""
    conn.execute(
        """CREATE TABLE read_watermarks (
            playbook TEXT NOT NULL, instance_name TEXT NOT NULL, read_at TEXT NOT NULL,
            full_at TEXT NOT NULL, playbook_hash TEXT NOT NULL, query TEXT NOT NULL,
            full_count INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
            PRIMARY KEY (playbook, instance_name))"""
    )


MIGRATIONS: tuple[Migration, ...] = (
    _migrate_v1,
    _migrate_v2,
    _migrate_v3,
    _migrate_v4,
    _migrate_v5,
    _migrate_v6,
    _migrate_v7,
    _migrate_v8,
    _migrate_v9,
    _migrate_v10,
)
"""Migration ``i`` takes the schema from version ``i`` to ``i + 1``; append, never edit."""
SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    """One explicit transaction (the connection runs in autocommit mode otherwise)."""
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLITE_FULL and friends may have rolled back already
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration]) -> None:
    """Bring the schema to ``len(migrations)``; refuse a journal newer than that."""
    target = len(migrations)
    with transaction(conn, "BEGIN IMMEDIATE"):
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > target:
            raise JournalError(
                f"journal {path}: schema version {found} is newer than this halo_automate "
                f"supports (version {target}); upgrade halo_automate or use another journal"
            )
        for version in range(found, target):
            migrations[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
