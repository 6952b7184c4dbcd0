"""The request budget's window in the journal database, where every process on the machine
sees it (issue 12: one budget per Halo instance, not per process).

:class:`JournalWindow` implements ``halo.ratelimit.SharedWindow`` (a protocol: halo/ and store/
never import each other; the CLI's context and the demo wire them together). Its tables
(migration v7): ``budget_slots`` holds one row per request sent in the rolling window, keyed by
the instance's identity, in wall-clock seconds; ``budget_windows`` holds, per instance, until
when a 429 pauses every process, and the slowest recent request of any process (the latency
margin: Halo counts a request when it arrives, so a slot is held a window plus that margin,
and one process's slow request must hold the slots of all).

Each call is one short ``BEGIN IMMEDIATE`` transaction (count, take or pause, prune), so two
processes never both take the last slot. The window has its own connection to the journal
file, with ``synchronous=NORMAL``: a slot is worth nothing after a crash (losing one only
lets one request more through in the next window, and Halo's back-off covers that), so it
costs no fsync, unlike the journal's own rows. Old slots are pruned as new ones are taken:
any slot older than twice the hold, and any slot from the future (the wall clock was set
back).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import TracebackType

from halo_automate.store.connection import connect, translate
from halo_automate.store.migrations import SCHEMA_VERSION, transaction

BUSY_TIMEOUT = 10.0
"""Seconds to wait for another process's write transaction on the journal."""


class JournalWindow:
    """The shared rolling windows of every instance's budget, in one journal file.

    Open it on a journal that :meth:`Journal.open
    <halo_automate.store.journal.Journal.open>` has brought to the current schema. Safe to
    share between threads and between the budgets of several instances."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, path: Path | str, busy_timeout: float = BUSY_TIMEOUT) -> JournalWindow:
        """A window over the journal at ``path`` (already migrated)."""
        path = Path(path)
        with translate(path, "opening the request budget"):
            conn = connect(path, busy_timeout)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                conn.execute("PRAGMA synchronous = NORMAL")
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if version < SCHEMA_VERSION:
                    raise sqlite3.OperationalError(
                        f"schema version {version}, not {SCHEMA_VERSION}: open the journal first"
                    )
            except BaseException:
                conn.close()
                raise
        return cls(conn, path)

    def __repr__(self) -> str:
        return f"JournalWindow({str(self.path)!r})"

    def take(self, key: str, now: float, per_seconds: float, margin: float, limit: int) -> float:
        """Take a slot at ``now`` (return 0) unless paused or ``limit`` slots are held (return
        the seconds to wait; nothing taken). A slot is held ``per_seconds`` plus the largest
        latency ``margin`` any process reported lately; ``margin`` is this caller's."""
        with (
            self._mutex,
            translate(self.path, "taking a request slot"),
            transaction(self._conn, "BEGIN IMMEDIATE") as db,
        ):
            paused, hold = _window(db, key, now, per_seconds, margin)
            if paused > now:
                return paused - now
            db.execute(
                "DELETE FROM budget_slots WHERE key = ? AND (sent_at <= ? OR sent_at > ?)",
                (key, now - 2 * hold, now + hold),
            )
            used = _used(db, key, now, hold)
            if used < limit:
                db.execute("INSERT INTO budget_slots (key, sent_at) VALUES (?, ?)", (key, now))
                return 0.0
            # the slot that frees the window for one more: the (used - limit + 1)-th oldest
            row = db.execute(
                "SELECT sent_at FROM budget_slots WHERE key = ? AND sent_at > ? "
                "ORDER BY sent_at LIMIT 1 OFFSET ?",
                (key, now - hold, used - limit),
            ).fetchone()
            return max(float(row[0]) + hold - now, 0.0) if row else 0.0

    def pause(self, key: str, until: float) -> None:
        """Pause every process using ``key`` until ``until`` (a longer pause is kept)."""
        with (
            self._mutex,
            translate(self.path, "pausing the request budget"),
            transaction(self._conn, "BEGIN IMMEDIATE") as db,
        ):
            db.execute(
                "INSERT INTO budget_windows (key, paused_until) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "paused_until = max(paused_until, excluded.paused_until)",
                (key, until),
            )

    def state(self, key: str, now: float, per_seconds: float, margin: float) -> tuple[int, float]:
        """Slots of ``key`` held at ``now``, and until when it is paused (0: never)."""
        with (
            self._mutex,
            translate(self.path, "reading the request budget"),
            transaction(self._conn, "BEGIN") as db,
        ):
            row = db.execute(
                "SELECT paused_until, margin, margin_at FROM budget_windows WHERE key = ?",
                (key,),
            ).fetchone()
            paused, shared = (0.0, 0.0) if row is None else (float(row[0]), float(row[1]))
            if row is not None and float(row[2]) <= now - 2 * per_seconds:
                shared = 0.0
            return _used(db, key, now, per_seconds + max(margin, shared)), paused

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> JournalWindow:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _used(db: sqlite3.Connection, key: str, now: float, hold: float) -> int:
    row = db.execute(
        "SELECT COUNT(*) FROM budget_slots WHERE key = ? AND sent_at > ? AND sent_at <= ?",
        (key, now - hold, now + hold),
    ).fetchone()
    return int(row[0])


def _window(
    db: sqlite3.Connection, key: str, now: float, per_seconds: float, margin: float
) -> tuple[float, float]:
    """The pause of ``key`` and how long its slots are held, recording ``margin``: the shared
    margin is the largest any process reported within two windows (a larger one, or an
    older one, is replaced), so a slow request of one process holds slots for all."""
    row = db.execute(
        "SELECT paused_until, margin, margin_at FROM budget_windows WHERE key = ?", (key,)
    ).fetchone()
    paused, shared, at = (0.0, 0.0, 0.0) if row is None else (float(v) for v in row)
    if margin >= shared or at <= now - 2 * per_seconds:
        shared, at = margin, now
        db.execute(
            "INSERT INTO budget_windows (key, margin, margin_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET margin = excluded.margin, "
            "margin_at = excluded.margin_at",
            (key, shared, at),
        )
    return paused, per_seconds + shared
