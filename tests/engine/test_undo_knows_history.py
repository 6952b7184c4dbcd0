"""Undo that knows the history (issue 12, cases 3 and 9), end to end over the sandbox Halo:
a run undone already is refused, a partly undone run undoes only the rest, a ticket a later
run or a person changed since is left alone, and the sandbox's write counters prove what
reached Halo."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apply_support import (
    Rig,
    SandboxFactory,
    client_for,
    differences,
    marked,
    playbook,
    quiet_logs,
    rig,
    tickets,
)
from clock import FakeClock

from halo_automate.engine.undo import UndoPlan, prepare_undo, reverted_text
from halo_automate.errors import PlanError
from halo_automate.sandbox import SandboxServer
from halo_automate.store.journal import ChangeKind

quiet_logs()

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
CLOSED, NEW, IN_PROGRESS = 9, 1, 2
CLOSE_OUTCOME = 9  # the sandbox's "Close Ticket" outcome (closes the ticket)


def faked(sandbox_factory: SandboxFactory) -> tuple[SandboxServer, FakeClock]:
    """A sandbox whose clock (the dates it stamps on writes) moves only when the test says."""
    clock = FakeClock()
    return sandbox_factory(now=NOW, monotonic=clock, sleep=clock.sleep), clock


def prepared(r: Rig, run_id: str, **options: object) -> UndoPlan:
    return prepare_undo(r.client, r.journal, run_id, now=NOW, **options)  # type: ignore[arg-type]


def undo(r: Rig, run_id: str, **options: object) -> tuple[UndoPlan, str]:
    plan = prepared(r, run_id, **options)
    outcome = r.runner.apply_saved(plan.plan, confirm=None, guard=plan.guard())
    return plan, outcome.status


def agent_reopens_and_closes(sb: SandboxServer, clock: FakeClock, ticket_id: int) -> None:
    """An agent, minutes later, reopens the ticket and closes it properly with a resolution
    note: through the API, so Halo stamps its dates (as it would in real life)."""
    agent = client_for(sb)
    clock.advance(minutes=10)
    assert agent.write_tickets([{"id": ticket_id, "status_id": IN_PROGRESS}])[0].ok
    clock.advance(minutes=5)
    closing = {"ticket_id": ticket_id, "outcome_id": CLOSE_OUTCOME, "hiddenfromuser": False,
               "note": "Resolved: the customer's mail filter was fixed."}  # fmt: skip
    assert agent.write_actions([closing])[0].ok
    assert sb.state.tickets[ticket_id]["status_id"] == CLOSED


def test_undo_of_a_run_already_undone_is_refused_naming_the_undo(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Case 3: close-spam, undone, then a different playbook closes the same tickets; a second
    undo of close-spam is refused naming the first undo, and not one write reaches Halo (before
    the fix it reopened every ticket the later playbook had closed)."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    first, status = undo(r, run.run_id)
    assert status == "succeeded" and first.plan.changes
    later = r.runner.run(playbook("note-and-close"), trigger="cli", confirm=None)
    closed = {c.ticket_id for c in r.plan_of(later.run_id).changes}
    assert closed & {c.ticket_id for c in first.plan.changes}
    state, writes = tickets(r.sb), r.sb.counters["writes_applied"]
    with pytest.raises(PlanError, match=f"already undone by run {first.plan.run_id}"):
        prepared(r, run.run_id)
    assert r.sb.counters["writes_applied"] == writes
    assert differences(tickets(r.sb), state) == []
    assert all(r.sb.state.tickets[t]["status_id"] == CLOSED for t in closed)


def test_undo_of_an_undo_still_puts_the_run_back(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Undo of an undo re-applies the run's changes; the first undo's Reverted notes stay
    (private, the audit trail) and the redo adds its own."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    applied = tickets(r.sb)
    first, status = undo(r, run.run_id)
    assert status == "succeeded" and differences(tickets(r.sb), before) == []
    redo, status = undo(r, first.plan.run_id)
    assert status == "succeeded" and redo.plan.undo_of == first.plan.run_id
    assert differences(tickets(r.sb), applied) == []
    for change in redo.plan.changes:
        assert len(marked(r.sb, first.plan.run_id)[change.ticket_id]) == 1
        assert len(marked(r.sb, redo.plan.run_id)[change.ticket_id]) == 1


def test_default_undo_keeps_private_notes_and_adds_one_reverted_note(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """By default undo deletes nothing: the run's private notes stay and each ticket gets
    exactly one private 'Reverted by run ...' note, posted in batches (no DELETE request)."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    run = r.runner.run(playbook("quarantine-spam"), trigger="cli", confirm=None)
    notes = marked(r.sb, run.run_id)
    r.sb.reset_counters()
    plan, status = undo(r, run.run_id)
    assert status == "succeeded"
    assert differences(tickets(r.sb), before) == []
    assert marked(r.sb, run.run_id) == notes  # kept
    reverted = marked(r.sb, plan.plan.run_id)
    assert set(reverted) == set(notes)
    for rows in reverted.values():
        [note] = rows
        assert note["hiddenfromuser"] is True and note["outcome"] == "Internal Note"
        assert reverted_text(plan.plan.run_id, run.run_id) in note["note"]
    by_endpoint = r.sb.counters["requests_by_endpoint"]
    assert not any(k.startswith("DELETE") for k in by_endpoint), by_endpoint
    assert (plan.notes_added, plan.notes_kept, plan.notes_deleted) == (len(notes), len(notes), 0)


