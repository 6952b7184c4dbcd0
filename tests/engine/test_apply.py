"""Unit tests of apply / recovery / runner branches the end-to-end tests do not reach.

A scripted fake client stands in for Halo so that each outcome of a write (landed but
unanswered, not applied, rejected, 404) can be chosen per call; the journal is real.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
from apply_support import SandboxFactory, playbook, quiet_logs, rig

from halo_automate.core.outcome import RunOutcome, RunStatus, worst_exit_code
from halo_automate.core.plan import (
    ActionSpec,
    FieldChange,
    Plan,
    RemoveAction,
    TicketChange,
    plan_to_json,
)
from halo_automate.engine.apply import Applier
from halo_automate.engine.runner import Runner
from halo_automate.engine.writes import (
    Todo,
    action_body,
    find_marked,
    marker_of,
    run_marker,
    stale_reason,
)
from halo_automate.errors import (
    HaloNotFoundError,
    HaloRejectedError,
    HaloUnavailableError,
    PlanError,
    WriteOutcomeUnknown,
)
from halo_automate.halo.client import ClientStats, WriteResult
from halo_automate.store.journal import ChangeKind, Journal, NewChange, RunStart

quiet_logs()

Behaviour = str  # "ok" | "unknown" | "landed" (applied, answer lost) | "reject"


class FakeHalo:
    """Tickets and actions in memory; each write call takes the next scripted behaviour."""

    def __init__(self, tickets: dict[int, dict[str, Any]], batch_size: int = 2) -> None:
        self.settings = SimpleNamespace(batch_size=batch_size, identity="https://fake.example")
        self.instance_name = "default"
        self.stats = ClientStats()
        self.tickets = tickets
        self.actions: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.script: dict[str, list[Behaviour]] = defaultdict(list)
        self.calls: list[tuple[str, Any]] = []
        self.fail_reads = False

    def _next(self, kind: str) -> Behaviour:
        return self.script[kind].pop(0) if self.script[kind] else "ok"

    def tickets_by_ids(self, ids: list[int]) -> list[dict[str, Any]]:
        self.stats.count("GET /api/Tickets")
        self.calls.append(("read", list(ids)))
        if self.fail_reads:
            raise HaloUnavailableError("down", endpoint="GET /api/Tickets", status=500)
        return [dict(self.tickets[i]) for i in ids if i in self.tickets]

    def instance_info(self) -> dict[str, Any]:
        """``GET /api/InstanceInfo`` (issue 14: each run that writes reads it once)."""
        return {"app_version": "fake"}

    def list_actions(self, ticket_id: int) -> list[dict[str, Any]]:
        self.stats.count("GET /api/Actions")
        self.calls.append(("list", ticket_id))
        return [dict(a) for a in self.actions[ticket_id]]

    def _apply_ticket(self, item: dict[str, Any]) -> dict[str, Any]:
        ticket = self.tickets[item["id"]]
        ticket.update({k: v for k, v in item.items() if k not in ("id", "dont_do_rules")})
        return dict(ticket)

    def _apply_action(self, item: dict[str, Any]) -> dict[str, Any]:
        rows = self.actions[item["ticket_id"]]
        action = {"id": len(rows) + 1, **item}
        rows.append(action)
        if "new_status" in item:
            self.tickets[item["ticket_id"]]["status_id"] = item["new_status"]
        return action

    def _write(
        self, kind: str, items: list[dict[str, Any]], apply: Callable[[dict[str, Any]], Any]
    ) -> list[WriteResult]:
        self.stats.count(f"POST /api/{kind}")
        self.calls.append((kind, [dict(i) for i in items]))
        how = self._next(kind)
        out = []
        for index, item in enumerate(items):
            tid = item.get("id", item.get("ticket_id"))
            if how == "reject":
                out.append(WriteResult(index, tid, False, None, "Halo says no"))
            elif how in ("unknown", "landed"):
                if how == "landed":
                    apply(item)
                out.append(WriteResult(index, tid, False, None, "(empty body)", unknown=True))
            else:
                out.append(WriteResult(index, tid, True, apply(item)))
        return out

    def write_tickets(self, items: list[dict[str, Any]]) -> list[WriteResult]:
        return self._write("tickets", items, self._apply_ticket)

    def write_actions(self, items: list[dict[str, Any]]) -> list[WriteResult]:
        return self._write("actions", items, self._apply_action)

    def delete_action(self, ticket_id: int, action_id: int) -> None:
        self.stats.count("DELETE /api/Actions/{id}")
        self.calls.append(("delete", (ticket_id, action_id)))
        how = self._next(f"delete:{ticket_id}")
        rows = self.actions[ticket_id]
        present = [a for a in rows if a["id"] == action_id]
        if not present:
            raise HaloNotFoundError("not found", status=404)
        if how == "reject":
            raise HaloRejectedError("cannot delete", status=400)
        if how != "unknown":
            rows.remove(present[0])
        if how in ("unknown", "landed"):
            raise WriteOutcomeUnknown("(empty body)", status=500)


def change(
    tid: int,
    *,
    update: bool = True,
    close: bool = False,
    note: bool = True,
    removals: tuple[RemoveAction, ...] = (),
) -> TicketChange:
    fields = {"priority_id": FieldChange(3, 2)} if update else {}
    acts = []
    if note:
        acts.append(ActionSpec("note", MappingProxyType({"outcome_id": 7, "note": f"n{tid}"})))
    if close:
        fields["status_id"] = FieldChange(1, 9)
        acts.append(ActionSpec("close", MappingProxyType({"outcome_id": 9, "new_status": 9})))
    return TicketChange(
        ticket_id=tid,
        client_name="c",
        summary=f"s{tid}",
        reason="r",
        fields=MappingProxyType(fields),
        ticket_update=MappingProxyType({"priority_id": 2} if update else {}),
        actions=tuple(acts),
        remove_actions=removals,
    )


def make_plan(*changes: TicketChange, halo_rules: bool = False) -> Plan:
    return Plan(
        version=1,
        run_id="20261124T060000-abcdef",
        playbook="pb",
        playbook_hash="h",
        created_at="2026-11-24T06:00:00+00:00",
        mode="apply",
        halo_rules=halo_rules,
        max_changes=100,
        expect_min=None,
        expect_max=None,
        query=MappingProxyType({}),
        scanned=len(changes),
        matched=len(changes),
        changes=changes,
    )


def fresh(ids: list[int]) -> dict[int, dict[str, Any]]:
    return {i: {"id": i, "priority_id": 3, "status_id": 1} for i in ids}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.open(tmp_path / "j.db")


def applier(fake: FakeHalo, journal: Journal, **kwargs: Any) -> Applier:
    return Applier(fake, journal, **kwargs)  # type: ignore[arg-type]


def states(journal: Journal, run_id: str) -> dict[tuple[int, str], str]:
    return {(r.ticket_id, r.field): r.state for r in journal.changes(run_id)}


# ---------------------------------------------------------------------- pure helpers


def test_stale_reason() -> None:
    """A change is stale when its ticket is gone or a checked 'before' no longer holds."""
    c = change(1, close=True)
    assert stale_reason(c, None) == "ticket no longer exists (deleted or out of reach)"
    assert stale_reason(c, {"priority_id": 3, "status_id": 1}) is None
    reason = stale_reason(c, {"priority_id": 3, "status_id": 4})
    assert reason == "changed since the plan: status_id is 4, plan expected 1"
    assert stale_reason(c, {"priority_id": 3, "status_id": 4}, ["priority_id"]) is None


def test_markers_are_distinct_per_action() -> None:
    """Each action of a ticket has its own marker, found in note or note_html text."""
    assert run_marker("R") == "[halo-automate run R]"
    assert run_marker("R", 1) == "[halo-automate run R #2]"
    assert marker_of("text\n\n[halo-automate run R #2]") == "[halo-automate run R #2]"
    assert marker_of("no marker") is None
    acts = [
        {"id": 1, "note": "x [halo-automate run R #2]"},
        {"id": 2, "note_html": "<p>[halo-automate run R]</p>"},
    ]
    assert find_marked(acts, "y\n\n[halo-automate run R]") == acts[1]
    assert find_marked(acts, "[halo-automate run R #2]") == acts[0]
    assert find_marked(acts, "[halo-automate run Q]") is None


def test_action_body_adds_ticket_marker_and_flags() -> None:
    """The posted body adds ticket id, marker, sendemail false by default and dont_do_rules
    unless the playbook lets Halo's rules run; a planned sendemail is kept."""
    spec = ActionSpec("close", MappingProxyType({"outcome_id": 9, "sendemail": True}))
    body = action_body(make_plan(), 4, spec, 1)
    assert body == {
        "ticket_id": 4,
        "outcome_id": 9,
        "sendemail": True,
        "note": "[halo-automate playbook pb] [halo-automate run 20261124T060000-abcdef #2]",
        "dont_do_rules": True,
    }
    plain = action_body(make_plan(halo_rules=True), 4, ActionSpec("note", {"note": "hi"}))
    assert plain == {
        "ticket_id": 4,
        "note": "hi\n\n[halo-automate playbook pb] [halo-automate run 20261124T060000-abcdef]",
        "sendemail": False,
    }


