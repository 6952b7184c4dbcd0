"""Plans held for approval (issue 16): held with their plan, decided once, applied exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_support import client_for, differences, planned_state, playbook, tickets
from clock import FakeClock

from halo_automate.core.approval import ApprovalPolicy
from halo_automate.core.outcome import RunStatus
from halo_automate.core.plan import plan_from_json
from halo_automate.core.playbook import Playbook
from halo_automate.engine import approvals
from halo_automate.engine.runner import Runner
from halo_automate.errors import ApprovalError, RefusedError, UnknownApprovalError
from halo_automate.sandbox import SandboxServer
from halo_automate.store.approvals import ApprovalRequest
from halo_automate.store.journal import Journal, RunStart

PLANNER = "planner@desk pid 1"


def gated(policy: ApprovalPolicy | None = None, max_changes: int = 500) -> Playbook:
    pb = playbook("close-spam", max_changes=max_changes)
    policy = policy or ApprovalPolicy(above=3, expires="2h", approver_must_differ=True)
    return pb.model_copy(update={"approval": policy})


class Rig:
    def __init__(self, sb: SandboxServer, path: Path, clock: FakeClock) -> None:
        self.sb = sb
        self.clock = clock
        self.client = client_for(sb)
        self.journal = Journal.open(path, clock=clock.now)
        self.runner = Runner(self.client, self.journal, now=clock.now, started_by=PLANNER)


@pytest.fixture
def r(sandbox: SandboxServer, tmp_path: Path) -> Rig:
    return Rig(sandbox, tmp_path / "j.db", FakeClock())


def test_plan_above_threshold_waits_with_its_plan_and_writes_nothing(r: Rig) -> None:
    """A plan above ``approval.above`` is journaled awaiting_approval with its plan; listed."""
    outcome = r.runner.run(gated(), trigger="schedule", confirm=None)
    assert outcome.status == RunStatus.AWAITING_APPROVAL and outcome.exit_code == 0
    assert outcome.planned > 3 and outcome.changed == 0
    assert r.sb.counters["writes_applied"] == 0
    row = r.journal.get_run(outcome.run_id)
    assert row.status == "awaiting_approval" and f"approve {outcome.run_id}" in (row.message or "")
    assert r.journal.plan_json(outcome.run_id) is not None
    [item] = approvals.waiting(r.journal, r.clock.now())
    assert item.to_json() == {
        "run_id": outcome.run_id,
        "playbook": "close-spam",
        "instance": "default",
        "changes": outcome.planned,
        "requested_by": PLANNER,
        "requested_at": "2026-01-05T09:00:00+00:00",
        "expires_at": "2026-01-05T11:00:00+00:00",
        "approver_must_differ": True,
    }


def test_plan_within_threshold_applies_at_once(r: Rig) -> None:
    """A plan of no more than ``above`` changes applies as before, nothing waits."""
    outcome = r.runner.run(gated(ApprovalPolicy(above=500)), trigger="cli", confirm=None)
    assert outcome.status == RunStatus.SUCCEEDED and outcome.changed > 0
    assert approvals.waiting(r.journal, r.clock.now()) == []


def test_limits_still_refuse_before_anything_waits(r: Rig) -> None:
    """A plan over max_changes is refused, not held: approval never lifts a limit."""
    outcome = r.runner.run(gated(max_changes=2), trigger="schedule", confirm=None)
    assert outcome.status == RunStatus.REFUSED and isinstance(outcome.error, RefusedError)
    assert approvals.waiting(r.journal, r.clock.now()) == []


def test_a_second_run_does_not_pile_up_a_second_plan(r: Rig) -> None:
    """While a plan waits, a new run of its playbook plans nothing and journals nothing."""
    first = r.runner.run(gated(), trigger="schedule", confirm=None)
    before = r.client.stats.snapshot()["requests"]
    again = r.runner.run(gated(), trigger="schedule", confirm=None)
    assert again.status == RunStatus.AWAITING_APPROVAL and again.run_id == first.run_id
    assert "nothing was planned" in (again.message or "")
    assert r.client.stats.snapshot()["requests"] == before  # not even a read
    assert [run.run_id for run in r.journal.runs()] == [first.run_id]
    assert len(approvals.waiting(r.journal, r.clock.now())) == 1


def test_approved_plan_is_applied_exactly_once(r: Rig) -> None:
    """Approval by another person, then apply: the sandbox holds exactly the held plan; the
    waiting run says where it was applied; a second apply is refused."""
    held = r.runner.run(gated(), trigger="schedule", confirm=None)
    plan_before = tickets(r.sb)
    with pytest.raises(ApprovalError, match="approver_must_differ"):
        approvals.approve(r.journal, held.run_id, "Planner", r.clock.now())
    with pytest.raises(ApprovalError, match="not approved yet"):
        r.runner.apply_approved(held.run_id, confirm=None)
    decided = approvals.approve(r.journal, held.run_id, "alice", r.clock.now())
    assert (decided.state, decided.decided_by) == ("approved", "alice")
    assert approvals.waiting(r.journal, r.clock.now()) == []
    applied = r.runner.apply_approved(held.run_id, confirm=None)
    assert applied.status == RunStatus.SUCCEEDED and applied.run_id != held.run_id
    assert applied.trigger == "approval" and applied.changed == held.planned
    plan = plan_from_json(r.journal.plan_json(held.run_id) or "")
    assert differences(tickets(r.sb), planned_state(plan_before, plan)) == []
    row = r.journal.get_run(held.run_id)
    assert row.status == "approved" and f"applied as run {applied.run_id}" in (row.message or "")
    with pytest.raises(ApprovalError, match=f"applied as run {applied.run_id}"):
        r.runner.apply_approved(held.run_id, confirm=None)
    with pytest.raises(ApprovalError, match="applied as run"):
        approvals.approve(r.journal, held.run_id, "bob", r.clock.now())


def test_apply_of_an_approved_plan_keeps_the_stale_check(r: Rig) -> None:
    """A ticket someone edited after the plan was made is skipped, never overwritten."""
    held = r.runner.run(gated(), trigger="schedule", confirm=None)
    first = plan_from_json(r.journal.plan_json(held.run_id) or "").changes[0]
    r.sb.edit_ticket(first.ticket_id, status_id=2)
    approvals.approve(r.journal, held.run_id, "alice", r.clock.now())
    applied = r.runner.apply_approved(held.run_id, confirm=None)
    assert applied.status == RunStatus.PARTIAL and applied.skipped == 1
    assert [tid for tid, _ in applied.skips] == [first.ticket_id]
    assert r.sb.state.tickets[first.ticket_id]["status_id"] == 2


def test_rejected_plan_is_never_applied(r: Rig) -> None:
    """A rejection needs a reason, is journaled with it, and the plan can never be applied."""
    held = r.runner.run(gated(), trigger="schedule", confirm=None)
    with pytest.raises(ApprovalError, match="reason"):
        approvals.reject(r.journal, held.run_id, "alice", "  ", r.clock.now())
    row = approvals.reject(r.journal, held.run_id, PLANNER, "too broad", r.clock.now())
    assert (row.state, row.reason) == ("rejected", "too broad")
    assert r.journal.get_run(held.run_id).status == "rejected"
    with pytest.raises(ApprovalError, match="rejected by"):
        r.runner.apply_approved(held.run_id, confirm=None)
    assert r.sb.counters["writes_applied"] == 0
    again = r.runner.run(gated(), trigger="schedule", confirm=None)  # a fresh plan may wait
    assert again.status == RunStatus.AWAITING_APPROVAL and again.run_id != held.run_id


def test_expired_plan_is_journaled_expired_and_never_applied(r: Rig) -> None:
    """Past ``expires`` a plan leaves the queue, is journaled expired, and cannot be approved
    or applied, even if it was approved in time but not applied."""
    held = r.runner.run(gated(), trigger="schedule", confirm=None)
    r.clock.advance(hours=2)
    assert approvals.waiting(r.journal, r.clock.now()) == []
    with pytest.raises(ApprovalError, match="expired"):
        approvals.approve(r.journal, held.run_id, "alice", r.clock.now())
    assert r.journal.get_run(held.run_id).status == "expired"
    second = r.runner.run(gated(), trigger="schedule", confirm=None)
    approvals.approve(r.journal, second.run_id, "alice", r.clock.now())
    r.clock.advance(hours=3)
    assert [row.run_id for row in approvals.expire_due(r.journal, r.clock.now())] == [second.run_id]
    with pytest.raises(ApprovalError, match="expired"):
        r.runner.apply_approved(second.run_id, confirm=None)
    assert r.sb.counters["writes_applied"] == 0


def test_declined_confirmation_leaves_the_plan_approved(r: Rig) -> None:
    """``approve --apply`` answered no writes nothing and keeps the plan approved."""
    held = r.runner.run(gated(), trigger="schedule", confirm=None)
    approvals.approve(r.journal, held.run_id, "alice", r.clock.now())
    with pytest.raises(RefusedError, match="still approved"):
        r.runner.apply_approved(held.run_id, confirm=lambda plan: False)
    assert r.journal.approval(held.run_id).applied_run_id is None  # type: ignore[union-attr]
    assert r.runner.apply_approved(held.run_id, confirm=lambda plan: True).ok


def test_unknown_run_id_is_invalid_input(r: Rig) -> None:
    """A run id that never waited is invalid input (exit 2), not a refusal."""
    with pytest.raises(UnknownApprovalError) as raised:
        approvals.approve(r.journal, "20260101T000000-abcdef", "alice", r.clock.now())
    assert raised.value.exit_code == 2


def test_two_planners_at_once_leave_one_plan_waiting(tmp_path: Path) -> None:
    """The journal's own check: a second hold for the same playbook and instance is
    journaled refused and names the plan that waits."""
    clock = FakeClock()
    journal = Journal.open(tmp_path / "j.db", clock=clock.now)
    now = clock.now()
    request = ApprovalRequest(5, PLANNER, now, now.replace(hour=23), False)
    for run_id in ("r1", "r2"):
        start = RunStart(run_id=run_id, playbook="p", playbook_hash="h", mode="apply",
                         trigger="schedule", plan_json="{}")  # fmt: skip
        held = journal.hold_for_approval(start, request, "waits", refused_message="busy {run_id}")
    assert held is not None and held.run_id == "r1"
    assert journal.get_run("r2").status == "refused" and journal.get_run("r2").message == "busy r1"
    assert [a.run_id for a in journal.approvals(open_only=True)] == ["r1"]


def test_previews_are_never_held_nor_blocked(r: Rig) -> None:
    """A preview of a playbook that needs approval plans (even while a plan waits), holds
    nothing and writes nothing."""
    preview = r.runner.run(gated(), trigger="cli", confirm=None, preview_only=True)
    assert preview.status == RunStatus.PREVIEWED and preview.planned > 3
    held = r.runner.run(gated(), trigger="schedule", confirm=None)
    again = r.runner.run(gated(), trigger="cli", confirm=None, preview_only=True)
    assert again.status == RunStatus.PREVIEWED and again.run_id != held.run_id
    assert [a.run_id for a in approvals.waiting(r.journal, r.clock.now())] == [held.run_id]
    assert r.sb.counters["writes_applied"] == 0
