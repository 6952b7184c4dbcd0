"""The daemon with approvals, notifications and the runaway guard, over a sandbox Halo: a plan
waits and is announced, the approvals check applies it once approved (or expires it), and a
playbook its limits refuse three times in a row is paused, announced, skipped and resumed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apply_support import FAST_RETRY, settings_for
from clock import FakeClock
from notify_support import Receiver, receiver
from pydantic import SecretStr

from halo_automate.config import Settings
from halo_automate.config.notify import NotifySettings, WebhookChannel
from halo_automate.core.outcome import RunStatus
from halo_automate.engine import approvals, runaway
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox import SandboxServer
from halo_automate.service.daemon import Daemon
from halo_automate.store.journal import Journal

SPAM = (Path(__file__).resolve().parents[2] / "playbooks" / "close-spam.yaml").read_text()
NOTIFY = (
    "notify: {on: [awaiting_approval, expired, succeeded, refused, paused], channels: [audit]}\n"
)


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


class Rig:
    def __init__(self, sb: SandboxServer, tmp_path: Path, rx: Receiver, extra: str) -> None:
        folder = tmp_path / "playbooks"
        folder.mkdir()
        (folder / "close-spam.yaml").write_text(SPAM + extra + NOTIFY, encoding="utf-8")
        self.clock = FakeClock()
        halo = settings_for(sb)
        self.settings = Settings(
            halo=halo, playbooks_dir=folder, journal=tmp_path / "j.db",
            notify=NotifySettings(
                channels={"audit": WebhookChannel(type="webhook",
                                                  url=SecretStr(f"{rx.base_url}/hook"))},
                console_url="https://console.example",
            ),
        )  # fmt: skip
        self.journal = Journal.open(tmp_path / "j.db", clock=self.clock.now)
        client = HaloClient(halo, retry=FAST_RETRY)
        self.runner = Runner(client, self.journal, now=self.clock.now, started_by="svc@host pid 1")
        self.daemon = Daemon(
            self.settings, self.runner, install_signals=False, clock=self.clock.now
        )
        self.daemon.load()
        self.rx = rx

    def events(self, count: int) -> list[str]:
        self.rx.wait_for(count)
        return [b["event"] for b in self.rx.bodies("/hook")]


def test_a_held_plan_is_announced_and_applied_by_the_daemon_once_approved(
    sandbox: SandboxServer, tmp_path: Path, rx: Receiver
) -> None:
    """Scheduled run → awaiting_approval (announced with its console link); the approvals
    check does nothing until approved, then applies the plan and announces the run."""
    r = Rig(sandbox, tmp_path, rx, "approval: {above: 3, expires: 24h}\n")
    first = r.daemon.run_job("close-spam")
    assert first is not None and first.outcome.status == RunStatus.AWAITING_APPROVAL
    run_id = first.outcome.run_id
    assert r.events(1) == ["awaiting_approval"]
    [body] = rx.bodies("/hook")
    assert body["link"] == f"https://console.example/runs/{run_id}"
    assert body["command"] == f"halo-automate approve {run_id}"
    _, health = r.daemon.health()
    assert [w["run_id"] for w in health["awaiting_approval"]] == [run_id]
    r.daemon.approvals_job()
    assert sandbox.counters["writes_applied"] == 0
    approvals.approve(r.journal, run_id, "alice", r.clock.now())
    r.daemon.approvals_job()
    assert sandbox.counters["writes_applied"] > 0
    assert r.events(2) == ["awaiting_approval", "succeeded"]
    last = r.daemon.metrics.last_runs()["close-spam"]
    assert last is not None and last.outcome.trigger == "approval" and last.ok
    r.daemon.approvals_job()  # applied once: nothing more to do
    assert len(r.journal.runs()) == 2
    r.daemon.oversight.close()


def test_an_unapproved_plan_expires_in_the_daemon_and_is_announced(
    sandbox: SandboxServer, tmp_path: Path, rx: Receiver
) -> None:
    """Past ``expires`` the approvals check journals the plan expired and announces it;
    it is never applied, and the next scheduled run may hold a fresh plan."""
    r = Rig(sandbox, tmp_path, rx, "approval: {required: true, expires: 1h}\n")
    held = r.daemon.run_job("close-spam")
    assert held is not None
    r.clock.advance(hours=1)
    r.daemon.approvals_job()
    assert r.events(2) == ["awaiting_approval", "expired"]
    assert r.journal.get_run(held.outcome.run_id).status == "expired"
    fresh = r.daemon.run_job("close-spam")
    assert fresh is not None and fresh.outcome.run_id != held.outcome.run_id
    assert fresh.outcome.status == RunStatus.AWAITING_APPROVAL
    assert sandbox.counters["writes_applied"] == 0
    r.daemon.oversight.close()


def test_three_refusals_in_a_row_pause_the_playbook_until_resumed(
    sandbox: SandboxServer, tmp_path: Path, rx: Receiver
) -> None:
    """Refused by max_changes three scheduled times in a row: paused (journal), announced,
    shown in /healthz, skipped by the schedule and by --once, and resumed only by resume."""
    r = Rig(sandbox, tmp_path, rx, "")
    (tmp_path / "playbooks" / "close-spam.yaml").write_text(
        SPAM.replace("max_changes: 500", "max_changes: 2") + NOTIFY, encoding="utf-8"
    )
    r.daemon.load()
    for _ in range(3):
        run = r.daemon.run_job("close-spam")
        assert run is not None and run.outcome.status == RunStatus.REFUSED
    assert r.events(4) == ["refused", "refused", "refused", "paused"]
    assert "resume close-spam" in rx.bodies("/hook")[-1]["command"]
    assert r.daemon.run_job("close-spam") is None  # skipped while paused
    _, health = r.daemon.health()
    assert "refused by its limits 3 times in a row" in health["paused"]["close-spam"]["reason"]
    assert r.daemon.run_once() == 0  # --once skips it too
    assert len(r.journal.runs()) == 3
    assert runaway.resume(r.journal, "close-spam", "default", "alice", r.clock.now())
    again = r.daemon.run_job("close-spam")
    assert again is not None and again.outcome.status == RunStatus.REFUSED
    assert runaway.paused(r.journal, "close-spam", "default") is None  # the count restarted
    r.daemon.oversight.close()


def test_a_lock_or_an_outage_neither_counts_nor_resets_refusals(
    sandbox: SandboxServer, tmp_path: Path, rx: Receiver
) -> None:
    """Only refusals by the limits count; a Halo outage between two refusals keeps the count."""
    r = Rig(sandbox, tmp_path, rx, "")
    (tmp_path / "playbooks" / "close-spam.yaml").write_text(
        SPAM.replace("max_changes: 500", "max_changes: 2"), encoding="utf-8"
    )
    r.daemon.load()
    r.daemon.run_job("close-spam")
    r.daemon.run_job("close-spam")
    sandbox.set_faults(fail_rate=1.0)
    failed = r.daemon.run_job("close-spam")
    assert failed is not None and failed.outcome.status == RunStatus.FAILED
    sandbox.set_faults(fail_rate=0.0)
    r.daemon.run_job("close-spam")
    assert runaway.paused(r.journal, "close-spam", "default") is not None
    r.daemon.oversight.close()