def test_todo_checks_only_the_fields_its_parts_write() -> None:
    """A todo's stale check covers the update's fields and, with the carrier action, the
    fields that action carries."""
    c = change(1, close=True)
    assert Todo.whole(c).checked_fields() == ["priority_id", "status_id"]
    assert Todo(c, False, (1,), ()).checked_fields() == ["status_id"]
    assert Todo(c, False, (0,), ()).checked_fields() == []
    assert Todo(c, False, (), ()).parts == 0


# ---------------------------------------------------------------------- applier with a fake


def run(fake: FakeHalo, journal: Journal, plan: Plan, **kwargs: Any) -> Any:
    return applier(fake, journal, **kwargs).apply(plan, trigger="cli", started_by="t")


def test_unknown_outcome_that_landed_is_not_resent(journal: Journal) -> None:
    """A write answered 500 after it was applied is read back and settled, never re-sent; an
    action found by its marker keeps its id for undo."""
    fake = FakeHalo(fresh([1, 2]))
    fake.script["tickets"] = ["landed"]
    fake.script["actions"] = ["landed"]
    plan = make_plan(change(1), change(2))
    report = run(fake, journal, plan)
    assert report.status == "succeeded" and report.changed == 2
    assert [k for k, _ in fake.calls if k in ("tickets", "actions")] == ["tickets", "actions"]
    assert set(states(journal, plan.run_id).values()) == {"done"}
    action_rows = [
        r for r in journal.changes(plan.run_id) if (r.kind, r.field) == (ChangeKind.ACTION, "note")
    ]
    assert [r.action_ids for r in action_rows] == [(1,), (1,)]


