"""Crash recovery: a real process SIGKILLed mid-apply, then recovered over the sandbox Halo."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apply_support import (
    Rig,
    SandboxFactory,
    actions,
    differences,
    duplicate_markers,
    gate,
    marked,
    planned_state,
    playbook,
    quiet_logs,
    rig,
    tickets,
)

from halo_automate.core.plan import Plan, plan_to_json
from halo_automate.engine.undo import build_undo_plan
from halo_automate.engine.writes import run_marker
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import RunStart

quiet_logs()

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
CHILD = Path(__file__).resolve().parents[1] / "apply_support.py"
BATCH = 5


def start_child(r: Rig, plan: Plan, tmp_path: Path) -> subprocess.Popen[bytes]:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan_to_json(plan), encoding="utf-8")
    args = [r.sb.base_url, r.sb.client_id, r.sb.client_secret, str(r.journal.path)]
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args, str(plan_file), str(BATCH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_at(r: Rig, plan: Plan, tmp_path: Path, resource: str, nth: int, landed: bool) -> None:
    """Run the plan in a child process and SIGKILL it while the nth POST is in flight."""
    g = gate(r.sb, resource, nth, landed=landed)
    child = start_child(r, plan, tmp_path)
    try:
        if not g.reached.wait(timeout=30):
            _, err = child.communicate(timeout=5)
            pytest.fail(f"child never reached the kill point: {err.decode()[-2000:]}")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        g.release.set()
        if child.poll() is None:
            child.kill()
            child.wait()
        child.communicate()


def assert_planned_end(r: Rig, plan: Plan, before: dict[int, dict[str, Any]]) -> None:
    assert differences(tickets(r.sb), planned_state(before, plan)) == []
    posted = marked(r.sb, plan.run_id)
    for change in plan.changes:
        notes = [a["note"] for a in posted.get(change.ticket_id, [])]
        expected = [run_marker(plan.run_id, i) for i in range(len(change.actions))]
        assert sorted(n[n.rfind("[") :] for n in notes) == sorted(expected), change.ticket_id
    assert duplicate_markers(r.sb) == []
    rows = r.journal.changes(plan.run_id)
    assert {row.state for row in rows} == {"done"}
    run = r.journal.get_run(plan.run_id)
    assert run.status == "succeeded" and run.counts.done == len(plan.changes)


@pytest.mark.parametrize(
    ("name", "resource", "nth", "landed"),
    [
        pytest.param("quarantine-spam", "Tickets", 1, True, id="after-update-batch-1"),
        pytest.param("quarantine-spam", "Actions", 1, False, id="between-updates-and-actions"),
        pytest.param("quarantine-spam", "Actions", 3, True, id="mid-actions-landed"),
        pytest.param("close-spam", "Actions", 2, False, id="mid-closes-not-landed"),
        pytest.param("note-and-close", "Actions", 2, True, id="note-and-close-mid-actions"),
    ],
)
def test_killed_apply_recovers_to_the_planned_state(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    name: str,
    resource: str,
    nth: int,
    landed: bool,
) -> None:
    """A process SIGKILLed mid-apply leaves pending rows; recovery reads the tickets back and
    ends in exactly the planned state, every row terminal, no note posted twice."""
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=BATCH)
    plan = r.runner.plan(playbook(name))
    before, before_actions = tickets(r.sb), actions(r.sb)
    kill_at(r, plan, tmp_path, resource, nth, landed)
    assert r.journal.get_run(plan.run_id).status == "running"
    pending = r.journal.pending(plan.run_id)
    assert pending and all(row.batch == pending[0].batch for row in pending)
    update_batches = math.ceil(sum(1 for c in plan.changes if c.ticket_update) / BATCH)
    earlier = update_batches if resource == "Actions" else 0
    assert r.sb.counters["writes_applied"] == earlier + nth - 1 + landed
    outcomes = r.runner.recover()
    assert [(o.run_id, o.status) for o in outcomes] == [(plan.run_id, "succeeded")]
    assert outcomes[0].changed == len(plan.changes)
    assert_planned_end(r, plan, before)
    assert r.runner.recover() == []
    again = r.runner.run(playbook(name), trigger="cli", confirm=None)
    assert (again.status, again.changed) == ("succeeded", 0)
    # every action id was learnt (also those found by marker), so undo removes them all
    undo_plan = build_undo_plan(r.journal, plan.run_id, now=NOW, delete_notes=True)
    undone = r.runner.apply_saved(undo_plan, confirm=None)
    assert undone.status == "succeeded"
    assert differences(tickets(r.sb), before) == []
    assert actions(r.sb) == before_actions


def test_run_recovers_interrupted_runs_of_its_playbook_first(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Runner.run finishes an interrupted run of the same playbook before planning anew, so the
    new run finds nothing left to do."""
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=BATCH)
    plan = r.runner.plan(playbook("close-spam"))
    before = tickets(r.sb)
    kill_at(r, plan, tmp_path, "Actions", 2, True)
    writes = r.sb.counters["writes_applied"]
    outcome = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert outcome.changed == 0 and outcome.run_id != plan.run_id
    assert r.sb.counters["writes_applied"] == writes + 5  # 7 batches, 2 landed before the kill
    assert_planned_end(r, plan, before)


# ---------------------------------------------------------------------- in-process crashes


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing catches it."""


def crash_after(client: HaloClient, method: str, nth: int, *, landed: bool) -> None:
    """Make the client's nth call to ``method`` die before (or after) the request is sent."""
    original = getattr(client, method)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] != nth:
            return original(*args, **kwargs)
        if landed:
            original(*args, **kwargs)
        raise Crash

    setattr(client, method, wrapper)


