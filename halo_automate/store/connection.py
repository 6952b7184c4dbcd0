"""Opening the journal's SQLite connection, and the settings every connection gets.

:meth:`Journal.open <halo_automate.store.journal.Journal.open>` takes how to connect as a
parameter (``connect=``, default :func:`connect`), so a test can open the file read-only or
keep the connection to fill the disk under the journal, without reaching into it.
:func:`configure` then sets the per-connection pragmas the journal relies on: WAL,
``synchronous=FULL`` (why: see the journal's docstring), foreign keys and the busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from halo_automate.errors import JournalError

Connect = Callable[[Path, float], sqlite3.Connection]
"""How the journal opens its connection: ``connect(path, busy_timeout_seconds)``."""


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    """The default :data:`Connect`: autocommit mode (the journal's transactions are explicit),
    shared between threads (the journal serialises them)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


def configure(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    """Set the pragmas of a freshly opened journal connection; JournalError without WAL."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise JournalError(f"journal {path}: cannot use WAL mode (SQLite chose {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
