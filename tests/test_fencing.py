"""Fencing (issue 13, point 2a): a writer that lost its playbook lock sends nothing more.

Host A journals a batch pending, then waits out a Retry-After. Meanwhile its heartbeat goes
stale, host B takes the lock over, recovers A's run and sends what was pending. When A wakes
it re-validates its lock right before the request goes on the wire, finds it taken over, and
stops: no ticket gets a second note, and A journals nothing further.
"""

from __future__ import annotations

import sqlite3
import threading
from email.message import Message
from pathlib import Path

import pytest
from apply_support import (
    FAST_RETRY,
    SandboxFactory,
    client_for,
    duplicate_markers,
    marked,
    playbook,
    quiet_logs,
    settings_for,
)
from clock import FakeClock

from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.engine.runner import Runner
from halo_automate.errors import LockedError
from halo_automate.halo.client import HaloClient, before_each_send
from halo_automate.sandbox.replies import Reply
from halo_automate.store.journal import Journal

quiet_logs()


def test_writer_that_lost_its_lock_during_a_retry_after_does_not_send(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HALO_AUTOMATE_INSTANT_BACKOFF", raising=False)
    sb = sandbox_factory()
    path = tmp_path / "journal.db"
    clock = FakeClock()
    limited: list[str] = []
    recovered: list[RunOutcome] = []
    original = sb.handle

    def handle(method: str, target: str, headers: Message, body: bytes) -> Reply:
        if method == "POST" and target.lower().startswith("/api/actions") and not limited:
            limited.append(target)  # the first batch of closes: 429, not applied
            return Reply(429, headers={"Retry-After": "30"})
        return original(method, target, headers, body)

    sb.handle = handle  # type: ignore[method-assign]

    def take_over() -> None:
        """Host B, while A sleeps: A's heartbeat is stale (A is another host to B), so B
        takes the lock over and recovers A's run, sending the pending batch itself."""
        with sqlite3.connect(path) as db:
            db.execute(
                "UPDATE locks SET owner_host = 'host-a', heartbeat_at = '2000-01-01T00:00:00.000Z'"
            )
        journal_b = Journal.open(path)
        assert journal_b.pending(), "A's batch is journaled pending before it is sent"
        host_b = Runner(client_for(sb), journal_b, started_by="host-b")
        thread = threading.Thread(target=lambda: recovered.extend(host_b.recover()))
        thread.start()  # another host: not inside A's own pre-send hook
        thread.join(timeout=60)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if limited and not recovered:
            take_over()

    client_a = HaloClient(settings_for(sb), retry=FAST_RETRY, clock=clock, sleep=sleep)
    runner_a = Runner(client_a, Journal.open(path), started_by="host-a")
    plan = runner_a.plan(playbook("close-spam"))
    assert len(plan.changes) > 5  # several batches of 5

    outcome = runner_a.apply_saved(plan, confirm=None)

    assert 30 in clock.sleeps and [o.status for o in recovered] == [RunStatus.SUCCEEDED]
    assert outcome.status == RunStatus.FAILED and outcome.locked
    assert isinstance(outcome.error, LockedError) and "lost the lock" in (outcome.message or "")
    notes = marked(sb, plan.run_id)
    assert sorted(notes) == sorted(c.ticket_id for c in plan.changes)
    assert all(len(found) == 1 for found in notes.values()), "a ticket got two close notes"
    assert duplicate_markers(sb) == []
    assert sb.counters["actions_written"] == len(plan.changes)
    run = runner_a.journal.get_run(plan.run_id)
    assert run.status == "succeeded" and run.message is None  # B's ending, not overwritten by A
    assert runner_a.journal.pending() == [] and runner_a.journal.lock(plan.playbook) is None


def test_a_fence_that_fails_stops_the_request_before_the_wire(
    sandbox_factory: SandboxFactory,
) -> None:
    """The client's pre-send hook runs before the request is sent; what it raises
    propagates and the sandbox sees nothing."""
    sb = sandbox_factory()
    client = client_for(sb)
    client.get("Status")  # the token and a read: the hook is only for the write below
    before = sb.counters["requests"]

    def fence() -> None:
        raise LockedError("lost the lock")

    with pytest.raises(LockedError), before_each_send(fence):
        client.write_actions([{"ticket_id": 1, "note": "x"}])
    assert sb.counters["requests"] == before
