"""The request budget's window in the journal: every process (every connection) sees one
window per instance, a 429 pause reaches them all, and old slots do not pile up."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from halo_automate.errors import JournalError
from halo_automate.store.budget import JournalWindow
from halo_automate.store.journal import Journal
from halo_automate.store.migrations import MIGRATIONS

KEY = "https://acme.halopsa.example tenant=acme"


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    return path


def test_two_connections_share_one_window(journal_path: Path) -> None:
    """Slots taken through one connection count for the other; the wait is until the slot
    that frees the window leaves it."""
    with JournalWindow.open(journal_path) as a, JournalWindow.open(journal_path) as b:
        assert a.take(KEY, 100.0, 10.0, 0.0, 3) == 0
        assert b.take(KEY, 101.0, 10.0, 0.0, 3) == 0
        assert a.take(KEY, 102.0, 10.0, 0.0, 3) == 0
        assert b.take(KEY, 103.0, 10.0, 0.0, 3) == 7.0  # the slot of 100.0 leaves at 110.0
        assert a.state(KEY, 103.0, 10.0, 0.0) == (3, 0.0)
        assert b.take(KEY, 110.0, 10.0, 0.0, 3) == 0
        assert b.take("https://other.example", 110.0, 10.0, 0.0, 3) == 0  # another instance


def test_a_pause_reaches_every_connection(journal_path: Path) -> None:
    """A 429 pause taken by one process holds back the others; the longer pause wins."""
    with JournalWindow.open(journal_path) as a, JournalWindow.open(journal_path) as b:
        a.pause(KEY, 150.0)
        b.pause(KEY, 120.0)
        assert b.take(KEY, 100.0, 10.0, 0.0, 3) == 50.0
        assert a.state(KEY, 100.0, 10.0, 0.0) == (0, 150.0)
        assert b.take(KEY, 150.0, 10.0, 0.0, 3) == 0


def test_old_and_future_slots_are_pruned(journal_path: Path) -> None:
    """Taking a slot deletes slots older than two holds and slots from the future (a wall
    clock set back), so the table stays one window's worth."""
    with JournalWindow.open(journal_path) as window:
        for second in range(50):
            assert window.take(KEY, float(second), 10.0, 0.0, 100) == 0
        window.take(KEY, 1000.0, 10.0, 0.0, 100)
        assert window.take(KEY, 5.0, 10.0, 0.0, 100) == 0  # the clock went back: 1000 is pruned
    with closing(sqlite3.connect(journal_path)) as raw:
        (count,) = raw.execute("SELECT COUNT(*) FROM budget_slots").fetchone()
    assert count == 1


def test_window_needs_a_migrated_journal(tmp_path: Path) -> None:
    """A journal of an older schema is migrated by Journal.open, not by the window."""
    path = tmp_path / "old.db"
    Journal.open(path, migrations=MIGRATIONS[:6]).close()
    with pytest.raises(JournalError, match="open the journal first"):
        JournalWindow.open(path)
    Journal.open(path).close()  # the v7 migration on an old journal
    with JournalWindow.open(path) as window:
        assert window.take(KEY, 1.0, 10.0, 0.0, 1) == 0


def test_one_process_slow_requests_hold_the_slots_of_all(journal_path: Path) -> None:
    """Halo counts a request when it arrives: the slowest recent request of any process (its
    margin) holds every slot that much longer than a window, for every process."""
    with JournalWindow.open(journal_path) as slow, JournalWindow.open(journal_path) as fast:
        assert slow.take(KEY, 100.0, 10.0, 0.5, 1) == 0
        assert fast.take(KEY, 110.2, 10.0, 0.0, 1) == pytest.approx(0.3)
        assert fast.state(KEY, 110.2, 10.0, 0.0) == (1, 0.0)
        assert fast.take(KEY, 130.0, 10.0, 0.0, 1) == 0  # two windows later the margin is stale
        assert fast.state(KEY, 140.1, 10.0, 0.0) == (0, 0.0)
