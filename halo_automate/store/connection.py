"""Opening the journal's SQLite connection, and the settings every connection gets.

:meth:`Journal.open <halo_automate.store.journal.Journal.open>` takes how to connect as a
parameter (``connect=``, default :func:`connect`), so a test can open the file read-only or
keep the connection to fill the disk under the journal, without reaching into it.
:func:`configure` then sets the per-connection pragmas the journal relies on: WAL,
``synchronous=FULL`` (why: see the journal's docstring), foreign keys and the busy timeout.

A journal file is never 0 bytes by our doing: :func:`create` makes a new one aside and links
it into place, so a 0-byte file at the journal's path is a truncated journal (its history and
pending rows are gone), which :func:`refuse_empty` refuses instead of starting afresh.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from halo_automate.errors import JournalError

MEMORY = ":memory:"
"""SQLite's name for a database that is no file (refused later: it cannot use WAL)."""

Connect = Callable[[Path, float], sqlite3.Connection]
"""How the journal opens its connection: ``connect(path, busy_timeout_seconds)``."""


@contextmanager
def translate(path: Path, doing: str, *, write: bool = False) -> Iterator[None]:
    """The one place where sqlite3 and OS errors become a one-line JournalError."""
    try:
        yield
    except (sqlite3.Error, OSError, OverflowError) as e:  # Overflow: an int SQLite cannot hold
        reason = str(e).rstrip(".") or type(e).__name__
        tail = "; stopping before the next write" if write else ""
        raise JournalError(f"journal {path}: {reason} while {doing}{tail}") from e


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    """The default :data:`Connect`: autocommit mode (the journal's transactions are explicit),
    shared between threads (the journal serialises them)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


def configure(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    """Set the pragmas of a freshly opened journal connection; JournalError without WAL."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = _switch_to_wal(conn, busy_timeout)
    if mode != "wal":
        raise JournalError(f"journal {path}: cannot use WAL mode (SQLite chose {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row


def _switch_to_wal(
    conn: sqlite3.Connection, busy_timeout: float, sleep: Callable[[float], None] = time.sleep
) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the file.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once (its busy handler is not used for this lock) while another process or
    thread is opening the same new journal. The busy timeout bounds the retries.
    """
    waited = 0.0
    pause = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or waited >= busy_timeout:
                raise
        sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.1)


def create(path: Path) -> None:
    """Create a new, valid (non-empty) journal file at ``path`` if none is there: made under
    a temporary name and hard-linked into place, so nobody ever sees it at 0 bytes; a file
    that appears meanwhile (another process creating it) is kept."""
    if str(path) == MEMORY or path.exists():
        return
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        conn = sqlite3.connect(aside, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # writes the header: the file is valid
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    finally:
        for leftover in (aside, Path(f"{aside}-wal"), Path(f"{aside}-shm")):
            leftover.unlink(missing_ok=True)


def refuse_empty(path: Path) -> None:
    """JournalError for a 0-byte journal file (see the module docstring)."""
    if str(path) != MEMORY and path.stat().st_size == 0:
        raise JournalError(
            f"journal {path}: the file is empty (0 bytes), so it was truncated and its "
            "history and any pending writes are lost; restore it from a backup, or delete "
            "the file to start a new journal"
        )
