"""The journal: SQLite store of runs, changes and playbook locks."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from clock import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_automate.errors import JournalError, LockedError
from halo_automate.store import journal as jmod
from halo_automate.store import locks
from halo_automate.store.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ChangeKind,
    ChangeMark,
    Counts,
    Journal,
    NewChange,
    RunStart,
    who,
)

T0 = datetime(2026, 11, 24, 5, 15, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=T0)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def j(db_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal.open(db_path, clock=clock.now) as journal:
        yield journal


def start(journal: Journal, run_id: str = "r1", playbook: str = "pb", **kw: Any) -> None:
    journal.start_run(
        RunStart(run_id=run_id, playbook=playbook, playbook_hash="h", mode="apply",
                 trigger="cli", **kw)
    )  # fmt: skip


def new(ticket_id: int = 1, field: str = "status_id", before: Any = 1, after: Any = 9) -> NewChange:
    return NewChange(ticket_id=ticket_id, field=field, before=before, after=after)


# ------------------------------------------------------------------ opening and schema


def test_open_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    """open creates missing folders and sets WAL, synchronous=FULL, foreign keys, busy timeout."""
    path = tmp_path / "a" / "b" / "j.db"
    with Journal.open(path, busy_timeout=2.5) as journal:
        assert journal.pragma("journal_mode") == "wal"
        assert journal.pragma("synchronous") == 2  # FULL
        assert journal.pragma("foreign_keys") == 1
        assert journal.pragma("busy_timeout") == 2500
        with pytest.raises(ValueError, match="not a pragma name"):
            journal.pragma("user_version = 0")
    assert path.is_file()


def test_schema_version_is_number_of_migrations(j: Journal, db_path: Path) -> None:
    """A new journal is at the version given by the migration list, stored in user_version."""
    assert j.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    raw = sqlite3.connect(db_path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def _fake_v2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE runs ADD COLUMN reviewer TEXT")
    conn.execute("UPDATE runs SET reviewer = 'migrated'")


def test_old_journal_is_migrated_by_next_list_entry(db_path: Path) -> None:
    """Opening a v1 journal with a two-entry migration list runs v2 and keeps the data."""
    with Journal.open(db_path, migrations=MIGRATIONS[:1]) as v1:
        assert v1.schema_version == 1
        start(v1)
    with Journal.open(db_path, migrations=(*MIGRATIONS[:1], _fake_v2)) as v2:
        assert v2.schema_version == 2
        assert v2.get_run("r1").playbook == "pb"
        with closing(sqlite3.connect(db_path)) as raw:
            row = raw.execute("SELECT reviewer FROM runs").fetchone()
        assert row[0] == "migrated"
    with Journal.open(db_path, migrations=(*MIGRATIONS[:1], _fake_v2)) as again:
        assert again.schema_version == 2  # nothing left to run: no duplicate-column error


def test_v1_change_rows_get_their_typed_kind(db_path: Path) -> None:
    """Migrating a v1 journal turns the field string protocol into kind columns: a field stays
    a field, "action:<kind>" becomes an action of that kind (its ids kept), and
    "action-delete:<id>" an action removal of that action."""
    with Journal.open(db_path, migrations=MIGRATIONS[:1]) as v1:
        start(v1)
    with closing(sqlite3.connect(db_path)) as raw, raw:  # v1 rows, as a v1 release wrote them
        for field, before, after, ids in (
            ("status_id", "1", "9", "[]"),
            ("action:note", "null", '{"note":"hi"}', "[77]"),
            ("action-delete:42", '{"note":"old"}', "null", "[]"),
            ("actionable", "1", "2", "[]"),  # a field whose name merely starts like one
        ):
            raw.execute(
                "INSERT INTO changes (run_id, ticket_id, field, before_json, after_json, state, "
                "action_ids, batch, updated_at) VALUES ('r1', 5, ?, ?, ?, 'done', ?, 1, ?)",
                (field, before, after, ids, "2026-11-24T05:15:00.000Z"),
            )
    with Journal.open(db_path) as v2:
        assert (
            v2.schema_version == SCHEMA_VERSION >= 6
        )  # v3 instance, v4 decisions, v5 plans, v6 names
        rows = v2.changes("r1")
    assert [(r.kind, r.field, r.action_id, r.action_ids) for r in rows] == [
        (ChangeKind.FIELD, "status_id", None, ()),
        (ChangeKind.ACTION, "note", None, (77,)),
        (ChangeKind.ACTION_DELETE, "", 42, ()),
        (ChangeKind.FIELD, "actionable", None, ()),
    ]
    assert [r.label for r in rows] == ["status_id", "action:note", "action-delete:42", "actionable"]
    assert rows[1].after == {"note": "hi"} and rows[2].before == {"note": "old"}


def test_failed_migration_rolls_back_completely(db_path: Path) -> None:
    """A migration that fails halfway leaves the journal at the old version, without its DDL."""

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE extra (x)")
        conn.execute("SELECT * FROM no_such_table")

    Journal.open(db_path, migrations=MIGRATIONS[:1]).close()
    with pytest.raises(JournalError, match=r"no such table: no_such_table while opening"):
        Journal.open(db_path, migrations=(*MIGRATIONS[:1], broken))
    with Journal.open(db_path, migrations=MIGRATIONS[:1]) as v1:
        assert v1.schema_version == 1
    with closing(sqlite3.connect(db_path)) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "extra" not in tables


def test_newer_schema_is_refused_naming_both_versions(db_path: Path) -> None:
    """A journal written by a newer release is refused, naming its version and ours."""
    Journal.open(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 6}")
    raw.close()
    with pytest.raises(JournalError) as caught:
        Journal.open(db_path)
    text = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 6} is newer" in text
    assert f"(version {SCHEMA_VERSION})" in text
    assert str(db_path) in text


def test_database_without_wal_support_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that cannot switch to WAL (here: in-memory) is a JournalError, not ignored."""
    with pytest.raises(JournalError, match="cannot use WAL mode"):
        Journal.open(":memory:")


