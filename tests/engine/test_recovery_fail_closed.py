"""Fail closed (issue 13, points 1, 6 and 8): recovery writes only what a run journaled as
about to be sent, and one run it cannot recover blocks nothing else.

Each test injects the crash (or the poison) that the issue reports and counts the sandbox's
applied writes: a run nobody decided to write must cost zero writes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from apply_support import Rig, SandboxFactory, playbook, quiet_logs, rig, tickets

from halo_automate.core.outcome import RunStatus
from halo_automate.core.plan import plan_to_json
from halo_automate.core.playbook import load_playbook_text
from halo_automate.store.journal import Journal, NewChange, RunStart

quiet_logs()


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing catches it."""


def crash_after_call(obj: Any, method: str, when: Any = lambda *a, **k: True) -> list[int]:
    """Make ``obj.method`` die right after it returns (when ``when(*args)`` holds)."""
    original = getattr(obj, method)
    calls: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            calls.append(1)
            raise Crash
        return result

    setattr(obj, method, wrapper)
    return calls


def writes(r: Rig) -> int:
    return int(r.sb.counters["writes_applied"])


# ---------------------------------------------------------------------- 1: no decision, no write


@pytest.mark.parametrize(
    ("how", "max_changes"),
    [
        pytest.param("preview", None, id="shadow-preview"),
        pytest.param("declined", None, id="declined-at-the-prompt"),
        pytest.param("limit", 1, id="refused-by-max-changes"),
    ],
)
def test_crash_while_journaling_a_run_that_wrote_nothing_is_never_applied(
    sandbox_factory: SandboxFactory, tmp_path: Path, how: str, max_changes: int | None
) -> None:
    """A preview, a declined run or one refused by max_changes dies right after its first
    journal write (the old two-step record: a ``running`` row with the plan, then the final
    status). The next recover must write nothing: nobody approved that plan."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    crash_after_call(r.journal, "start_run")
    pb = playbook("close-spam", max_changes=max_changes)
    try:
        outcome = r.runner.run(
            pb,
            trigger="cli",
            confirm=(lambda plan: False) if how == "declined" else None,
            preview_only=how == "preview",
        )
    except Crash:
        pass
    else:
        assert outcome.status in (RunStatus.PREVIEWED, RunStatus.REFUSED)
    del r.journal.__dict__["start_run"]  # the restarted process has a healthy journal
    assert writes(r) == 0
    for outcome in r.runner.recover():
        assert outcome.status != RunStatus.SUCCEEDED and outcome.changed == 0
    assert writes(r) == 0 and tickets(r.sb) == before
    assert all(run.status != "running" for run in r.journal.runs())
    assert r.journal.pending() == []


def test_running_run_without_a_decision_is_closed_without_a_write(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A ``running`` row with a plan but no pending batch journaled (a crash between the
    run's first journal write and its first batch, whatever the run was) is closed as
    interrupted, saying so, and nothing is sent."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before = tickets(r.sb)
    plan = r.runner.plan(playbook("close-spam"))
    assert plan.changes
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "preview", "cli", plan_json=plan_to_json(plan))
    )
    r.sb.reset_counters()
    [outcome] = r.runner.recover()
    assert outcome.status == RunStatus.INTERRUPTED and outcome.changed == 0
    assert "nothing was written" in (outcome.message or "")
    assert writes(r) == 0 and tickets(r.sb) == before
    run = r.journal.get_run(plan.run_id)
    assert run.status == "interrupted" and r.journal.decided_at(plan.run_id) is None
    assert r.runner.recover() == []


def test_the_decision_to_write_is_journaled_with_the_first_pending_batch(
    tmp_path: Path,
) -> None:
    """The decision is journaled by the transaction that journals the first pending rows, and
    skipped rows (the stale check) are no decision."""
    j = Journal.open(tmp_path / "j.db")
    j.start_run(RunStart("r1", "pb", "h", "apply", "cli", plan_json="{}"))
    assert j.decided_at("r1") is None
    j.add_skipped("r1", [(NewChange(1, "status_id", 1, 9), "changed since the plan")])
    assert j.decided_at("r1") is None
    assert [(c.state, c.message) for c in j.changes("r1")] == [
        ("skipped", "changed since the plan")
    ]
    j.add_changes("r1", [NewChange(2, "status_id", 1, 9)])
    decided = j.decided_at("r1")
    assert decided is not None
    j.add_changes("r1", [NewChange(3, "status_id", 1, 9)])
    assert j.decided_at("r1") == decided


def test_a_preview_is_journaled_in_one_transaction(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run that writes nothing never has a ``running`` row: one insert, already final."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    crash_after_call(r.journal, "finish_run")  # the old second step: never reached
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    assert outcome.status == RunStatus.PREVIEWED
    assert r.journal.get_run(outcome.run_id).status == "previewed"


# ---------------------------------------------------------------------- 8: stale skips


TWO_FIELDS = """
name: two-fields
select: {open_only: true}
where:
  any:
    - user_email: {domain: [news.example, promo-mailer.example]}