def test_unknown_outcome_not_applied_is_resent_once(journal: Journal) -> None:
    """A write answered 500 unapplied is read back, found absent, and re-sent."""
    fake = FakeHalo(fresh([1]))
    fake.script["tickets"] = ["unknown"]
    fake.script["actions"] = ["unknown"]
    plan = make_plan(change(1))
    report = run(fake, journal, plan)
    assert report.status == "succeeded"
    assert [k for k, _ in fake.calls] == [  # "read" before "actions": the duplicate check
        "read", "tickets", "read", "tickets", "read", "actions", "list", "actions",
    ]  # fmt: skip
    assert len(fake.actions[1]) == 1 and fake.tickets[1]["priority_id"] == 2


def test_write_that_never_lands_fails_after_the_resends(journal: Journal) -> None:
    """A write that stays unapplied is re-sent at most ``resends`` times, then reported."""
    fake = FakeHalo(fresh([1]))
    fake.script["tickets"] = ["unknown"] * 3
    plan = make_plan(change(1))
    report = run(fake, journal, plan)
    assert report.status == "partial" and report.failed == 1
    assert report.failures == ((1, "not applied after 3 tries; Halo's last answer: (empty body)"),)
    assert sum(1 for k, _ in fake.calls if k == "tickets") == 3
    assert not [k for k, _ in fake.calls if k == "actions"]  # no actions for a failed ticket
    assert set(states(journal, plan.run_id).values()) == {"failed"}


def test_resend_rejected_is_a_failure(journal: Journal) -> None:
    """A re-sent write that Halo rejects fails the ticket with Halo's message."""
    fake = FakeHalo(fresh([1]))
    fake.script["actions"] = ["unknown", "reject"]
    report = run(fake, journal, make_plan(change(1)))
    assert report.failures == ((1, "Halo says no"),)


def test_resend_unknown_again_is_read_back_again(journal: Journal) -> None:
    """A re-send whose outcome is again unknown is read back before any further re-send."""
    fake = FakeHalo(fresh([1]))
    fake.script["actions"] = ["unknown", "landed"]
    report = run(fake, journal, make_plan(change(1)))
    assert report.status == "succeeded" and len(fake.actions[1]) == 1
    assert [k for k, _ in fake.calls][-4:] == ["actions", "list", "actions", "list"]


