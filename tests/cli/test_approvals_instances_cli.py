"""Approvals over two sandbox Halos (issues 12 + 16): a plan held on uat is applied on uat by
``approve --apply`` without ``--instance`` (the instance it was held on), refused with
``--instance prod`` before anything is claimed or sent, and ``resume`` takes ``--instance``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import SandboxFactory
from instance_support import PROD_SECRET, SPAM, UAT_SECRET, environment, write_instances_config

from halo_automate.cli import main
from halo_automate.errors import ExitCode


def test_a_plan_held_on_uat_is_applied_on_uat(
    tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = sandbox_factory(client_secret=PROD_SECRET)
    uat = sandbox_factory(client_secret=UAT_SECRET)
    held = SPAM + "approval: {above: 3, expires: 2h}\n"
    config = write_instances_config(tmp_path, prod, uat, {"close-spam": held})
    for key, value in environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    assert cli("run", "close-spam", "--instance", "uat", "--yes").exit_code == ExitCode.OK
    [waiting] = json.loads(cli("approvals", "--json").output)["approvals"]
    assert waiting["instance"] == "uat"
    run_id = waiting["run_id"]

    wrong = cli("approve", run_id, "--apply", "--yes", "--instance", "prod")
    assert wrong.exit_code == ExitCode.REFUSED, wrong.output
    assert "planned on instance 'uat', not 'prod'" in wrong.output
    assert prod.counters["requests"] == 0 and uat.counters["writes_applied"] == 0

    done = cli("approve", run_id, "--apply", "--yes")  # the instance it was held on
    assert done.exit_code == ExitCode.OK, done.output
    assert uat.counters["writes_applied"] > 0 and f"changed {waiting['changes']}," in done.output
    assert prod.counters["requests"] == 0

    resumed = cli("resume", "close-spam", "--instance", "uat")
    assert resumed.exit_code == ExitCode.OK and "not paused on uat" in resumed.output
