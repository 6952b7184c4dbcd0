"""Pruning old runs keeps what undo, recovery and audit need (issue 13.11)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clock import FakeClock

from halo_automate.store.journal import Journal, NewChange, RunStart

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
PLAN = json.dumps({"changes": [{"ticket_id": i, "summary": f"spam {i}"} for i in range(200)]})


def applied(j: Journal, run_id: str, *, undo_of: str | None = None, finish: bool = True) -> None:
    """A run that wrote two tickets (done), with its plan."""
    mode = "undo" if undo_of else "apply"
    j.start_run(RunStart(run_id, "pb", "h", mode, "cli", undo_of=undo_of, plan_json=PLAN))
    ids = j.add_changes(run_id, [NewChange(1, "status_id", 1, 9), NewChange(2, "status_id", 1, 9)])
    j.mark(ids, "done")
    if finish:
        j.finish_run(run_id, "succeeded")


def test_prune_deletes_old_changes_and_plans_and_keeps_what_undo_and_audit_need(
    tmp_path: Path,
) -> None:
    clock = FakeClock(wall=T0)
    path = tmp_path / "journal.db"
    with Journal.open(path, clock=clock.now) as j:
        applied(j, "old")  # pruned
        applied(j, "old-undone-lately")  # kept: its undo is newer than the cutoff
        applied(j, "old-undone-early")  # pruned, with its undo
        applied(j, "undo-early", undo_of="old-undone-early")
        applied(j, "old-pending", finish=False)  # kept: a write of unknown outcome
        j.add_changes("old-pending", [NewChange(3, "status_id", 1, 9)])
        j.finish_run("old-pending", "interrupted")
        applied(j, "old-running", finish=False)  # kept: running
        clock.advance(days=100)
        applied(j, "undo-lately", undo_of="old-undone-lately")
        applied(j, "new")  # kept: newer than the cutoff
        before = {r.run_id: r for r in j.runs(limit=None)}

        plan = j.prune_preview(timedelta(days=90))
        assert plan.cutoff == T0 + timedelta(days=10)
        assert plan.run_ids == ("old", "old-undone-early", "undo-early")
        assert (plan.changes, plan.plans) == (6, 3)
        assert plan.bytes > 6 * 64  # rows and plans counted

        done = j.prune(plan)
        assert (done.runs, done.changes, done.plans) == (3, 6, 3)
        j.vacuum()

        for run_id in plan.run_ids:
            assert j.changes(run_id) == [] and j.plan_json(run_id) is None
        for run_id in ("old-undone-lately", "old-pending", "old-running", "undo-lately", "new"):
            assert j.changes(run_id) and j.plan_json(run_id) == PLAN, run_id
        assert [p.ticket_id for p in j.pending()] == [3]
        assert {r.run_id: r for r in j.runs(limit=None)} == before  # every run row, unchanged
        assert j.prune_preview(timedelta(days=90)).run_ids == ()  # nothing left to prune
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA freelist_count").fetchone() == (0,)  # vacuumed


def test_prune_checks_each_run_again_when_it_deletes(tmp_path: Path) -> None:
    """A run undone between the preview and the prune is kept (the undo is newer)."""
    clock = FakeClock(wall=T0)
    with Journal.open(tmp_path / "journal.db", clock=clock.now) as j:
        applied(j, "old")
        clock.advance(days=100)
        plan = j.prune_preview(timedelta(days=90))
        assert plan.run_ids == ("old",)
        applied(j, "undo", undo_of="old")
        assert j.prune(plan).runs == 0
        assert len(j.changes("old")) == 2


def test_a_run_with_an_unreadable_date_is_never_pruned(tmp_path: Path) -> None:
    clock = FakeClock(wall=T0)
    path = tmp_path / "journal.db"
    with Journal.open(path, clock=clock.now) as j:
        applied(j, "odd")
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE runs SET finished_at = '0000garbage' WHERE run_id = 'odd'")
    clock.advance(days=100)
    with Journal.open(path, clock=clock.now) as j:
        assert j.prune_preview(timedelta(days=90)).run_ids == ()
