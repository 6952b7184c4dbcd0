"""The approvals queue on the web: the planner cannot approve their own plan when the playbook
says approver_must_differ; another user approves and the plan is applied to the sandbox;
a rejection needs a reason and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_support import Rig, SandboxFactory, differences, planned_state, playbook, rig, tickets
from starlette.testclient import TestClient
from web_support import client_of, console_for, csrf_of, login

from halo_automate.core.approval import ApprovalPolicy
from halo_automate.engine.runner import Runner
from halo_automate.sandbox import SandboxServer
from halo_automate.web.console import Console


@pytest.fixture
def held(sandbox: SandboxServer, tmp_path: Path) -> tuple[Rig, str]:
    """close-spam needing approval from another person, planned by alice: waiting."""
    r = rig(sandbox, tmp_path / "journal.db")
    r.runner = Runner(r.client, r.journal, started_by="alice@desk pid 7")
    policy = ApprovalPolicy(required=True, approver_must_differ=True)
    pb = playbook("close-spam").model_copy(update={"approval": policy})
    outcome = r.runner.run(pb, trigger="schedule", confirm=None)
    assert outcome.status == "awaiting_approval"
    return r, outcome.run_id


def queue_token(client: TestClient) -> str:
    return csrf_of(client.get("/approvals").text)


def test_the_planner_cannot_approve_their_own_plan(held: tuple[Rig, str], tmp_path: Path) -> None:
    r, run_id = held
    before = tickets(r.sb)
    client = client_of(console_for(tmp_path, r))
    login(client, "alice")
    page = client.get("/approvals").text
    assert "You planned this run: another person must approve it." in page
    assert f'id="approve-{run_id}"' not in page
    answer = client.post(f"/approvals/{run_id}/approve", data={"csrf_token": queue_token(client)})
    assert answer.status_code == 409
    assert "another person must approve it" in answer.text
    assert r.journal.approval(run_id).state == "waiting"  # type: ignore[union-attr]
    assert tickets(r.sb) == before


def test_another_user_approves_and_the_plan_lands_in_the_sandbox(
    held: tuple[Rig, str], tmp_path: Path
) -> None:
    r, run_id = held
    before = tickets(r.sb)
    plan = r.plan_of(run_id)
    console = console_for(tmp_path, r)
    client = client_of(console)
    login(client, "bob")
    queue = client.get("/approvals").text
    assert f'id="approve-{run_id}"' in queue
    assert f">{plan.changes[0].ticket_id}<" in queue  # the diff is in the queue
    answer = client.post(f"/approvals/{run_id}/approve", data={"csrf_token": queue_token(client)})
    assert (answer.status_code, answer.headers["location"]) == (303, f"/runs/{run_id}")
    console.close()  # waits for the queued apply
    assert differences(tickets(r.sb), planned_state(before, plan)) == []
    row = r.journal.approval(run_id)
    assert row is not None and row.decided_by == "bob" and row.applied_run_id
    page = client.get(f"/runs/{run_id}").text
    assert f'applied as run <a href="/runs/{row.applied_run_id}">' in page
    applied = client.get(f"/runs/{row.applied_run_id}").text
    assert "approval" in applied and f"<dd>{len(plan.changes)}</dd>" in applied
    again = client.post(f"/approvals/{run_id}/approve", data={"csrf_token": queue_token(client)})
    assert again.status_code == 409 and "applied as run" in again.text


def test_a_rejection_needs_a_reason_and_writes_nothing(
    held: tuple[Rig, str], tmp_path: Path
) -> None:
    r, run_id = held
    before = tickets(r.sb)
    console: Console = console_for(tmp_path, r)
    client = client_of(console)
    login(client, "bob")
    token = queue_token(client)
    blank = client.post(f"/approvals/{run_id}/reject", data={"csrf_token": token, "reason": " "})
    assert blank.status_code == 409
    answer = client.post(
        f"/approvals/{run_id}/reject", data={"csrf_token": token, "reason": "too broad"}
    )
    assert answer.status_code == 303
    console.close()
    assert tickets(r.sb) == before
    assert "Rejected by bob" in client.get(f"/runs/{run_id}").text
    assert "No plan is waiting for approval." in client.get("/approvals").text


def test_approving_is_never_a_get(held: tuple[Rig, str], tmp_path: Path) -> None:
    r, run_id = held
    client = client_of(console_for(tmp_path, r))
    login(client, "bob")
    assert client.get(f"/approvals/{run_id}/approve").status_code == 405
    assert r.journal.approval(run_id).state == "waiting"  # type: ignore[union-attr]


def test_a_held_merge_shows_its_groups_and_that_it_cannot_be_undone(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Issue 18: an approver of a merge sees each group (survivor kept, duplicates, key) and
    "cannot be undone" in the queue and on the run's page before deciding."""
    r = rig(sandbox_factory(duplicates=True), tmp_path / "journal.db")
    outcome = r.runner.run(playbook("merge-alert-duplicates"), trigger="cli", confirm=None)
    assert outcome.status == "awaiting_approval"
    plan = r.plan_of(outcome.run_id)
    client = client_of(console_for(tmp_path, r))
    login(client, "bob")
    queue = client.get("/approvals").text
    first = plan.groups[0]
    assert f"Group: keep #{first.survivor}" in queue
    assert queue.count("cannot be undone") >= len(plan.groups)
    page = client.get(f"/runs/{outcome.run_id}").text
    assert f"Group: keep #{first.survivor}" in page and "cannot be undone" in page
