"""Undo end to end: build_undo_plan from the journal, applied over HTTP to the sandbox Halo."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apply_support import (
    Rig,
    SandboxFactory,
    actions,
    differences,
    duplicate_markers,
    marked,
    playbook,
    quiet_logs,
    rig,
    tickets,
)

from halo_automate.engine.undo import build_undo_plan, category_levels, undo_warnings
from halo_automate.engine.writes import run_marker
from halo_automate.errors import PlanError, RefusedError
from halo_automate.store.journal import ChangeKind, NewChange, RunStart

quiet_logs()

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def undo(r: Rig, run_id: str) -> tuple[str, str]:
    plan = build_undo_plan(r.journal, run_id, now=NOW, delete_notes=True)
    assert (plan.mode, plan.undo_of) == ("undo", run_id)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert r.journal.get_run(plan.run_id).trigger == "undo"
    return plan.run_id, outcome.status


@pytest.mark.parametrize("name", ["close-spam", "quarantine-spam", "bulk-edit-woodgrove"])
def test_undo_restores_tickets_and_removes_notes_and_undo_of_undo_reapplies(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str
) -> None:
    """Undo puts every ticket back as it was before the run and deletes the run's notes; undoing
    the undo re-applies the run's changes and re-posts its notes (without their old marker)."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before, before_actions = tickets(r.sb), actions(r.sb)
    run = r.runner.run(playbook(name), trigger="cli", confirm=None)
    applied, applied_actions = tickets(r.sb), actions(r.sb)
    assert run.changed > 0 and differences(applied, before) != []
    undo_id, status = undo(r, run.run_id)
    assert status == "succeeded"
    assert differences(tickets(r.sb), before) == []
    assert actions(r.sb) == before_actions
    assert marked(r.sb, run.run_id) == {}
    redo_id, status = undo(r, undo_id)
    assert status == "succeeded"
    assert differences(tickets(r.sb), applied) == []
    reposted = marked(r.sb, redo_id)
    originals = marked_notes(applied_actions, run.run_id)
    assert set(reposted) == set(originals)
    for tid, notes in originals.items():
        texts = sorted(a["note"].removesuffix(run_marker(redo_id)).rstrip() for a in reposted[tid])
        assert texts == sorted(notes)
    assert duplicate_markers(r.sb) == []


def marked_notes(
    all_actions: dict[int, list[dict[str, object]]], run_id: str
) -> dict[int, list[str]]:
    """Each ticket's notes posted by ``run_id``, without the run marker."""
    out: dict[int, list[str]] = {}
    for tid, rows in all_actions.items():
        for a in rows:
            note = str(a["note"])
            if f"[halo-automate run {run_id}" in note:
                out.setdefault(tid, []).append(note[: note.rfind("[halo-automate")].rstrip())
    return out


