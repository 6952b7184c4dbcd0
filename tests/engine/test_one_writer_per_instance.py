"""One writer per Halo instance (issue 12, case 10), end to end over the sandbox Halo: two
playbooks writing the same tickets at the same moment no longer interleave; the second waits
for the first, sees its result in its stale check and skips; undoing one does not reopen the
tickets the other closed. Across threads of one process and across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apply_support import (
    SandboxFactory,
    client_for,
    marked,
    playbook,
    quiet_logs,
)

from halo_automate.core.outcome import RunOutcome
from halo_automate.core.plan import Plan, plan_to_json
from halo_automate.engine.apply import Applier
from halo_automate.engine.runner import Runner
from halo_automate.engine.undo import prepare_undo
from halo_automate.engine.writer import on_wait
from halo_automate.errors import PlanError
from halo_automate.sandbox import SandboxServer
from halo_automate.store.journal import Journal
from halo_automate.store.writers import WriterRow

quiet_logs()

CLOSED = 9
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
SUPPORT = Path(__file__).resolve().parent.parent / "apply_support.py"


def runner(sb: SandboxServer, path: Path, who: str) -> Runner:
    """A runner with its own client and its own journal connection (as another process)."""
    return Runner(client_for(sb, batch_size=5), Journal.open(path), started_by=who)


def first_of(*events: threading.Event, ready: Callable[[], bool]) -> None:
    """Wait until one of ``events`` is set or ``ready()`` holds (bounded; no fixed sleep)."""
    for _ in range(400):
        if ready() or any(e.wait(0.025) for e in events):
            return
    raise AssertionError("neither writer made progress")


def check_no_mixed_state(sb: SandboxServer, closer: Plan, quarantiner: RunOutcome) -> None:
    """Every planned ticket is closed with close-spam's one note; quarantine-spam wrote none."""
    quarantine_notes = marked(sb, quarantiner.run_id)
    close_notes = marked(sb, closer.run_id)
    assert quarantine_notes == {}, sorted(quarantine_notes)
    for change in closer.changes:
        assert sb.state.tickets[change.ticket_id]["status_id"] == CLOSED
        assert len(close_notes[change.ticket_id]) == 1
    assert quarantiner.changed == 0 and quarantiner.skipped == len(closer.changes)


def test_two_playbooks_at_once_do_not_interleave(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """close-spam holds the writer lock (its first write is held in flight) when
    quarantine-spam reaches its writes: quarantine-spam waits, then its stale check sees the
    closed tickets and skips every one. Before the lock, both reported every ticket changed and
    the tickets ended closed with quarantine notes. Undoing quarantine-spam then writes
    nothing (it applied nothing) and close-spam's closes stay."""
    sb = sandbox_factory()
    path = tmp_path / "j.db"
    closer, quarantiner = runner(sb, path, "a"), runner(sb, path, "b")
    close_plan = closer.plan(playbook("close-spam"))
    quarantine_plan = quarantiner.plan(playbook("quarantine-spam"))
    assert {c.ticket_id for c in close_plan.changes} == {
        c.ticket_id for c in quarantine_plan.changes
    }
    hold = sb.hold_writes()
    results: dict[str, RunOutcome] = {}
    waiting, done = threading.Event(), threading.Event()

    def run_quarantine() -> None:
        try:
            results["b"] = quarantiner.apply_saved(quarantine_plan, confirm=None)
        finally:
            done.set()

    def waits(run_id: str, holder: WriterRow) -> None:
        assert holder.holder.run_id == close_plan.run_id
        waiting.set()

    a = threading.Thread(
        target=lambda: results.setdefault("a", closer.apply_saved(close_plan, confirm=None))
    )
    with on_wait(waits):
        a.start()
        assert hold.wait_until_caught(1)  # close-spam is writing (its first batch in flight)
        b = threading.Thread(target=run_quarantine)
        b.start()
        first_of(waiting, done, ready=lambda: hold.caught >= 2)
        hold.release()
        a.join(timeout=30)
        b.join(timeout=30)
    assert results["a"].status == "succeeded"
    check_no_mixed_state(sb, close_plan, results["b"])
    assert waiting.is_set()
    assert sb.counters["actions_written"] == len(close_plan.changes)
    assert Journal.open(path).writer(sb.base_url) is None  # released
    # Undo of quarantine-spam: it applied nothing, so nothing to undo, nothing reopened.
    journal = Journal.open(path)
    with pytest.raises(PlanError, match="no applied changes"):
        prepare_undo(client_for(sb), journal, results["b"].run_id, now=NOW)
    assert all(sb.state.tickets[c.ticket_id]["status_id"] == CLOSED for c in close_plan.changes)


def test_a_writer_in_another_process_is_waited_for(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The lock holds across processes: a child process applies close-spam and is held at
    its first write; quarantine-spam in this process waits for it, then skips every ticket."""
    sb = sandbox_factory()
    path = tmp_path / "j.db"
    close_plan = runner(sb, path, "plan").plan(playbook("close-spam"))
    plan_file = tmp_path / "close.plan.json"
    plan_file.write_text(plan_to_json(close_plan), encoding="utf-8")
    hold = sb.hold_writes()
    child = subprocess.Popen(
        [sys.executable, str(SUPPORT), sb.base_url, sb.client_id, sb.client_secret, str(path),
         str(plan_file), "5"],
    )  # fmt: skip
    try:
        assert hold.wait_until_caught(1, timeout=60)  # the child holds the writer lock
        quarantiner = runner(sb, path, "b")
        quarantine_plan = quarantiner.plan(playbook("quarantine-spam"))
        waiting, done = threading.Event(), threading.Event()
        result: list[RunOutcome] = []

        def run_quarantine() -> None:
            try:
                result.append(quarantiner.apply_saved(quarantine_plan, confirm=None))
            finally:
                done.set()

        with on_wait(lambda run_id, holder: waiting.set()):
            b = threading.Thread(target=run_quarantine)
            b.start()
            first_of(waiting, done, ready=lambda: hold.caught >= 2)
            hold.release()
            assert child.wait(timeout=60) == 0
            b.join(timeout=60)
        check_no_mixed_state(sb, close_plan, result[0])
        assert waiting.is_set()
    finally:
        hold.release()
        if child.poll() is None:
            child.kill()


def test_a_stop_while_waiting_for_the_writer_writes_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run asked to stop (SIGTERM) while another run holds the instance's writer lock stops
    waiting and ends interrupted without a single write."""
    sb = sandbox_factory()
    path = tmp_path / "j.db"
    holder = Journal.open(path).try_writer(sb.base_url, "other-run", "quarantine-spam")
    assert not isinstance(holder, WriterRow)
    r = runner(sb, path, "a")
    plan = r.plan(playbook("close-spam"))
    writes = sb.counters["writes_applied"]
    applier = Applier(r.client, r.journal, batch_size=5)
    seen: list[str] = []

    def stop_when_waiting(run_id: str, row: WriterRow) -> None:
        seen.append(row.holder.run_id)
        applier.request_stop()

    with on_wait(stop_when_waiting):
        outcome = applier.apply(plan, trigger="cli", started_by="t")
    assert seen == ["other-run"]
    assert outcome.status == "interrupted" and outcome.changed == 0
    assert sb.counters["writes_applied"] == writes
    assert r.journal.changes(plan.run_id) == []
    holder.release()