def test_corrupt_file_is_a_one_line_journal_error(db_path: Path) -> None:
    """A file that is not SQLite gives a one-line JournalError naming the file."""
    db_path.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(JournalError) as caught:
        Journal.open(db_path)
    assert str(caught.value) == (
        f"journal {db_path}: file is not a database while opening the journal"
    )
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_folder_that_cannot_be_created_is_a_journal_error(tmp_path: Path) -> None:
    """A parent path that is a file (mkdir fails) is a JournalError, not an OSError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(JournalError, match="while opening the journal"):
        Journal.open(tmp_path / "file" / "j.db")


def test_two_threads_opening_a_new_journal_both_succeed(tmp_path: Path) -> None:
    """Concurrent first opens migrate once (BEGIN IMMEDIATE) and all see the schema: the
    switch to WAL, which SQLite refuses at once (no busy handler) while another connection
    opens the same new file, is retried, and no opener sees another's new file at 0 bytes
    (which is refused as a truncated journal). Thirty fresh files: the race is rare on one."""
    for n in range(30):
        db_path = tmp_path / f"journal-{n}.db"
        results: list[object] = []

        def opener(path: Path = db_path, out: list[object] = results) -> None:
            try:
                with Journal.open(path) as journal:
                    out.append(journal.schema_version)
            except Exception as e:  # pragma: no cover - reported by the assertion
                out.append(e)

        threads = [threading.Thread(target=opener) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [SCHEMA_VERSION] * 4, n


def test_closed_journal_raises_journal_error(db_path: Path) -> None:
    """Using a closed journal is a JournalError, not a raw sqlite3 error."""
    with Journal.open(db_path) as journal:
        pass
    with pytest.raises(JournalError, match=r"on a closed database while listing runs$"):
        journal.runs()


# ------------------------------------------------------------------ runs


def test_run_round_trip(j: Journal, clock: FakeClock) -> None:
    """start_run stores every field; finish_run sets status, counts, message and finished_at."""
    counts = Counts(scanned=10, matched=4, planned=3)
    j.start_run(
        RunStart(run_id="r1", playbook="pb", playbook_hash="abc", mode="undo", trigger="schedule",
                 started_by="me@box pid 1", undo_of="r0", plan_json='{"x": 1}', counts=counts)
    )  # fmt: skip
    run = j.get_run("r1")
    assert (run.playbook, run.playbook_hash, run.mode, run.trigger) == ("pb", "abc", "undo",
                                                                         "schedule")  # fmt: skip
    assert (run.undo_of, run.started_by, j.plan_json("r1")) == ("r0", "me@box pid 1", '{"x": 1}')
    assert (run.status, run.started_at, run.finished_at, run.message) == ("running", T0, None, None)
    assert run.counts == counts
    clock.advance(minutes=2)
    final = Counts(scanned=10, matched=4, planned=3, done=2, failed=1, requests=5)
    j.finish_run("r1", "partial", counts=final, message="1 change failed")
    done = j.get_run("r1")
    assert (done.status, done.counts, done.message) == ("partial", final, "1 change failed")
    assert done.finished_at == T0 + timedelta(minutes=2)
    assert done.started_at == T0


def test_finish_without_counts_keeps_them(j: Journal) -> None:
    """finish_run without counts leaves the counters as they were."""
    start(j, counts=Counts(scanned=7))
    j.finish_run("r1", "refused")
    run = j.get_run("r1")
    assert (run.status, run.counts.scanned) == ("refused", 7)


def test_unknown_runs(j: Journal) -> None:
    """run() returns None for an unknown id; get_run/finish/add_changes raise."""
    assert j.run("nope") is None
    for call in (
        lambda: j.get_run("nope"),
        lambda: j.finish_run("nope", "failed"),
        lambda: j.add_changes("nope", [new()]),
    ):
        with pytest.raises(JournalError, match="no run 'nope'"):
            call()


def test_duplicate_run_id_is_refused(j: Journal) -> None:
    """Starting a run id twice is a JournalError and leaves the first run untouched."""
    start(j, playbook="first")
    with pytest.raises(JournalError, match="run 'r1' already exists"):
        start(j, playbook="second")
    assert j.get_run("r1").playbook == "first"


def test_finish_with_running_or_unknown_status_is_a_bug(j: Journal) -> None:
    """finish_run refuses 'running' and statuses that do not exist."""
    start(j)
    for status in ("running", "exploded"):
        with pytest.raises(ValueError, match="unknown final run status"):
            j.finish_run("r1", status)  # type: ignore[arg-type]


def test_runs_newest_first_with_filters(j: Journal, clock: FakeClock) -> None:
    """runs() lists newest first, honours limit (None = all), playbook and undo_of."""
    for i, pb in enumerate(["a", "b", "a", "a"]):
        start(j, run_id=f"r{i}", playbook=pb, undo_of="r0" if i == 3 else None)
        if i < 2:
            clock.advance(seconds=1)  # r2 and r3 share a start time: insertion order decides
    assert [r.run_id for r in j.runs()] == ["r3", "r2", "r1", "r0"]
    assert [r.run_id for r in j.runs(limit=2)] == ["r3", "r2"]
    assert [r.run_id for r in j.runs(limit=None, playbook="a")] == ["r3", "r2", "r0"]
    assert [r.run_id for r in j.runs(undo_of="r0")] == ["r3"]
    assert j.runs(playbook="zzz") == []


# ------------------------------------------------------------------ changes

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_json_values_round_trip_exactly(j: Journal) -> None:
    """before/after come back with the same types, values and key order as stored."""
    start(j)

    @settings(max_examples=60, deadline=None)
    @given(before=json_values, after=json_values)
    def check(before: Any, after: Any) -> None:
        (cid,) = j.add_changes("r1", [new(before=before, after=after)])
        row = next(c for c in j.changes("r1") if c.id == cid)
        assert same(row.before, before)
        assert same(row.after, after)

    check()


def test_add_changes_records_pending_rows(j: Journal) -> None:
    """add_changes returns ids in order and stores pending rows with batch and timestamp."""
    start(j)
    note = NewChange(2, "note", None, {"note": "hi"}, 3, ChangeKind.ACTION)
    ids = j.add_changes("r1", [new(1), note])
    rows = j.changes("r1")
    assert [r.id for r in rows] == ids
    assert [(r.ticket_id, r.kind, r.field, r.state, r.batch) for r in rows] == [
        (1, ChangeKind.FIELD, "status_id", "pending", 0),
        (2, ChangeKind.ACTION, "note", "pending", 3),
    ]
    assert rows[1].before is None
    assert rows[1].after == {"note": "hi"}
    assert all(r.action_ids == () and r.message is None and r.updated_at == T0 for r in rows)
    assert j.add_changes("r1", []) == []


def test_add_changes_is_all_or_nothing(j: Journal) -> None:
    """A batch that fails on its third row leaves no row of the batch behind."""
    start(j)
    with pytest.raises(TypeError):
        j.add_changes("r1", [new(1), new(2), new(3, after=object()), new(4)])
    assert j.changes("r1") == []
    with pytest.raises(ValueError, match="Out of range float"):
        j.add_changes("r1", [new(1), new(2, after=float("nan"))])
    assert j.changes("r1") == []


def test_mark_outcomes(j: Journal, clock: FakeClock) -> None:
    """mark moves pending rows to done/failed/skipped with message, action ids and time."""
    start(j)
    a, b, c, d = j.add_changes("r1", [new(1), new(2), new(3), new(4, "action:note")])
    clock.advance(seconds=5)
    j.mark([a, b], "done")
    j.mark([c], "failed", message="Halo: An Outcome must be entered")
    j.mark([d], "done", action_ids=[17])
    rows = {r.id: r for r in j.changes("r1")}
    assert [rows[i].state for i in (a, b, c, d)] == ["done", "done", "failed", "done"]
    assert rows[c].message == "Halo: An Outcome must be entered"
    assert rows[d].action_ids == (17,)
    assert rows[a].updated_at == T0 + timedelta(seconds=5)
    j.mark([d], "skipped", message="already closed")
    assert j.changes("r1")[3].action_ids == (17,)  # None keeps recorded ids
    assert j.changes("r1")[3].message == "already closed"


def test_mark_many_sets_each_rows_own_outcome(j: Journal) -> None:
    """mark_many gives each change its own state, message and action ids."""
    start(j)
    a, b = j.add_changes("r1", [new(1, "action:note"), new(2, "action:note")])
    j.mark_many([ChangeMark(a, "done", action_ids=[5, 6]), ChangeMark(b, "skipped", "gone")])
    rows = j.changes("r1")
    assert [(r.state, r.message, r.action_ids) for r in rows] == [
        ("done", None, (5, 6)),
        ("skipped", "gone", ()),
    ]


def test_mark_unknown_id_changes_nothing(j: Journal) -> None:
    """A mark naming a missing change id raises and rolls back the other marks of the call."""
    start(j)
    (a,) = j.add_changes("r1", [new()])
    with pytest.raises(JournalError, match=r"no change with id \[999\]"):
        j.mark([a, 999], "done")
    assert j.changes("r1")[0].state == "pending"


def test_mark_unknown_state_is_a_bug(j: Journal) -> None:
    """mark refuses a state outside pending/done/failed/skipped before touching the db."""
    start(j)
    (a,) = j.add_changes("r1", [new()])
    with pytest.raises(ValueError, match="unknown change state 'sent'"):
        j.mark([a], "sent")  # type: ignore[arg-type]


def test_pending(j: Journal) -> None:
    """pending() filters by state (and run)."""
    start(j, "r1")
    start(j, "r2")
    a, _ = j.add_changes("r1", [new(1), new(2)])
    (c,) = j.add_changes("r2", [new(1, "team_id")])
    j.mark([a], "done")
    assert [r.id for r in j.pending()] == [a + 1, c]
    assert [r.id for r in j.pending("r2")] == [c]


def test_threads_share_one_journal(j: Journal) -> None:
    """Many threads writing through one Journal get distinct ids and lose no row."""
    start(j)
    got: list[int] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(20):
                ids = j.add_changes("r1", [new(n, f"f{k}") for k in range(3)])
                j.mark(ids, "done")
                got.extend(ids)
        except BaseException as e:  # pragma: no cover - reported by the assertion
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(got)) == 240
    assert len(j.changes("r1")) == 240
    assert j.pending() == []


def test_two_connections_write_concurrently(db_path: Path) -> None:
    """Two Journals on one file (as CLI and daemon would) interleave writes without errors."""
    with Journal.open(db_path) as one, Journal.open(db_path) as two:
        start(one, "r1")
        start(two, "r2")

        def writer(journal: Journal, run_id: str) -> None:
            for _ in range(30):
                journal.add_changes(run_id, [new()])

        threads = [
            threading.Thread(target=writer, args=(one, "r1")),
            threading.Thread(target=writer, args=(two, "r2")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(one.changes("r2")) == len(two.changes("r1")) == 30


# ------------------------------------------------------------------ failures of the file


def test_disk_full_is_a_clear_journal_error(db_path: Path, clock: FakeClock) -> None:
    """A full disk (max_page_count) is a one-line JournalError and the batch is not half-kept."""
    opened: list[sqlite3.Connection] = []

    def keep(path: Path, timeout: float) -> sqlite3.Connection:
        opened.append(jmod.connect(path, timeout))
        return opened[-1]

    with Journal.open(db_path, clock=clock.now, connect=keep) as j:
        conn = opened[0]
        start(j)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        rows = [new(i, before="x" * 500) for i in range(200)]
        with pytest.raises(JournalError) as caught:
            j.add_changes("r1", rows)
        assert str(caught.value) == (
            f"journal {j.path}: database or disk is full while recording 200 pending changes "
            "of run r1; stopping before the next write"
        )
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert j.changes("r1") == []  # reads still work, and nothing of the batch was kept
        conn.execute(f"PRAGMA max_page_count = {pages * 1000}")
        assert len(j.add_changes("r1", rows)) == 200  # usable again once space is back


def test_read_only_database_is_a_clear_journal_error(db_path: Path) -> None:
    """A journal SQLite can only read gives a JournalError at the first write, naming the file."""
    Journal.open(db_path).close()

    def read_only(path: Path, timeout: float) -> sqlite3.Connection:
        uri = f"file:{path}?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)

    with Journal.open(db_path, connect=read_only) as journal:  # works as root, unlike chmod
        assert journal.runs() == []
        with pytest.raises(JournalError) as caught:
            start(journal)
    assert str(caught.value) == (
        f"journal {db_path}: attempt to write a readonly database while starting run r1; "
        "stopping before the next write"
    )


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root ignores file modes; the connect= seam test above covers read-only for root",
)
def test_read_only_file_and_folder_is_a_journal_error(tmp_path: Path) -> None:
    """A journal file and folder without write permission fail with a JournalError."""
    folder = tmp_path / "ro"
    path = folder / "j.db"
    Journal.open(path).close()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        with pytest.raises(JournalError, match=re.escape(str(path))), Journal.open(path) as ro:
            start(ro)
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


# ------------------------------------------------------------------ locks

CHILD = """
import os, sys
from halo_automate.store.journal import Journal, RunStart
path, run_id, how = sys.argv[1:4]
j = Journal.open(path)
j.start_run(RunStart(run_id=run_id, playbook="pb", playbook_hash="h", mode="apply",
                     trigger="cli"))