def test_undo_cannot_put_back_a_value_halo_no_longer_accepts(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Undoing category-cleanup restores the emptied categories, but a retired value Halo now
    rejects fails per ticket with Halo's message (the ticket keeps its new value)."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    run = r.runner.run(playbook("category-cleanup"), trigger="cli", confirm=None)
    applied = tickets(r.sb)
    plan = r.plan_of(run.run_id)
    retired = {c.ticket_id for c in plan.changes if c.fields["category_1"].before != ""}
    assert 0 < len(retired) < len(plan.changes)
    undo_plan = build_undo_plan(r.journal, run.run_id, now=NOW)
    assert category_levels(undo_plan) == [1]
    warnings = undo_warnings(undo_plan, r.client.lookups(["category_1"]))
    warned = sum(int(w.split(" ticket(s)")[0]) for w in warnings)
    assert warned == len(retired) and all("no longer lists" in w for w in warnings)
    outcome = r.runner.apply_saved(undo_plan, confirm=None)
    assert outcome.status == "partial"
    assert dict(outcome.failures).keys() == retired
    for tid, message in outcome.failures:
        assert message == f"Category '{before[tid]['category_1']}' is not valid"
    expected = dict(before)
    expected.update({tid: applied[tid] for tid in retired})
    assert differences(tickets(r.sb), expected) == []


def test_undo_skips_a_ticket_changed_since_the_run(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A ticket someone changed after the run is left alone by undo (fields and note) and
    reported; every other ticket is restored."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    victim = min(marked(r.sb, run.run_id))
    r.sb.edit_ticket(victim, status_id=2)  # an agent reopened it
    victim_now = tickets(r.sb)[victim]
    undo_id, status = undo(r, run.run_id)
    assert status == "partial"
    expected = dict(before)
    expected[victim] = victim_now
    assert differences(tickets(r.sb), expected) == []
    assert list(marked(r.sb, run.run_id)) == [victim]  # its note stays
    outcome_skips = [row for row in r.journal.changes(undo_id) if row.state == "skipped"]
    assert {row.ticket_id for row in outcome_skips} == {victim}
    assert "status_id is 2" in (outcome_skips[0].message or "")


def test_undo_of_an_action_someone_already_deleted(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """An action that is already gone when undo deletes it is recorded as skipped (404), and
    the ticket's fields are still restored."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    run = r.runner.run(playbook("quarantine-spam"), trigger="cli", confirm=None)
    victim = min(marked(r.sb, run.run_id))
    r.sb.state.actions[victim] = [
        a for a in r.sb.state.actions[victim] if run.run_id not in str(a["note"])
    ]
    undo_id, status = undo(r, run.run_id)
    assert status == "succeeded"
    assert differences(tickets(r.sb), before) == []
    rows = [row for row in r.journal.changes(undo_id) if row.ticket_id == victim]
    deletes = [row for row in rows if row.kind is ChangeKind.ACTION_DELETE]
    assert [(row.state, row.message) for row in deletes] == [("skipped", "action already gone")]


def test_undo_plan_reverses_done_rows_only(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    """The undo plan swaps before/after of the run's done field rows and removes the actions it
    posted; skipped tickets are not in it."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    stale = plan.changes[0].ticket_id
    r.sb.edit_ticket(stale, status_id=4)
    r.runner.apply_saved(plan, confirm=None)
    undo_plan = build_undo_plan(r.journal, plan.run_id, now=NOW, delete_notes=True)
    assert stale not in {c.ticket_id for c in undo_plan.changes}
    assert len(undo_plan.changes) == len(plan.changes) - 1
    first = undo_plan.changes[0]
    original = next(c for c in plan.changes if c.ticket_id == first.ticket_id)
    assert first.fields["status_id"].before == 9
    assert first.fields["status_id"].after == original.fields["status_id"].before
    assert first.ticket_update == {"status_id": original.fields["status_id"].before}
    assert [a.body["note"] for a in first.remove_actions] == [original.actions[0].body["note"]]
    assert (first.client_name, first.summary) == (original.client_name, original.summary)
    assert undo_plan.max_changes == len(undo_plan.changes)


def test_undo_refuses_runs_that_wrote_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Previews, refused runs and runs without a done change cannot be undone."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    preview = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    with pytest.raises(PlanError, match="wrote nothing"):
        build_undo_plan(r.journal, preview.run_id, now=NOW)
    declined = r.runner.run(playbook("close-spam"), trigger="cli", confirm=lambda p: False)
    assert isinstance(declined.error, RefusedError)
    refused = r.journal.runs(limit=1)[0]
    with pytest.raises(PlanError, match="refused run and wrote nothing"):
        build_undo_plan(r.journal, refused.run_id, now=NOW)
    r.journal.start_run(RunStart("empty", "close-spam", "h", "apply", "cli"))
    r.journal.finish_run("empty", "succeeded")
    with pytest.raises(PlanError, match="no applied changes"):
        build_undo_plan(r.journal, "empty", now=NOW)


def test_undo_refuses_an_interrupted_run(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    """A run with writes of unknown outcome must be recovered before it can be undone."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    r.journal.start_run(RunStart("crashed", "close-spam", "h", "apply", "cli"))
    [row] = r.journal.add_changes("crashed", [NewChange(5, "status_id", 1, 9)])
    r.journal.finish_run("crashed", "failed")
    with pytest.raises(PlanError, match="recover"):
        build_undo_plan(r.journal, "crashed", now=NOW)
    r.journal.mark([row], "done")
    plan = build_undo_plan(r.journal, "crashed", now=NOW)  # no plan document: names unknown
    assert [(c.ticket_id, c.client_name, c.ticket_update) for c in plan.changes] == [
        (5, "", {"status_id": 1})
    ]
    assert plan.halo_rules is False
