"""The flow of issue 16 end to end with a real `halo-automate daemon` process: a scheduled plan
above its threshold waits and a local receiver is notified; `approve` from the CLI; the
daemon applies exactly that plan at its next approvals check; the tickets change in the
sandbox; the receiver hears it succeeded; the service stops cleanly."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from notify_support import receiver
from test_daemon_process import DaemonProcess, cli, playbook, spawn, workspace

from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.journal import Journal

__all__ = ["spawn"]  # the fixture, re-used

NOTIFY = (
    "approval: {above: 3, expires: 1h}\n"
    "notify: {on: [awaiting_approval, approved, succeeded, failed], channels: [hook]}\n"
)


def test_daemon_holds_notifies_and_applies_once_approved(
    tmp_path: Path, sandbox: SandboxServer, spawn: Callable[..., DaemonProcess]
) -> None:
    with receiver() as rx:
        config = workspace(tmp_path, sandbox, playbook() + NOTIFY)
        with config.open("a", encoding="utf-8") as f:
            f.write(
                "notify:\n  console_url: http://127.0.0.1:8780\n  channels:\n"
                f"    hook: {{type: webhook, url: '{rx.base_url}/hook'}}\n"
            )
        daemon = spawn(config, sandbox)
        _, held = daemon.wait_for("run_summary", 20, status="awaiting_approval")
        run_id = held["run_id"]
        [notice] = [r.body for r in rx.wait_for(1)]
        assert (notice["event"], notice["run_id"]) == ("awaiting_approval", run_id)
        assert notice["link"] == f"http://127.0.0.1:8780/runs/{run_id}"
        assert sandbox.counters["writes_applied"] == 0
        _, blocked = daemon.wait_for("run_summary", 20, after=0, run_id=run_id, matched=0)
        assert "nothing was planned" in blocked["message"]  # the next run did not pile up
        approved = cli(config, sandbox, "approve", run_id)
        assert approved.exit_code == 0, approved.output
        started = time.monotonic()
        after = len(daemon.events)
        _, done = daemon.wait_for("run_summary", 20, after=after, status="succeeded")
        waited = time.monotonic() - started
        assert done["changed"] == notice["counts"]["planned"] > 3
        assert sandbox.counters["writes_applied"] > 0
        events = [r.body["event"] for r in rx.wait_for(3)]
        assert events[:3] == ["awaiting_approval", "approved", "succeeded"]
        with Journal.open(tmp_path / "journal.db") as journal:
            row = journal.get_run(run_id)
            assert row.status == "approved" and f"applied as run {done['run_id']}" in (
                row.message or ""
            )
            assert journal.get_run(done["run_id"]).trigger == "approval"
        daemon.send(signal.SIGTERM)
        assert daemon.finish(30) == 0
    assert waited < 10  # the approvals check runs every 5 s / speed-up
