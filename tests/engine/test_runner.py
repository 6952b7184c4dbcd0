"""The runner journals runs that never reach a write: locked, failed before planning, previews."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from apply_support import playbook, rig

from halo_automate.errors import HaloUnavailableError, LockedError
from halo_automate.sandbox import SandboxServer
from halo_automate.store.journal import Journal, RunStart


def test_locked_playbook_is_journaled_as_refused(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A run that finds its playbook locked by another run is journaled refused, writes nothing."""
    r = rig(sandbox, tmp_path / "j.db")
    other = Journal.open(tmp_path / "j.db")
    with other.acquire_lock("close-spam", "someone-else"):
        outcome = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert isinstance(outcome.error, LockedError) and outcome.locked
    assert (outcome.status, outcome.exit_code) == ("refused", 4)
    [run] = r.journal.runs(limit=1)
    assert run.status == "refused" and "someone-else" in (run.message or "")
    assert sandbox.counters["writes_applied"] == 0


def test_failure_before_planning_is_journaled(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Halo failing while the run reads is journaled as failed with Halo's message."""
    r = rig(sandbox, tmp_path / "j.db")
    sandbox.set_faults(fail_rate=1.0)
    outcome = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert isinstance(outcome.error, HaloUnavailableError) and outcome.exit_code == 3
    [run] = r.journal.runs(limit=1)
    assert run.status == "failed" and "HTTP 500" in (run.message or "")


def test_preview_summary_says_preview(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A shadow-mode run's summary line and journal row both say mode preview."""
    r = rig(sandbox, tmp_path / "j.db")
    pb = playbook("close-spam").model_copy(update={"mode": "preview"})
    with structlog.testing.capture_logs() as logs:
        outcome = r.runner.run(pb, trigger="schedule", confirm=None)
    [summary] = [e for e in logs if e["event"] == "run_summary"]
    assert summary["mode"] == "preview" and outcome.status == "previewed"
    assert r.journal.get_run(outcome.run_id).mode == "preview"
    assert r.journal.get_run(outcome.run_id).counts.requests == outcome.requests > 0
    assert sandbox.counters["writes_applied"] == 0


def test_every_ending_is_journaled_once_with_the_whole_runs_requests(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Applied, declined and failed runs each finish their journal row exactly once, with the
    outcome's status and every request of the run (fetch and lookups included)."""
    r = rig(sandbox, tmp_path / "j.db")
    finished: list[str] = []
    original = r.journal.finish_run

    def counting(run_id: str, *args: Any, **kwargs: Any) -> None:
        finished.append(run_id)
        original(run_id, *args, **kwargs)

    r.journal.finish_run = counting  # type: ignore[method-assign]
    recorded = r.journal.record_run  # a run that wrote nothing is recorded finished at once

    def recording(run: RunStart, *args: Any, **kwargs: Any) -> None:
        finished.append(run.run_id)
        recorded(run, *args, **kwargs)

    r.journal.record_run = recording  # type: ignore[method-assign]
    declined = r.runner.run(playbook("close-spam"), trigger="cli", confirm=lambda p: False)
    applied = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    sandbox.set_faults(fail_rate=1.0)
    failed = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    outcomes = (declined, applied, failed)
    assert finished == [o.run_id for o in outcomes]
    for outcome in outcomes:
        row = r.journal.get_run(outcome.run_id)
        assert (row.status, row.counts.requests) == (outcome.status, outcome.requests)
    assert [o.status for o in outcomes] == ["refused", "succeeded", "failed"]
    assert applied.changed > 0 and applied.requests > 0
