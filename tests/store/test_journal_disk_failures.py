"""The journal's disk fills up or turns read-only mid-run: the run stops before its next
request with a one-line JournalError saying why, and once the disk is fixed a rerun finishes
the plan (planned state, no duplicate, every row terminal)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_tools import (
    HookTransport,
    SandboxFactory,
    SecretWatch,
    apply_on_twin,
    duplicate_markers,
    flip_playbook,
    is_write,
    journal_problems,
    make_twins,
    plan_on,
    record_figures,
    runner_for,
    state_diff,
)

from halo_automate.errors import JournalError

BATCH = 6
WRITES = ("INSERT", "UPDATE", "DELETE")
"""Statements that a full disk fails: ``max_page_count`` alone lets writes go on into the
room left in the file's pages, so where a run stopped would move with the page layout."""


class JournalDisk:
    """The disk under a journal: opens its connection (``Journal.open(connect=disk.connect)``),
    can then make every later write fail as a full or a read-only disk would, and remembers
    how many requests the sandbox had seen when a journal statement first failed."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.conn: sqlite3.Connection | None = None
        self.requests_at_failure: int | None = None
        self.full = False

    def connect(self, path: Path, timeout: float) -> sqlite3.Connection:
        disk = self

        class Watched(sqlite3.Connection):
            def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
                try:
                    if disk.full and sql.lstrip().upper().startswith(WRITES):
                        raise sqlite3.OperationalError("database or disk is full")
                    return super().execute(sql, parameters)
                except sqlite3.Error:
                    if disk.requests_at_failure is None:
                        disk.requests_at_failure = disk.sandbox.counters["requests"]
                    raise

        self.conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False, factory=Watched
        )
        return self.conn

    def fail(self, failure: str) -> None:
        assert self.conn is not None, "the journal was not opened through this disk"
        if failure == "disk-full":
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            self.conn.execute(f"PRAGMA max_page_count = {pages}")
            self.full = True  # the next write fails, whatever room is left in the file's pages
        else:
            self.conn.execute("PRAGMA query_only = 1")


@pytest.mark.parametrize("failure", ["disk-full", "read-only"])
@pytest.mark.parametrize("at_write", [1, 4])
def test_journal_failure_stops_the_run_before_the_next_request(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    watch: SecretWatch,
    request: pytest.FixtureRequest,
    failure: str,
    at_write: int,
) -> None:
    """The disk fails after the ``at_write``-th write landed: JournalError in one line naming
    the journal and the reason, no request after it, and a rerun completes the plan."""
    main, twin = make_twins(sandbox_factory, tickets=120)
    watch.watch(main)
    plan = plan_on(main, flip_playbook("High"), tmp_path / "plan.db")
    apply_on_twin(twin, plan, tmp_path / "twin.db", batch_size=BATCH)
    journal_path = tmp_path / "journal.db"
    writes = 0
    disk = JournalDisk(main)

    def after(n: int, req: httpx.Request, resp: httpx.Response) -> None:
        nonlocal writes
        writes += is_write(req)
        if is_write(req) and writes == at_write:
            disk.fail(failure)

    transport = HookTransport(after=after)
    with runner_for(
        main, journal_path, journal_connect=disk.connect, transport=transport, batch_size=BATCH
    ) as runner:
        outcome = runner.apply_saved(plan, confirm=None)
    assert isinstance(outcome.error, JournalError) and outcome.status == "failed"
    message = str(outcome.error)
    watch.add("error", message)
    assert "\n" not in message and str(journal_path) in message
    reason = "database or disk is full" if failure == "disk-full" else "readonly database"
    assert reason in message and "unlocking" not in message  # the first failure, not a later one
    assert disk.requests_at_failure is not None
    assert main.counters["requests"] == disk.requests_at_failure  # nothing sent after it
    assert state_diff(main, twin) != []  # the run really stopped part way
    with runner_for(main, journal_path, batch_size=BATCH) as runner:  # the disk is fixed
        outcomes = runner.recover()
    assert [o.status for o in outcomes] == ["succeeded"]
    assert state_diff(main, twin) == []
    assert duplicate_markers(main) == []
    assert journal_problems(journal_path) == []
    watch.add_journal(journal_path)
    record_figures(request.config, request.node.nodeid,
                   {f"faults_journal_{failure}": 1, "runs_completed": 1, "changes_lost": 0,
                    "duplicate_actions": 0, "changes_planned": len(plan.changes)})  # fmt: skip


def test_journal_unwritable_from_the_start_sends_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path, watch: SecretWatch
) -> None:
    """A journal that cannot record the run start stops the apply before any request."""
    main, _ = make_twins(sandbox_factory, tickets=60)
    watch.watch(main)
    plan = plan_on(main, flip_playbook("High"), tmp_path / "plan.db")
    journal_path = tmp_path / "journal.db"
    disk = JournalDisk(main)
    with runner_for(main, journal_path, journal_connect=disk.connect) as runner:
        disk.fail("read-only")
        before = main.counters["requests"]
        outcome = runner.apply_saved(plan, confirm=None)
    assert isinstance(outcome.error, JournalError) and "readonly database" in str(outcome.error)
    assert "\n" not in str(outcome.error)
    assert main.counters["requests"] == before
