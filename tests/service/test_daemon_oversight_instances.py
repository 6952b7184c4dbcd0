"""Approvals and the runaway guard in a daemon that serves two instances (issues 12 + 16): each
instance's scheduled run holds its own plan, the approvals check applies an approved plan with
THAT instance's runner (its Halo gets the writes, the other none), another instance's runner
refuses it before claiming it, and a pause on one instance does not hold the other."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SandboxFactory
from instance_support import PROD_SECRET, SPAM, UAT_SECRET, environment, write_instances_config

from halo_automate.config import load_settings
from halo_automate.core.outcome import RunStatus
from halo_automate.engine import approvals
from halo_automate.errors import ApprovalError
from halo_automate.service.daemon import Daemon
from halo_automate.service.instances import Served
from halo_automate.store.approvals import ApprovalRow
from halo_automate.store.journal import Journal

HELD = SPAM + "approval: {above: 3, expires: 24h}\n"


def approval_of(journal: Journal, run_id: str) -> ApprovalRow:
    row = journal.approval(run_id)
    assert row is not None
    return row


def test_each_instance_holds_and_applies_its_own_plans(
    tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = sandbox_factory(client_secret=PROD_SECRET)
    uat = sandbox_factory(client_secret=UAT_SECRET)
    config = write_instances_config(tmp_path, prod, uat, {"close-spam": HELD})
    for key, value in environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HALO_AUTOMATE_INSTANT_BACKOFF", "1")
    settings = load_settings(config)
    journal = Journal.open(settings.journal)
    served = Served.open(settings, (), journal)
    daemon = Daemon(settings, served, install_signals=False)
    try:
        daemon.load()
        on_prod, on_uat = daemon.run_job("close-spam"), daemon.run_job("close-spam@uat")
        assert on_prod is not None and on_uat is not None
        assert on_prod.outcome.status == on_uat.outcome.status == RunStatus.AWAITING_APPROVAL
        prod_id, uat_id = on_prod.outcome.run_id, on_uat.outcome.run_id
        assert approval_of(journal, prod_id).instance_name == "prod"
        assert approval_of(journal, uat_id).instance_name == "uat"
        approvals.approve(journal, uat_id, "alice", datetime.now(UTC))

        with pytest.raises(ApprovalError, match="planned on instance 'uat', not 'prod'"):
            served.runner("prod").apply_approved(uat_id, confirm=None)
        assert approval_of(journal, uat_id).applied_run_id is None  # not claimed

        daemon.approvals_job()
        assert prod.counters["writes_applied"] == 0 and uat.counters["writes_applied"] > 0
        last = daemon.metrics.last_runs()["close-spam@uat"]
        assert last is not None and last.status == "succeeded" and last.instance == "uat"
        applied = journal.get_run(last.outcome.run_id)
        assert (applied.trigger, applied.instance_name) == ("approval", "uat")
        assert last.outcome.changed == on_uat.outcome.planned
        _, health = daemon.health()
        assert [w["run_id"] for w in health["awaiting_approval"]] == [prod_id]

        now = datetime.now(UTC)
        journal.count_refusal(
            "close-spam", "uat", refused=True, pause_after=1, now=now, reason="limits"
        )
        assert daemon.oversight.holds("close-spam", "uat")
        assert not daemon.oversight.holds("close-spam", "prod")
        assert daemon.run_job("close-spam@uat") is None  # paused on uat only
        assert list(daemon.health()[1]["paused"]) == ["close-spam@uat"]
    finally:
        daemon.oversight.close()
        served.close()
        journal.close()