try:
    lock = j.acquire_lock("pb", run_id)
except Exception as e:
    print("locked", type(e).__name__, flush=True)
    sys.exit(0)
print("won", os.getpid(), flush=True)
if how == "die":
    os._exit(0)
sys.stdin.readline()
lock.release()
"""


def child(db_path: Path, run_id: str, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), run_id, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_lock_is_exclusive_and_released_by_context_manager(j: Journal) -> None:
    """A second acquirer gets LockedError naming run, pid, host and time; exit releases."""
    with j.acquire_lock("pb", "r1") as lock:
        assert lock.took_over_from is None
        assert lock.takeover_reason is None
        with pytest.raises(LockedError) as caught:
            j.acquire_lock("pb", "r2")
        text = str(caught.value)
        for part in ("run r1", f"pid {os.getpid()}", locks.this_host(), "2026-11-24T05:15:00"):
            assert part in text
        other = j.acquire_lock("other-playbook", "r3")  # locks are per playbook
        assert other.release() is True
    assert j.lock("pb") is None
    assert lock.release() is False
    assert j.acquire_lock("pb", "r2").run_id == "r2"


def test_second_process_gets_locked_error(db_path: Path) -> None:
    """A lock held by a live process blocks another process until released."""
    Journal.open(db_path).close()
    holder = child(db_path, "r-child", "hold")
    assert holder.stdout is not None
    assert holder.stdin is not None
    word, pid = holder.stdout.readline().split()
    assert word == "won"
    with Journal.open(db_path) as journal:
        with pytest.raises(LockedError, match=f"run r-child \\(pid {pid} on "):
            journal.acquire_lock("pb", "r-me")
        holder.stdin.write("\n")
        holder.stdin.close()
        assert holder.wait(timeout=10) == 0
        lock = journal.acquire_lock("pb", "r-me")
        assert lock.took_over_from is None


def test_racing_processes_exactly_one_wins(db_path: Path) -> None:
    """Processes acquiring at once: exactly one wins, the rest get LockedError."""
    Journal.open(db_path).close()
    procs = [child(db_path, f"r{i}", "hold") for i in range(4)]
    words = [p.stdout.readline().split()[0] for p in procs if p.stdout is not None]
    for p in procs:
        assert p.stdin is not None
        p.stdin.close()
        assert p.wait(timeout=10) == 0
    assert sorted(words) == ["locked", "locked", "locked", "won"]


def test_lock_of_dead_process_is_taken_over(db_path: Path) -> None:
    """A lock whose owner pid on this host has exited is taken over and reported."""
    Journal.open(db_path).close()
    dead = child(db_path, "r-dead", "die")
    assert dead.stdout is not None
    word, pid = dead.stdout.readline().split()
    assert word == "won"
    assert dead.wait(timeout=10) == 0
    with Journal.open(db_path) as journal:
        assert [r.run_id for r in journal.interrupted_runs()] == ["r-dead"]
        lock = journal.acquire_lock("pb", "r-me")
        assert lock.took_over_from is not None
        assert (lock.took_over_from.run_id, lock.took_over_from.owner_pid) == ("r-dead", int(pid))
        assert lock.takeover_reason == f"pid {pid} on {locks.this_host()} is no longer running"
        held = journal.lock("pb")
        assert held is not None
        assert held.run_id == "r-me"


def test_taking_over_a_stale_lock_is_logged(j: Journal) -> None:
    """Taking over a stale lock logs lock_taken_over naming the old run and why it was stale."""
    j.acquire_lock("pb", "r-old")
    locks.HELD.discard(j.lock_key, "pb", "r-old")  # as if written by an earlier process
    with structlog.testing.capture_logs() as logs:
        j.acquire_lock("pb", "r-new")
    [event] = [e for e in logs if e["event"] == "lock_taken_over"]
    assert (event["run_id"], event["previous_run_id"]) == ("r-new", "r-old")
    assert "is this process" in event["reason"]


def _as_other_host(monkeypatch: pytest.MonkeyPatch, journal: Journal, run_id: str) -> None:
    monkeypatch.setattr(jmod, "this_host", lambda: "elsewhere")
    journal.acquire_lock("pb", run_id)
    monkeypatch.undo()


def test_other_host_lock_is_stale_only_after_heartbeat_timeout(
    j: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another host's lock blocks until its heartbeat is older than stale_after."""
    _as_other_host(monkeypatch, j, "r-far")
    clock.advance(minutes=10)
    with pytest.raises(LockedError, match=r"pid \d+ on elsewhere"):
        j.acquire_lock("pb", "r-me")
    clock.advance(seconds=1)
    lock = j.acquire_lock("pb", "r-me")
    assert lock.took_over_from is not None
    assert lock.took_over_from.owner_host == "elsewhere"
    assert lock.takeover_reason is not None
    assert "sent no heartbeat since 2026-11-24T05:15:00.000Z" in lock.takeover_reason