def crashed_run(r: Rig, name: str, method: str, nth: int, landed: bool) -> Plan:
    plan = r.runner.plan(playbook(name))
    crash_after(r.client, method, nth, landed=landed)
    with pytest.raises(Crash):
        r.runner.apply_saved(plan, confirm=None)
    del r.client.__dict__[method]  # the restarted process has a healthy client
    return plan


def test_field_changed_by_someone_before_recovery_is_skipped(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A pending update whose field someone else changed before recovery is skipped (never
    overwritten) and reported; the rest of the run completes."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = crashed_run(r, "quarantine-spam", "write_tickets", 2, landed=False)
    pending = r.journal.pending(plan.run_id)
    victim = pending[0].ticket_id
    r.sb.edit_ticket(victim, status_id=2)
    before = tickets(r.sb)
    [outcome] = r.runner.recover()
    assert outcome.status == "partial"
    assert [tid for tid, _ in outcome.skips] == [victim]
    assert "changed by someone else: now 2" in outcome.skips[0][1]
    assert r.sb.state.tickets[victim]["status_id"] == 2
    assert victim not in marked(r.sb, plan.run_id)
    expected = planned_state(before, plan)
    expected[victim] = before[victim]
    assert differences(tickets(r.sb), expected) == []
    assert r.journal.get_run(plan.run_id).counts.skipped == 1


def test_close_whose_status_moved_before_recovery_is_skipped(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A pending close that never landed is not re-posted when the ticket's status was changed
    by someone else meanwhile; the rest of the batch is re-posted once."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = crashed_run(r, "close-spam", "write_actions", 1, landed=False)
    pending = {row.ticket_id for row in r.journal.pending(plan.run_id)}
    victim = min(pending)
    r.sb.edit_ticket(victim, status_id=3)
    [outcome] = r.runner.recover()
    assert outcome.status == "partial" and [t for t, _ in outcome.skips] == [victim]
    assert victim not in marked(r.sb, plan.run_id)
    assert set(marked(r.sb, plan.run_id)) == {c.ticket_id for c in plan.changes} - {victim}
    assert duplicate_markers(r.sb) == []


def test_recovery_where_the_ticket_vanished(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Pending rows of a ticket deleted before recovery are skipped, not re-sent."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = crashed_run(r, "close-spam", "write_actions", 1, landed=False)
    victim = r.journal.pending(plan.run_id)[0].ticket_id
    r.sb.edit_ticket(victim, deleted=True)
    [outcome] = r.runner.recover()
    assert outcome.status == "partial"
    assert dict(outcome.skips)[victim] == "ticket no longer exists"


def test_recovery_of_a_run_killed_before_any_write(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run that died during its stale check (no journal rows yet) never journaled its
    decision to write (issue 13: fail closed): recovery closes it interrupted without a single
    request, and the next run plans afresh and writes the planned state."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    plan = crashed_run(r, "close-spam", "tickets_by_ids", 1, landed=False)
    assert r.journal.changes(plan.run_id) == []
    r.sb.reset_counters()
    [outcome] = r.runner.recover()
    assert outcome.status == "interrupted" and r.sb.counters["requests"] == 0
    assert tickets(r.sb) == before
    again = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert again.status == "succeeded" and again.changed == len(plan.changes)
    assert differences(tickets(r.sb), planned_state(before, plan)) == []
    assert duplicate_markers(r.sb) == []


def test_recovery_that_meets_a_halo_outage_is_failed_and_retried_later(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """If Halo is down during recovery, the run is journaled failed with the reason, keeps its
    pending rows, and a later recovery finishes it."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    plan = crashed_run(r, "close-spam", "write_actions", 2, landed=True)
    r.sb.set_faults(fail_rate=1.0)
    [outcome] = r.runner.recover()
    assert outcome.status == "failed" and "recovery stopped" in (outcome.message or "")
    assert r.journal.get_run(plan.run_id).status == "failed"
    assert r.journal.pending(plan.run_id)
    r.sb.set_faults(fail_rate=0.0)
    [outcome] = r.runner.recover()
    assert outcome.status == "succeeded"
    assert_planned_end(r, plan, before)


def test_run_without_a_plan_document_cannot_be_reconciled(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """An interrupted run with no plan recorded is closed as failed, its pending rows failed."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    r.journal.start_run(RunStart("r1", "close-spam", "h", "apply", "cli"))
    r.journal.add_changes("r1", [_row(7)])
    [outcome] = r.runner.recover()
    assert (outcome.status, outcome.message) == ("failed", "no plan")
    assert [row.state for row in r.journal.changes("r1")] == ["failed"]
    assert r.journal.get_run("r1").status == "failed"


def _row(ticket_id: int) -> Any:
    from halo_automate.store.journal import NewChange

    return NewChange(ticket_id, "status_id", 1, 9)


def test_pending_row_of_a_ticket_not_in_the_plan_is_skipped(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A pending row that the run's plan does not explain is skipped, never sent."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    plan = dataclasses.replace(plan, changes=plan.changes[:2])
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    r.journal.add_changes(plan.run_id, [_row(1)])
    [outcome] = r.runner.recover()
    rows = {row.ticket_id: row for row in r.journal.changes(plan.run_id)}
    assert (rows[1].state, rows[1].message) == ("skipped", "not in the run's plan")
    assert outcome.changed == 2
    assert r.sb.counters["writes_applied"] == 1


def test_stop_during_recovery_interrupts_it(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A stop requested while recovering (SIGTERM in the daemon) ends the recovery as
    interrupted once the started tickets are finished."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = crashed_run(r, "close-spam", "tickets_by_ids", 1, landed=False)
    r.runner.request_stop()
    [outcome] = r.runner.recover()
    assert outcome.status == "interrupted"
    assert r.sb.counters["writes_applied"] == 0
    assert r.journal.get_run(plan.run_id).status == "interrupted"
