"""Schema v9 (issue 16): the approvals and playbook_guards tables, and what they promise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from halo_automate.store.approvals import ApprovalRequest
from halo_automate.store.journal import MIGRATIONS, Journal, RunStart

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _start(run_id: str, playbook: str = "p") -> RunStart:
    return RunStart(run_id=run_id, playbook=playbook, playbook_hash="h", mode="apply",
                    trigger="schedule", plan_json='{"x": 1}')  # fmt: skip


def test_v8_journal_migrates_and_keeps_its_runs(tmp_path: Path) -> None:
    """A v8 journal opens at v9: its runs are listed as before, nothing waits, nothing is
    paused, and a plan can then be held."""
    path = tmp_path / "old.db"
    with Journal.open(path, migrations=MIGRATIONS[:8]) as old:
        old.record_run(_start("r0"), "succeeded", None)
        assert old.schema_version == 8
    with Journal.open(path) as journal:
        assert journal.schema_version == len(MIGRATIONS) >= 9
        assert [r.run_id for r in journal.runs()] == ["r0"]
        assert journal.approvals() == [] and journal.paused_playbooks() == []
        request = ApprovalRequest(3, "me", NOW, NOW + timedelta(hours=1), True)
        assert journal.hold_for_approval(_start("r1"), request, "waits") is None
        assert journal.get_run("r1").status == "awaiting_approval"


def test_one_open_plan_per_playbook_and_instance_is_enforced_by_the_schema(
    tmp_path: Path,
) -> None:
    """Even a writer that skipped the check cannot open a second plan for the same pair."""
    import sqlite3

    import pytest

    with Journal.open(tmp_path / "j.db") as journal:
        request = ApprovalRequest(3, "me", NOW, NOW + timedelta(hours=1), False)
        journal.hold_for_approval(_start("r1"), request, "waits")
        journal.hold_for_approval(_start("r2", playbook="other"), request, "waits")
    conn = sqlite3.connect(tmp_path / "j.db")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE approvals SET playbook = 'p' WHERE run_id = 'r2'")
    conn.close()


def test_refusals_in_a_row_pause_and_resume_starts_over(tmp_path: Path) -> None:
    """Three refusals in a row pause (once); another ending resets the count; resume clears."""
    with Journal.open(tmp_path / "j.db") as journal:

        def count(refused: bool) -> bool:
            _, paused = journal.count_refusal(
                "p", "default", refused=refused, pause_after=3, now=NOW, reason="why"
            )
            return paused

        assert [count(True), count(True), count(False)] == [False, False, False]
        assert [count(True), count(True), count(True), count(True)] == [False, False, True, False]
        [row] = journal.paused_playbooks()
        assert (row.playbook, row.refusals, row.paused_reason) == ("p", 4, "why")
        assert journal.resume_playbook("p", "default", "alice", NOW)
        assert not journal.resume_playbook("p", "default", "alice", NOW)
        guard = journal.guard("p", "default")
        assert guard is not None and not guard.paused and guard.refusals == 0
        assert guard.resumed_by == "alice"


def test_prune_keeps_the_plan_of_a_run_still_waiting(tmp_path: Path) -> None:
    """A held plan (waiting) keeps its plan through prune; a finished run's plan goes."""
    now = [NOW]
    with Journal.open(tmp_path / "j.db", clock=lambda: now[0]) as journal:
        journal.record_run(_start("done", playbook="other"), "succeeded", None)
        request = ApprovalRequest(3, "me", NOW, NOW + timedelta(days=400), False)
        journal.hold_for_approval(_start("waits"), request, "waits")
        now[0] = NOW + timedelta(days=100)
        assert journal.prune_preview(timedelta(days=90)).run_ids == ("done",)


def test_an_approved_plan_is_claimed_once_and_a_dead_claim_is_taken_over(tmp_path: Path) -> None:
    """Two appliers at once: one claim wins, the other is told the name in use; a claim
    whose run never started within stale_after (its process died) is claimed again, under
    the same run id; once that run exists nobody can claim it again."""
    stale = timedelta(minutes=10)
    with Journal.open(tmp_path / "j.db") as journal:
        request = ApprovalRequest(3, "me", NOW, NOW + timedelta(hours=2), False)
        journal.hold_for_approval(_start("r1"), request, "waits")
        assert journal.claim_approved("r1", "a1", NOW, stale) is None  # not approved yet
        assert journal.decide_approval("r1", "approved", "alice", None, NOW, "approved")
        assert journal.claim_approved("r1", "a1", NOW, stale) == ("a1", True)
        assert journal.claim_approved("r1", "a2", NOW, stale) == ("a1", False)
        later = NOW + timedelta(minutes=11)
        assert journal.claim_approved("r1", "a3", later, stale) == ("a1", True)
        journal.record_run(_start("a1"), "succeeded", None)
        assert journal.claim_approved("r1", "a4", later + stale * 2, stale) == ("a1", False)
        assert "applied as run a1" in (journal.get_run("r1").message or "")