def test_heartbeat_keeps_other_host_lock_alive(
    j: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A heartbeat resets the staleness clock of a lock."""
    _as_other_host(monkeypatch, j, "r-far")
    clock.advance(minutes=9)
    j.heartbeat("pb", "r-far")
    clock.advance(minutes=9)
    with pytest.raises(LockedError):
        j.acquire_lock("pb", "r-me")
    held = j.lock("pb")
    assert held is not None
    assert held.heartbeat_at == T0 + timedelta(minutes=9)


def test_lock_row_with_this_pid_not_held_here_is_stale(j: Journal) -> None:
    """A lock naming this pid that this process never took (pid reuse) is taken over."""
    lock = j.acquire_lock("pb", "r-old")
    locks.HELD.discard(j.lock_key, "pb", "r-old")  # as if written by an earlier process
    taken = j.acquire_lock("pb", "r-new")
    assert taken.took_over_from is not None
    assert taken.took_over_from.run_id == "r-old"
    assert taken.takeover_reason is not None
    assert "is this process" in taken.takeover_reason
    with pytest.raises(
        LockedError, match=r"lost the lock of playbook 'pb'; it is now held by run r-new"
    ):
        lock.heartbeat()


def test_same_process_other_journal_instance_is_blocked(j: Journal, db_path: Path) -> None:
    """A lock held by this process through another Journal instance still blocks."""
    j.acquire_lock("pb", "r1")
    with Journal.open(db_path) as second, pytest.raises(LockedError):
        second.acquire_lock("pb", "r2")


def test_heartbeat_after_lock_released_raises(j: Journal) -> None:
    """heartbeat raises LockedError once the lock is gone; a second release is a no-op."""
    lock = j.acquire_lock("pb", "r1")
    lock.heartbeat()
    assert j.release_lock("pb", "r1") is True
    assert j.release_lock("pb", "r1") is False
    with pytest.raises(LockedError, match="now held by nobody"):
        lock.heartbeat()


def test_interrupted_runs(j: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted: running without a live lock, or finished with pending changes."""
    start(j, "live")
    j.acquire_lock("pb", "live")
    j.add_changes("live", [new()])  # pending, but its run is alive
    start(j, "orphan")  # running, no lock
    start(j, "left", playbook="other")
    j.add_changes("left", [new()])
    j.finish_run("left", "failed")  # finished with an unknown outcome
    start(j, "clean")
    j.finish_run("clean", "succeeded")
    assert [r.run_id for r in j.interrupted_runs()] == ["orphan", "left"]
    assert [r.run_id for r in j.interrupted_runs(playbook="other")] == ["left"]
    monkeypatch.setattr(locks, "pid_alive", lambda pid: False)
    locks.HELD.discard(j.lock_key, "pb", "live")  # its owner is gone now
    assert [r.run_id for r in j.interrupted_runs()] == ["live", "orphan", "left"]


# ------------------------------------------------------------------ helpers


def test_who_names_user_host_and_pid() -> None:
    """who() is 'user@host pid N' for started_by, and RunStart uses it by default."""
    assert re.fullmatch(rf".+@{re.escape(locks.this_host())} pid {os.getpid()}", who())
    assert RunStart("r", "pb", "h", "apply", "cli").started_by == who()


def test_who_without_user_name_falls_back_to_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a container without a passwd entry, who() uses the numeric uid."""

    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found: 12345")

    monkeypatch.setattr("getpass.getuser", no_user)
    assert who().startswith(f"uid{os.getuid()}@")


def test_pid_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pid is alive if it exists even under another user; nonsense pids are dead."""
    assert locks.pid_alive(os.getpid()) is True
    assert locks.pid_alive(0) is False

    def denied(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("os.kill", denied)
    assert locks.pid_alive(4242) is True
