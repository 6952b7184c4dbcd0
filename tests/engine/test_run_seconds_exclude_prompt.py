"""Issue 19.6: a run's "N requests in T s" is the time it worked: the seconds a person spent
at the confirmation prompt are left out (they were counted: "28 requests in 6.9s")."""

from __future__ import annotations

from pathlib import Path

import pytest
from apply_support import playbook, quiet_logs, rig
from clock import FakeClock
from conftest import SandboxFactory

from halo_automate.core.plan import Plan
from halo_automate.engine.tally import Meter
from halo_automate.halo.client import HaloClient


def test_prompt_time_is_not_the_runs(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet_logs()
    clock = FakeClock()

    def start(cls: type[Meter], client: HaloClient, _: object = None) -> Meter:
        return Meter(client, client.stats.snapshot(), clock(), clock)

    monkeypatch.setattr(Meter, "start", classmethod(start))
    r = rig(sandbox_factory(), tmp_path / "j.db")

    def confirm(plan: Plan) -> bool:
        clock.advance(300.0)  # five minutes reading the preview
        return True

    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=confirm)
    assert outcome.status == "succeeded" and outcome.requests > 0
    assert outcome.seconds < 300.0