def test_failed_read_back_leaves_rows_pending_for_recovery(journal: Journal) -> None:
    """When the read-back after an unknown outcome fails too, the rows stay pending, the ticket
    is reported (no further parts), the run goes on, and recovery settles it later."""
    fake = FakeHalo(fresh([1, 2, 3]))
    fake.script["tickets"] = ["unknown"]
    original = fake.write_tickets

    def outage_after(items: list[dict[str, Any]]) -> list[WriteResult]:
        out = original(items)
        fake.fail_reads = len(fake.calls) == 2  # an outage right after the first batch
        return out

    fake.write_tickets = outage_after  # type: ignore[method-assign]
    plan = make_plan(change(1), change(2), change(3))
    report = run(fake, journal, plan)
    assert report.status == "partial" and (report.changed, report.failed) == (1, 2)
    assert report.failures[0][1].startswith("outcome unknown (read-back failed: ")
    assert sorted(fake.actions) == [3]
    assert {r.ticket_id for r in journal.pending(plan.run_id)} == {1, 2}
    fake.fail_reads = False
    outcome = recover(fake, journal)
    assert outcome.status == "succeeded" and outcome.changed == 3
    assert sorted(fake.actions) == [1, 2, 3]
    assert journal.pending() == []


def test_unknown_write_on_a_ticket_someone_edited_is_skipped(journal: Journal) -> None:
    """If the read-back finds a third value (someone else's edit), the write is skipped and
    the ticket gets none of its actions."""
    fake = FakeHalo(fresh([1, 2]))
    fake.script["tickets"] = ["unknown"]
    original = fake.write_tickets

    def edit_then_write(items: list[dict[str, Any]]) -> list[WriteResult]:
        out = original(items)
        fake.tickets[1]["priority_id"] = 1
        del fake.tickets[2]
        return out

    fake.write_tickets = edit_then_write  # type: ignore[method-assign]
    report = run(fake, journal, make_plan(change(1), change(2)))
    assert report.status == "partial" and report.skipped == 2
    assert dict(report.skips) == {
        1: "changed by someone else: priority_id is 1, expected 3",
        2: "ticket no longer exists (deleted or out of reach)",
    }
    assert not fake.actions


def test_rejected_update_gets_no_actions(journal: Journal) -> None:
    """A ticket whose update Halo rejects is failed with Halo's message; its note is not posted
    and the other tickets are unaffected."""
    fake = FakeHalo(fresh([1, 2, 3]))
    fake.script["tickets"] = ["reject"]
    report = run(fake, journal, make_plan(change(1), change(2), change(3)))
    assert report.failures == ((1, "Halo says no"), (2, "Halo says no"))
    assert list(fake.actions) == [3]
    assert (report.changed, report.failed, report.status) == (1, 2, "partial")


def test_stop_finishes_started_tickets_only(journal: Journal) -> None:
    """After a stop request no new ticket is started, but started tickets get all their parts;
    the run ends interrupted and progress reaches its total."""
    fake = FakeHalo(fresh([1, 2, 3, 4]))
    seen: list[tuple[int, int]] = []
    a = applier(fake, journal, progress=lambda done, total: seen.append((done, total)))
    original = fake.write_tickets

    def stop_after_first(items: list[dict[str, Any]]) -> list[WriteResult]:
        a.request_stop()
        return original(items)

    fake.write_tickets = stop_after_first  # type: ignore[method-assign]
    plan = make_plan(*(change(i) for i in (1, 2, 3, 4)))
    report = a.apply(plan, trigger="cli", started_by="t")
    assert a.stopping and report.status == "interrupted"
    assert (report.changed, report.failed, report.skipped, report.planned) == (2, 0, 0, 4)
    assert sorted(fake.actions) == [1, 2]
    assert seen == [(2, 8), (4, 8), (8, 8)]
    assert journal.get_run(plan.run_id).status == "interrupted"


def test_halo_error_fails_the_run(journal: Journal) -> None:
    """A Halo outage during the stale check fails the run (journaled) with the error."""
    fake = FakeHalo(fresh([1]))
    fake.fail_reads = True
    plan = make_plan(change(1))
    report = run(fake, journal, plan)
    assert report.status == "failed" and isinstance(report.error, HaloUnavailableError)
    row = journal.get_run(plan.run_id)
    assert row.status == "failed" and "down" in (row.message or "")


