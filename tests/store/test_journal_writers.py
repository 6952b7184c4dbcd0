"""The journal's instance writer locks and what undo reads of a run's history (schema v7,
issue 12): an old journal gains them, a live holder keeps the lock, a gone one loses it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clock import FakeClock

from halo_automate.errors import LockLostError
from halo_automate.store.journal import (
    MIGRATIONS,
    ChangeKind,
    ChangeMark,
    Journal,
    NewChange,
    RunStart,
)
from halo_automate.store.writers import WriterLock, WriterRow

HALO = "https://acme.halopsa.com tenant=acme"


def test_a_v6_journal_gains_writer_locks_and_halo_times(tmp_path: Path) -> None:
    """Migrating keeps old change rows (their Halo time unknown) and lets new ones keep it."""
    path = tmp_path / "journal.db"
    with Journal.open(path, migrations=MIGRATIONS[:6]) as v6:
        assert v6.schema_version == 6
    with closing(sqlite3.connect(path)) as raw, raw:  # as a v6 halo_automate wrote it
        raw.execute(
            "INSERT INTO runs (run_id, playbook, playbook_hash, mode, started_by, trigger, "
            "started_at, status) VALUES ('old', 'pb', 'h', 'apply', 'me', 'cli', "
            "'2026-11-24T05:15:00+00:00', 'succeeded')"
        )
        raw.execute(
            "INSERT INTO changes (run_id, ticket_id, field, before_json, after_json, state, "
            "updated_at) VALUES ('old', 5, 'status_id', '1', '9', 'done', "
            "'2026-11-24T05:15:01+00:00')"
        )
    with Journal.open(path) as journal:
        assert journal.schema_version == len(MIGRATIONS) >= 7
        assert journal.changes("old")[0].halo_at is None
        journal.start_run(RunStart("new", "pb", "h", "apply", "cli"))
        [new] = journal.add_changes("new", [NewChange(5, "status_id", 9, 1)])
        journal.mark_many([ChangeMark(new, "done", halo_at="2026-11-24T06:00:00.1234567Z")])
        assert journal.changes("new")[0].halo_at == "2026-11-24T06:00:00.1234567Z"
        assert journal.writer(HALO) is None


def test_one_writer_per_instance_and_a_gone_holder_is_taken_over(tmp_path: Path) -> None:
    """A live holder keeps the lock from another run (of any playbook); its release frees it;
    a holder on another host that stopped heart-beating is taken over, and its heartbeat then
    fails (it must send nothing more)."""
    clock = FakeClock(wall=datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    journal = Journal.open(tmp_path / "j.db", clock=clock.now, stale_after=timedelta(minutes=10))
    first = journal.try_writer(HALO, "run-a", "close-spam")
    assert isinstance(first, WriterLock)
    busy = journal.try_writer(HALO, "run-b", "quarantine-spam")
    assert isinstance(busy, WriterRow) and busy.holder.run_id == "run-a"
    assert "close-spam" in busy.describe()
    other = journal.try_writer("https://uat.example", "run-b", "quarantine-spam")
    assert isinstance(other, WriterLock)  # another instance is another lock
    first.heartbeat()
    assert first.release() and journal.writer(HALO) is None
    second = journal.try_writer(HALO, "run-b", "quarantine-spam")
    assert isinstance(second, WriterLock)
    with closing(sqlite3.connect(journal.path)) as raw, raw:  # as if held on another host
        raw.execute("UPDATE instance_locks SET owner_host = 'elsewhere'")
    assert isinstance(journal.try_writer(HALO, "run-c", "x"), WriterRow)  # heartbeat fresh
    clock.advance(minutes=11)
    taken = journal.try_writer(HALO, "run-c", "x")
    assert isinstance(taken, WriterLock) and taken.took_over_from is not None
    with pytest.raises(LockLostError, match="run-c"):
        second.heartbeat()


def test_a_writer_whose_run_lost_its_playbook_lock_holds_nothing(tmp_path: Path) -> None:
    """When a recovery takes a run's playbook lock over, the run's writer lock goes with it."""
    journal = Journal.open(tmp_path / "j.db")
    lock = journal.acquire_lock("close-spam", "run-a")
    assert isinstance(journal.try_writer(HALO, "run-a", "close-spam", lock.token), WriterLock)
    assert isinstance(journal.try_writer(HALO, "run-b", "other"), WriterRow)
    with closing(sqlite3.connect(journal.path)) as raw, raw:  # taken over: a new token
        raw.execute("UPDATE locks SET token = 'someone-else'")
    assert isinstance(journal.try_writer(HALO, "run-b", "other"), WriterLock)


def test_undone_tickets_and_later_changes(tmp_path: Path) -> None:
    """What undo reads: the tickets an undo put back (done rows, or a removal that found the
    action gone) and the done changes other runs made to the run's tickets afterwards."""
    journal = Journal.open(tmp_path / "j.db")
    for run_id, undo_of in (("r", None), ("u", "r"), ("later", None), ("before", None)):
        journal.start_run(RunStart(run_id, "pb", "h", "undo" if undo_of else "apply", "cli",
                                   undo_of=undo_of))  # fmt: skip
    [early] = journal.add_changes("before", [NewChange(1, "status_id", 2, 1)])
    rows = journal.add_changes(
        "r",
        [
            NewChange(1, "status_id", 1, 9),
            NewChange(2, "status_id", 1, 9),
            NewChange(3, "note", None, {}, kind=ChangeKind.ACTION),
        ],
    )
    undo_rows = journal.add_changes(
        "u", [NewChange(1, "status_id", 9, 1),
              NewChange(3, "", {}, None, kind=ChangeKind.ACTION_DELETE, action_id=4)],
    )  # fmt: skip
    later_rows = journal.add_changes("later", [NewChange(2, "status_id", 9, 4),
                                               NewChange(2, "priority_id", 1, 2)])  # fmt: skip
    journal.mark([early, *rows, undo_rows[0], *later_rows], "done")
    journal.mark([undo_rows[1]], "skipped", "action already gone")
    assert journal.undone_tickets("r") == {1: "u", 3: "u"}
    assert journal.undone_by(["r", "later"]) == {"r": ["u"]}
    many = [f"x{n}" for n in range(1500)] + ["r"]  # more than SQLite's parameters per query
    assert journal.undone_by(many) == {"r": ["u"]}
    later = journal.later_changes("r")
    assert [(c.ticket_id, c.field, c.run_id) for c in later] == [
        (2, "status_id", "later"),
        (2, "priority_id", "later"),
    ]