actions:
  - set: {team: Second Line, priority: Low}
"""


def test_crash_between_journaling_stale_tickets_and_skipping_them_writes_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A ticket whose priority someone changed after planning is skipped by the stale check;
    the process dies right after journaling that. Recovery must not write the ticket's
    other field (team), which is still at its planned 'before'."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    pb = load_playbook_text(TWO_FIELDS)
    plan = r.runner.plan(pb)
    change = next(c for c in plan.changes if {"team_id", "priority_id"} <= set(c.fields))
    victim = change.ticket_id
    r.sb.edit_ticket(victim, priority_id=change.fields["priority_id"].after + 100)
    before = tickets(r.sb)

    def has_victim(run_id: str, rows: Any) -> bool:
        return any(getattr(row, "ticket_id", None) == victim for row in rows) or any(
            isinstance(row, tuple) and row[0].ticket_id == victim for row in rows
        )

    crash_after_call(r.journal, "add_changes", has_victim)
    if hasattr(r.journal, "add_skipped"):
        crash_after_call(r.journal, "add_skipped", has_victim)
    with pytest.raises(Crash):
        r.runner.apply_saved(plan, confirm=None)
    r.journal.__dict__.pop("add_changes")
    r.journal.__dict__.pop("add_skipped", None)
    rows = [c for c in r.journal.changes(plan.run_id) if c.ticket_id == victim]
    assert rows and {c.state for c in rows} == {"skipped"}
    r.runner.recover()
    assert r.sb.state.tickets[victim]["team_id"] == before[victim]["team_id"]
    assert writes(r) == 0


def test_recovery_never_sends_a_change_journaled_as_skipped(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A decided run (a pending batch) whose stale ticket was journaled skipped: recovery
    settles the pending batch and leaves the skipped ticket alone."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(load_playbook_text(TWO_FIELDS))
    first, victim = plan.changes[0], plan.changes[1]
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    rows = [NewChange(victim.ticket_id, n, fc.before, fc.after) for n, fc in victim.fields.items()]
    r.journal.add_skipped(plan.run_id, [(row, "changed since the plan") for row in rows])
    pending = [NewChange(first.ticket_id, n, f.before, f.after, 1) for n, f in first.fields.items()]
    r.journal.add_changes(plan.run_id, pending)
    before = tickets(r.sb)
    [outcome] = r.runner.recover()
    assert outcome.status == RunStatus.PARTIAL
    assert r.sb.state.tickets[victim.ticket_id] == before[victim.ticket_id]
    assert dict(outcome.skips)[victim.ticket_id] == "changed since the plan"


# ---------------------------------------------------------------------- 6: poison runs


def _poison(r: Rig, run_id: str, playbook_name: str, plan_json: str | None) -> None:
    r.journal.start_run(RunStart(run_id, playbook_name, "h", "apply", "cli", plan_json=plan_json))
    r.journal.add_changes(run_id, [NewChange(1, "status_id", 1, 9)])


def test_one_poison_run_does_not_stop_recovery_of_the_others(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """An interrupted run with a corrupt plan is reported failed with the reason; the run
    interrupted after it is still recovered, in the same call."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    _poison(r, "poison", "quarantine-spam", '{"format": "halo-automate-plan", "vers')
    plan = r.runner.plan(playbook("close-spam"))
    plan = dataclasses.replace(plan, changes=plan.changes[:3])
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    change = plan.changes[0]
    r.journal.add_changes(
        plan.run_id,
        [NewChange(change.ticket_id, n, f.before, f.after, 1) for n, f in change.fields.items()],
    )
    outcomes = {o.run_id: o for o in r.runner.recover()}
    assert set(outcomes) == {"poison", plan.run_id}
    assert outcomes["poison"].status == RunStatus.FAILED
    assert "bad JSON" in (outcomes["poison"].message or "")
    assert r.journal.get_run("poison").status == "failed"
    assert "bad JSON" in (r.journal.get_run("poison").message or "")
    assert outcomes[plan.run_id].status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
    assert r.journal.get_run(plan.run_id).status == outcomes[plan.run_id].status