def test_lost_lock_stops_before_the_next_batch(journal: Journal) -> None:
    """A run whose playbook lock was lost stops before sending its next batch, failed, and
    leaves its run to recovery."""
    from halo_automate.errors import LockedError

    fake = FakeHalo(fresh([1, 2, 3]))
    original = fake.write_tickets
    plan = make_plan(change(1), change(2), change(3))

    def lose_lock(items: list[dict[str, Any]]) -> list[WriteResult]:
        journal.release_lock("pb", plan.run_id)
        return original(items)

    fake.write_tickets = lose_lock  # type: ignore[method-assign]
    report = run(fake, journal, plan)
    assert report.status == "failed" and isinstance(report.error, LockedError)
    assert sum(1 for k, _ in fake.calls if k == "tickets") == 1
    # issue 13: a holder that lost its lock journals nothing further; recovery finishes it
    assert journal.get_run(plan.run_id).status == "running"
    assert [r.run_id for r in journal.interrupted_runs()] == [plan.run_id]


def removal_plan(*scripts: list[str]) -> tuple[FakeHalo, Plan]:
    """One ticket per script of delete outcomes, each with one action the plan removes."""
    ids = list(range(1, len(scripts) + 1))
    fake = FakeHalo(fresh(ids))
    for tid, script in zip(ids, scripts, strict=True):
        fake.actions[tid].append({"id": 1, "ticket_id": tid, "note": "old"})
        fake.script[f"delete:{tid}"] = script
    changes = [
        change(t, update=False, note=False, removals=(RemoveAction(1, {"note": "old"}),))
        for t in ids
    ]
    return fake, make_plan(*changes)


def test_removals_settle_every_delete_outcome(journal: Journal) -> None:
    """Deletes: done when Halo deletes; skipped when already gone (404); read back when the
    outcome is unknown (done if gone, re-deleted if still there); failed when rejected."""
    fake, plan = removal_plan(["ok"], ["ok"], ["landed"], ["unknown"], ["reject"])
    fake.actions[2].clear()  # someone deleted it already: Halo answers 404
    report = run(fake, journal, plan)
    got = {(r.ticket_id, r.state, r.message) for r in journal.changes(plan.run_id)}
    assert got == {
        (1, "done", None),
        (2, "skipped", "action already gone"),
        (3, "done", None),
        (4, "done", None),
        (5, "failed", "cannot delete"),
    }
    assert [c for c in fake.calls if c[0] == "delete"].count(("delete", (4, 1))) == 2
    assert {t: len(a) for t, a in fake.actions.items()} == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}
    assert report.failures == ((5, "cannot delete"),)


def test_delete_that_stays_unknown_fails(journal: Journal) -> None:
    """A delete whose outcome stays unknown while the action remains is reported failed."""
    fake, plan = removal_plan(["unknown"] * 3)
    report = run(fake, journal, plan)
    assert report.failures == ((1, "not applied after 3 tries; Halo's last answer: (empty body)"),)


# ---------------------------------------------------------------------- recovery with a fake


def crashed(journal: Journal, plan: Plan, rows: list[NewChange]) -> list[int]:
    journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    return journal.add_changes(plan.run_id, rows)


def recover(fake: FakeHalo, journal: Journal) -> RunOutcome:
    [outcome] = Runner(fake, journal).recover()  # type: ignore[arg-type]
    return outcome


def test_recovery_settles_pending_deletes(journal: Journal) -> None:
    """A pending action removal is done when the action is gone, re-sent when it is not."""
    fake, plan = removal_plan(["ok"], ["ok"])
    fake.actions[2].clear()
    rows = [
        NewChange(t, "", {"note": "old"}, None, kind=ChangeKind.ACTION_DELETE, action_id=1)
        for t in (1, 2)
    ]
    crashed(journal, plan, rows)
    outcome = recover(fake, journal)
    assert outcome.status == "succeeded" and outcome.changed == 2
    assert [c for c in fake.calls if c[0] == "delete"] == [("delete", (1, 1))]
    assert {r.message for r in journal.changes(plan.run_id)} == {
        None, "landed before the interruption",
    }  # fmt: skip


def test_recovery_of_a_carried_row_without_its_action_row(journal: Journal) -> None:
    """A pending carried field without a pending action row is done if it landed, else
    failed (its outcome cannot be known)."""
    fake = FakeHalo(fresh([1, 2]))
    fake.tickets[1]["status_id"] = 9
    plan = make_plan(change(1, update=False, close=True), change(2, update=False, close=True))
    ids = crashed(journal, plan, [NewChange(t, "status_id", 1, 9, 3) for t in (1, 2)])
    outcome = recover(fake, journal)
    assert outcome.status == "partial"
    assert outcome.failures == ((2, "outcome unknown"),)
    rows = {r.id: r for r in journal.changes(plan.run_id)}
    assert (rows[ids[0]].state, rows[ids[0]].message) == ("done", "landed before the interruption")
    assert rows[ids[1]].state == "failed"


