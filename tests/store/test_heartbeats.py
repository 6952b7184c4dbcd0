"""A heartbeat writes only when due; in between it is a read that still sees a takeover.

Every send of a run is fenced by its locks' heartbeats (tests/engine/test_fencing.py); with the
instance writer lock that was two synced write transactions per request. Now a heartbeat within
``stale_after / 10`` of the last one this journal wrote only checks that the lock row still
names the run and its acquisition's token.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clock import FakeClock

from halo_automate.errors import LockLostError
from halo_automate.store.journal import Journal
from halo_automate.store.writers import WriterLock

T0 = datetime(2026, 11, 24, 5, 15, tzinfo=UTC)
HALO = "https://acme.halopsa.example"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=T0)


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal.open(tmp_path / "j.db", clock=clock.now) as j:
        yield j


def writes(journal: Journal) -> list[str]:
    """Record every heartbeat UPDATE the journal's connection runs from now on."""
    seen: list[str] = []
    journal._conn.set_trace_callback(
        lambda sql: seen.append(sql) if "SET heartbeat_at" in sql else None
    )
    return seen


def test_a_playbook_lock_heartbeat_writes_only_when_due(journal: Journal, clock: FakeClock) -> None:
    lock = journal.acquire_lock("pb", "r1")
    seen = writes(journal)
    lock.heartbeat()  # the first one this journal sends: written
    for _ in range(5):
        clock.advance(seconds=10)
        lock.heartbeat()  # 10..50 s later: within 60 s (stale_after 10 min / 10), a read
    assert len(seen) == 1
    held = journal.lock("pb")
    assert held is not None and held.heartbeat_at == T0
    clock.advance(seconds=11)  # 61 s after the last write: due again
    lock.heartbeat()
    assert len(seen) == 2
    held = journal.lock("pb")
    assert held is not None and held.heartbeat_at == T0 + timedelta(seconds=61)


def test_a_heartbeat_that_only_reads_still_sees_a_takeover(
    journal: Journal, clock: FakeClock
) -> None:
    """Another process replaces the lock row between two heartbeats: the read-only one
    raises LockLostError naming the new holder, as the written one did."""
    lock = journal.acquire_lock("pb", "r1")
    lock.heartbeat()
    with closing(sqlite3.connect(journal.path)) as raw, raw:
        raw.execute("UPDATE locks SET run_id = 'r2', token = 'other'")
    clock.advance(seconds=5)
    with pytest.raises(LockLostError, match="now held by run r2"):
        lock.heartbeat()
    with closing(sqlite3.connect(journal.path)) as raw, raw:
        raw.execute("DELETE FROM locks")
    with pytest.raises(LockLostError, match="now held by nobody"):
        lock.heartbeat()


def test_a_writer_lock_heartbeat_writes_only_when_due_and_sees_a_takeover(
    journal: Journal, clock: FakeClock
) -> None:
    writer = journal.try_writer(HALO, "r1", "pb")
    assert isinstance(writer, WriterLock)
    seen = writes(journal)
    writer.heartbeat()
    clock.advance(seconds=30)
    writer.heartbeat()
    assert len(seen) == 1
    clock.advance(seconds=31)
    writer.heartbeat()
    assert len(seen) == 2
    with closing(sqlite3.connect(journal.path)) as raw, raw:
        raw.execute("UPDATE instance_locks SET run_id = 'r2', token = 'other'")
    with pytest.raises(LockLostError, match="lost the writer lock"):
        writer.heartbeat()
    assert writer.release() is False


def test_a_token_of_another_acquisition_is_no_lock(journal: Journal) -> None:
    """The same run id re-acquired (a recovery of itself) has a new token: the old holder's
    read-only heartbeat fails too."""
    first = journal.acquire_lock("pb", "r1")
    first.heartbeat()
    with closing(sqlite3.connect(journal.path)) as raw, raw:
        raw.execute("UPDATE locks SET token = 'renewed'")
    with pytest.raises(LockLostError):
        first.heartbeat()
