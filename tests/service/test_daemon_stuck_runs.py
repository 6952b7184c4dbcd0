"""/healthz reports a run stuck past its deadline (issue 13, point 7)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from test_daemon import T0, FakeRunner, outcome, playbook_yaml, write

from halo_automate.config import HaloSettings, Settings
from halo_automate.service.daemon import Daemon


def test_healthz_reports_a_run_stuck_past_its_deadline(tmp_path: Path) -> None:
    """A run still going after halo.run_deadline_seconds makes /healthz say "stuck" with a
    503, naming the playbook; before the deadline, and after the run ends, it is "ok"."""
    write(tmp_path / "playbooks", "a.yaml", playbook_yaml("a"))
    now = [T0]
    runner = FakeRunner()
    service = Daemon(
        Settings(
            halo=HaloSettings(
                base_url="http://127.0.0.1:9",
                client_id="cid",
                client_secret=SecretStr("secret"),
                run_deadline_seconds=3600,
            ),
            playbooks_dir=tmp_path / "playbooks",
            journal=tmp_path / "journal.db",
        ),
        runner,  # type: ignore[arg-type]
        install_signals=False,
        clock=lambda: now[0],
    )
    seen: list[tuple[bool, dict[str, Any]]] = []

    def long_run(playbook: Any) -> Any:
        now[0] = T0 + timedelta(seconds=3599)
        seen.append(service.health())
        now[0] = T0 + timedelta(seconds=3601)
        seen.append(service.health())
        return outcome("a")

    runner.script["a"] = [long_run]
    service.reload()
    service.scheduler.start(paused=True)
    try:
        service.run_job("a")
        after = service.health()
    finally:
        service.scheduler.shutdown(wait=False)
    (ok_alive, ok_doc), (stuck_alive, stuck_doc) = seen
    assert (ok_alive, ok_doc["status"], ok_doc["stuck_runs"]) == (True, "ok", [])
    assert (stuck_alive, stuck_doc["status"], stuck_doc["stuck_runs"]) == (False, "stuck", ["a"])
    assert (after[0], after[1]["status"]) == (True, "ok")