def test_recovery_posts_the_actions_a_started_ticket_never_journaled(journal: Journal) -> None:
    """A ticket whose update landed before the crash but whose note was never journaled gets
    its note from recovery (and only that)."""
    fake = FakeHalo(fresh([1, 2]))
    plan = make_plan(change(1, close=True), change(2, close=True))
    ids = crashed(journal, plan, [NewChange(1, "priority_id", 3, 2, 1)])
    journal.mark(ids, "done")
    fake.tickets[1]["priority_id"] = 2
    outcome = recover(fake, journal)
    assert outcome.status == "succeeded" and outcome.changed == 2
    writes = [c for c in fake.calls if c[0] in ("tickets", "actions")]
    assert [(kind, [i.get("id", i.get("ticket_id")) for i in items]) for kind, items in writes] == [
        ("tickets", [2]),
        ("actions", [1, 2]),  # every ticket's note first,
        ("actions", [1, 2]),  # then every close
    ]
    assert fake.tickets[1]["status_id"] == fake.tickets[2]["status_id"] == 9
    batches = {r.batch for r in journal.changes(plan.run_id)}
    assert batches == {1, 2, 3, 4}  # recovery continues the batch numbering


# ---------------------------------------------------------------------- runner


def test_exit_code_and_summary() -> None:
    """Partial and interrupted runs map to exit 5; the summary drops the per-ticket lists."""
    ok = RunOutcome("r", "p", "apply", "succeeded", seconds=1.23456, failures=((1, "x"),))
    assert worst_exit_code([ok]) == 0
    assert worst_exit_code([ok, RunOutcome("r", "p", "apply", RunStatus.PARTIAL)]) == 5
    assert worst_exit_code([RunOutcome("r", "p", "apply", RunStatus.INTERRUPTED)]) == 5
    summary = ok.summary()
    assert "failures" not in summary and summary["seconds"] == 1.235


def test_runner_journals_a_planning_failure(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run whose planning fails is journaled failed with the reason, returned with it."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    pb = playbook("bulk-edit-woodgrove")
    pb = pb.model_copy(update={"select": {**pb.select, "client_id": "No Such Client"}})
    outcome = r.runner.run(pb, trigger="schedule", confirm=None)
    assert outcome.status == "failed" and isinstance(outcome.error, PlanError)
    [row] = r.journal.runs()
    assert row.status == "failed" and "No Such Client" in (row.message or "")


def test_runner_preview_only_and_saved_plan_once(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A preview is journaled without writing; a saved plan applies once, never twice."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    preview = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    assert preview.status == "previewed" and preview.changed > 0
    assert r.sb.counters["writes_applied"] == 0
    plan = r.runner.plan(playbook("close-spam"))
    assert r.runner.apply_saved(plan, confirm=lambda p: True).status == "succeeded"
    again = r.runner.apply_saved(plan, confirm=None)
    assert isinstance(again.error, PlanError) and "already applied" in (again.message or "")
    assert len(r.journal.runs()) == 2  # the preview and the applied plan; not journaled again


def test_runner_stop_reaches_a_running_apply(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """request_stop during an apply stops the running applier after its started tickets."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    r.runner.progress = lambda done, total: r.runner.request_stop()
    outcome = r.runner.run(playbook("close-spam"), trigger="schedule", confirm=None)
    assert outcome.status == "interrupted" and outcome.changed == 5
    assert r.sb.counters["writes_applied"] == 1


def test_runner_reports_a_failed_apply(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    """A Halo outage during apply is summarised as failed with the error; the journal says
    failed, once, with the whole run's requests."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    r.sb.set_faults(fail_rate=1.0)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "failed" and isinstance(outcome.error, HaloUnavailableError)
    assert outcome.exit_code == 3
    row = r.journal.get_run(plan.run_id)
    assert row.status == "failed" and row.counts.requests == outcome.requests > 0


def test_now_is_used_for_run_ids(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    """The runner's clock names its runs."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    r.runner.now = lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None, preview_only=True)
    assert outcome.run_id.startswith("20300102T030405-")