def test_delete_notes_still_removes_the_runs_notes(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """--delete-notes deletes every note the run posted (one DELETE each) and adds none."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before, before_actions = tickets(r.sb), {k: list(v) for k, v in r.sb.state.actions.items()}
    run = r.runner.run(playbook("quarantine-spam"), trigger="cli", confirm=None)
    notes = marked(r.sb, run.run_id)
    r.sb.reset_counters()
    plan, status = undo(r, run.run_id, delete_notes=True)
    assert status == "succeeded" and plan.notes_deleted == len(notes) and plan.notes_added == 0
    assert differences(tickets(r.sb), before) == []
    assert {k: v for k, v in r.sb.state.actions.items() if v} == {
        k: v for k, v in before_actions.items() if v
    }
    deletes = r.sb.counters["requests_by_endpoint"]
    assert sum(n for k, n in deletes.items() if k.startswith("DELETE")) == len(notes)


def test_a_ticket_reopened_and_closed_by_an_agent_is_skipped(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Case 9: close-spam closed T; an agent reopened it and closed it properly with a
    resolution note. T's status is back at the run's value, but Halo's dates say someone
    worked on it since: undo leaves T closed (no write to T) and says why; every other ticket
    is reopened. --force T then puts it back."""
    sb, clock = faked(sandbox_factory)
    r = rig(sb, tmp_path / "j.db")
    before = tickets(sb)
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    victim = min(marked(sb, run.run_id))
    agent_reopens_and_closes(sb, clock, victim)
    victim_now, victim_actions = tickets(sb)[victim], list(sb.state.actions[victim])
    clock.advance(minutes=1)
    plan, status = undo(r, run.run_id)
    assert status == "partial"
    [skip] = plan.skips
    assert skip.ticket_id == victim and skip.forcible
    assert "changed since by someone else" in skip.reason and "last_update" in skip.reason
    assert victim not in {c.ticket_id for c in plan.plan.changes}
    expected = dict(before)
    expected[victim] = victim_now
    assert differences(tickets(sb), expected) == []
    assert sb.state.actions[victim] == victim_actions  # not one write to the victim
    rows = r.journal.changes(plan.plan.run_id)
    assert [(x.ticket_id, x.state) for x in rows if x.ticket_id == victim] == [(victim, "skipped")]
    # The rest was undone: a second undo is only the victim, and --force puts it back.
    again = prepared(r, run.run_id)  # without force, the one ticket left is skipped again
    assert again.plan.changes == () and [s.ticket_id for s in again.skips] == [victim]
    forced, status = undo(r, run.run_id, force=[victim])
    assert status == "succeeded" and [c.ticket_id for c in forced.plan.changes] == [victim]
    assert sb.state.tickets[victim]["status_id"] == before[victim]["status_id"]
    with pytest.raises(PlanError, match="already undone by run"):
        prepared(r, run.run_id)


def test_a_field_a_later_run_changed_is_skipped_naming_that_run(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """close-spam closed T; an agent reopened it (outside the tool), then another playbook
    (note-and-close) closed it again: undo of close-spam skips T, naming the later run, though
    T's status is at close-spam's value; 0 writes reach T."""
    sb, clock = faked(sandbox_factory)
    r = rig(sb, tmp_path / "j.db")
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    victim = min(marked(sb, run.run_id))
    sb.edit_ticket(victim, status_id=NEW)  # reopened; no date moved (the journal decides)
    clock.advance(minutes=10)
    later = r.runner.run(playbook("note-and-close"), trigger="cli", confirm=None)
    assert [c.ticket_id for c in r.plan_of(later.run_id).changes] == [victim]
    state = tickets(sb)[victim]
    clock.advance(minutes=1)
    plan = prepared(r, run.run_id)
    [skip] = plan.skips
    assert skip.ticket_id == victim and not skip.forcible
    assert f"changed since by run {later.run_id}" in skip.reason and "status_id" in skip.reason
    outcome = r.runner.apply_saved(plan.plan, confirm=None, guard=plan.guard())
    assert outcome.status == "partial" and (victim, skip.reason) in outcome.skips
    assert tickets(sb)[victim] == state


def test_the_guard_skips_a_ticket_touched_between_preview_and_write(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The checks run again right before the undo writes: a ticket an agent worked on after
    the preview (while the user read it) is skipped too, and reported."""
    sb, clock = faked(sandbox_factory)
    r = rig(sb, tmp_path / "j.db")
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    plan = prepared(r, run.run_id)
    assert plan.skips == ()
    victim = plan.plan.changes[0].ticket_id
    agent_reopens_and_closes(sb, clock, victim)
    victim_actions = list(sb.state.actions[victim])
    outcome = r.runner.apply_saved(plan.plan, confirm=None, guard=plan.guard())
    assert outcome.status == "partial"
    assert [t for t, _ in outcome.skips] == [victim]
    assert sb.state.actions[victim] == victim_actions
    assert sb.state.tickets[victim]["status_id"] == CLOSED


def test_partly_undone_run_undoes_only_the_rest(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """An undo that could not put a ticket back (someone had changed it) leaves the run partly
    undone; once the ticket is back at the run's value, the next undo writes only that ticket,
    and the tickets undone already get no second note."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    victim = min(marked(r.sb, run.run_id))
    r.sb.edit_ticket(victim, status_id=IN_PROGRESS)  # stale for the first undo
    first, status = undo(r, run.run_id)
    assert status == "partial"
    r.sb.edit_ticket(victim, status_id=CLOSED)
    r.sb.reset_counters()
    second = prepared(r, run.run_id)
    assert [c.ticket_id for c in second.plan.changes] == [victim]
    assert set(second.undone.values()) == {first.plan.run_id}
    outcome = r.runner.apply_saved(second.plan, confirm=None, guard=second.guard())
    assert outcome.status == "succeeded" and outcome.changed == 1
    assert r.sb.counters["tickets_written"] == 1 and r.sb.counters["actions_written"] == 1
    for tid, rows in marked(r.sb, first.plan.run_id).items():
        assert len(rows) == 1 and tid != victim
    assert list(marked(r.sb, second.plan.run_id)) == [victim]
    undone = r.journal.undone_by([run.run_id])[run.run_id]
    assert undone == [first.plan.run_id, second.plan.run_id]
    kinds = {row.kind for row in r.journal.changes(second.plan.run_id)}
    assert kinds == {ChangeKind.FIELD, ChangeKind.ACTION}


@pytest.mark.parametrize("batch_size", [5, 50])
def test_default_undo_costs_about_what_the_apply_cost(
    sandbox_factory: SandboxFactory, tmp_path: Path, batch_size: int
) -> None:
    """Undo at the cost of the apply: the default undo of close-spam sends no DELETE and at
    most a few more requests than the apply did (its checks), counted by the sandbox; with
    --delete-notes it pays one DELETE per note (before issue 12, the only way). The figures
    for 1,079 tickets are in tools/undo_cost.py's output (docs/undo.md)."""
    costs: dict[bool, tuple[int, int, int, int]] = {}
    for delete_notes in (False, True):
        r = rig(sandbox_factory(), tmp_path / f"{delete_notes}.db", batch_size=batch_size)
        r.sb.reset_counters()
        run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
        applied = r.sb.counters["requests"]
        r.sb.reset_counters()
        plan, status = undo(r, run.run_id, delete_notes=delete_notes)
        assert status == "succeeded" and len(plan.plan.changes) == run.changed
        counters = r.sb.counters
        deletes = sum(n for k, n in counters["requests_by_endpoint"].items() if "DELETE" in k)
        costs[delete_notes] = (run.changed, applied, counters["requests"], deletes)
    (changed, applied, undone, deletes), (_, _, undone_deleting, deleted) = (
        costs[False],
        costs[True],
    )
    assert deletes == 0 and deleted == changed
    checks = 3  # the undo's own read when planned, the outcomes lookup, the read before writing
    assert undone <= applied + checks, costs
    assert undone_deleting > undone + changed // 2, costs


def test_two_undos_prepared_at_once_write_once(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Two people preview an undo of the same run at the same time and both confirm: the
    second one's check before writing finds every ticket undone already and writes nothing."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    run = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    first, second = prepared(r, run.run_id), prepared(r, run.run_id)
    assert r.runner.apply_saved(first.plan, confirm=None, guard=first.guard()).changed > 0
    writes = r.sb.counters["writes_applied"]
    outcome = r.runner.apply_saved(second.plan, confirm=None, guard=second.guard())
    assert outcome.changed == 0 and outcome.skipped == len(second.plan.changes)
    assert {why for _, why in outcome.skips} == {f"already undone by run {first.plan.run_id}"}
    assert r.sb.counters["writes_applied"] == writes
