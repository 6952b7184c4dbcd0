"""The runner keeps to its own Halo instance (issue 12, instances): it refuses a playbook whose
`instances:` leaves its instance out before any request, and its recovery finishes only the
interrupted runs of its own Halo, never another instance's plan. Two sandboxes, one journal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from apply_support import SandboxFactory, client_for, playbook, quiet_logs, tickets

from halo_automate.core.outcome import RunStatus
from halo_automate.core.plan import plan_to_json
from halo_automate.engine.runner import Runner
from halo_automate.engine.writes import action_body
from halo_automate.errors import ConfigError, ExitCode
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.journal import ChangeKind, Journal, NewChange, RunStart

quiet_logs()


def runner_on(sb: SandboxServer, name: str, journal: Journal) -> Runner:
    base = client_for(sb)
    client = HaloClient(base.settings, retry=base.retry, instance_name=name)
    base.close()
    return Runner(client, journal, started_by="tests")


def test_a_playbook_not_for_this_instance_is_refused_before_any_request(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A playbook with `instances: [uat]` is a ConfigError (exit 2) on the runner of prod:
    plan() raises it and run() ends with it, journaled, without one request to prod."""
    prod = sandbox_factory()
    journal = Journal.open(tmp_path / "j.db")
    runner = runner_on(prod, "prod", journal)
    for_uat = playbook("close-spam").model_copy(update={"instances": ("uat",)})
    with pytest.raises(ConfigError, match="'close-spam' is not allowed on instance 'prod'"):
        runner.plan(for_uat)
    outcome = runner.run(for_uat, trigger="cli", confirm=None)
    assert (outcome.status, outcome.exit_code) == (RunStatus.FAILED, ExitCode.INVALID)
    assert "not allowed on instance 'prod'" in (outcome.message or "")
    assert prod.counters["requests"] == 0 and prod.counters["tokens_issued"] == 0
    assert journal.get_run(outcome.run_id).instance_name == "prod"
    on_prod = playbook("close-spam").model_copy(update={"instances": ("prod", "uat")})
    assert runner.plan(on_prod).changes  # listed: allowed


def test_recovery_finishes_only_the_runs_of_its_own_halo(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run on uat interrupted with a pending write (the rest of its plan unwritten) is left
    alone by prod's runner (no request reaches prod: its tickets are not uat's) and finished
    by uat's, which writes the rest of the plan to uat."""
    prod, uat = sandbox_factory(), sandbox_factory()
    journal = Journal.open(tmp_path / "j.db")
    on_prod, on_uat = runner_on(prod, "prod", journal), runner_on(uat, "uat", journal)
    plan = on_uat.plan(playbook("close-spam"))
    plan = dataclasses.replace(plan, changes=plan.changes[:3])
    first = plan.changes[0]
    journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan),
                 instance_name="uat", instance_identity=on_uat.client.settings.identity)
    )  # fmt: skip
    body = action_body(plan, first.ticket_id, first.actions[0], 0)
    journal.add_changes(
        plan.run_id,
        [NewChange(first.ticket_id, first.actions[0].kind, None, body, 1, ChangeKind.ACTION)],
    )
    prod_before = tickets(prod)
    prod.reset_counters()
    uat.reset_counters()

    assert on_prod.recover() == []
    assert prod.counters["requests"] == 0 and tickets(prod) == prod_before
    assert journal.get_run(plan.run_id).status == "running"

    [outcome] = on_uat.recover()
    assert outcome.status == RunStatus.SUCCEEDED, outcome.message
    assert uat.counters["writes_applied"] > 0
    assert {uat.state.tickets[c.ticket_id]["status_id"] for c in plan.changes} == {
        first.fields["status_id"].after
    }
    assert prod.counters["requests"] == 0 and tickets(prod) == prod_before
    assert on_prod.recover() == [] and on_uat.recover() == []