def test_later_runs_of_a_poisoned_playbook_are_not_blocked(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A later run of the playbook reports the poison run's recovery and goes on."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    _poison(r, "poison", "close-spam", "not json at all")
    outcome = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert outcome.status == RunStatus.SUCCEEDED and outcome.changed > 0
    again = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert again.status == RunStatus.SUCCEEDED


def test_a_huge_ticket_id_in_a_plan_fails_its_run_once(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A ticket id of 2**63 (more than SQLite can store) in a decided run's plan: recovery
    fails that run with the reason, once, and the playbook's next run goes on."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    huge = dataclasses.replace(plan.changes[1], ticket_id=2**63)
    plan = dataclasses.replace(plan, changes=(plan.changes[0], huge))
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    change = plan.changes[0]
    r.journal.add_changes(
        plan.run_id,
        [NewChange(change.ticket_id, n, f.before, f.after, 1) for n, f in change.fields.items()],
    )
    [outcome] = r.runner.recover()
    assert outcome.status == RunStatus.FAILED and outcome.message
    assert r.journal.get_run(plan.run_id).status == "failed"
    assert r.runner.recover() == []
    after = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert after.status == RunStatus.SUCCEEDED


def test_v2_journal_migrates_decisions_and_lock_tokens(tmp_path: Path) -> None:
    """Migrating a v2 journal: a run that already wrote (a change row not skipped) counts as
    decided, a run with only skipped rows or none does not; locks get an empty token."""
    from halo_automate.store.migrations import MIGRATIONS

    path = tmp_path / "j.db"
    with Journal.open(path, migrations=MIGRATIONS[:2]) as v2:
        for run_id, state in (("wrote", "done"), ("skips", "skipped"), ("none", None)):
            v2._conn.execute(
                "INSERT INTO runs (run_id, playbook, playbook_hash, mode, started_by, trigger, "
                "started_at, status) VALUES (?, 'pb', 'h', 'apply', 'me', 'cli', ?, 'running')",
                (run_id, "2026-11-24T05:15:00.000Z"),
            )
            if state:
                v2._conn.execute(
                    "INSERT INTO changes (run_id, ticket_id, field, before_json, after_json, "
                    "state, updated_at) VALUES (?, 1, 'status_id', '1', '9', ?, ?)",
                    (run_id, state, "2026-11-24T05:16:00.000Z"),
                )
        v2._conn.execute(
            "INSERT INTO locks VALUES ('pb', 'wrote', 1, 'far', ?, ?)",
            ("2026-11-24T05:15:00.000Z", "2026-11-24T05:15:00.000Z"),
        )
    with Journal.open(path) as v3:
        assert v3.schema_version == len(MIGRATIONS) >= 3
        decided = {r: v3.decided_at(r) for r in ("wrote", "skips", "none")}
        assert decided["wrote"] is not None and decided["skips"] is decided["none"] is None
        token = v3._conn.execute("SELECT token FROM locks").fetchone()[0]
        assert token == ""


def test_a_nan_in_a_decided_runs_plan_fails_that_run_and_not_the_next(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A NaN in the plan of a run that had started writing: its recovery fails (the value
    cannot be journaled) with the reason, once; the playbook's next run goes on."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    first, second = plan.changes[:2]
    name = next(iter(second.fields))
    poisoned = dataclasses.replace(
        second,
        fields={**second.fields, name: dataclasses.replace(second.fields[name], after=math.nan)},
    )
    plan = dataclasses.replace(plan, changes=(first, poisoned))
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    r.journal.add_changes(
        plan.run_id,
        [NewChange(first.ticket_id, n, f.before, f.after, 1) for n, f in first.fields.items()],
    )
    [outcome] = r.runner.recover()
    assert outcome.status == RunStatus.FAILED and "NaN" in (outcome.message or "")
    assert r.journal.get_run(plan.run_id).status == "failed"
    # The plan cannot be read, so its pending row stays pending (outcome unknown): each
    # recovery reports the run again, failed, until someone abandons it; it blocks nothing.
    [again] = r.runner.recover()
    assert (again.run_id, again.status) == (plan.run_id, RunStatus.FAILED)
    after = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert after.status == RunStatus.SUCCEEDED
