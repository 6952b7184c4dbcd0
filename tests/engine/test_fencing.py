"""Fencing (issue 13, point 2a): a writer that lost its playbook lock sends nothing more.

Host A journals a batch pending, then waits out a Retry-After. Meanwhile its heartbeat goes
stale, host B takes the lock over, recovers A's run and sends what was pending. When A wakes
it re-validates its lock right before the request goes on the wire, finds it taken over, and
stops: no ticket gets a second note, and A journals nothing further.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from apply_support import (
    FAST_RETRY,
    SandboxFactory,
    client_for,
    duplicate_markers,
    marked,
    playbook,
    quiet_logs,
    rig,
    settings_for,
)
from clock import FakeClock

from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import plan_to_json
from halo_automate.core.playbook import load_playbook_text
from halo_automate.engine.runner import Runner
from halo_automate.engine.writes import action_body, playbook_tag
from halo_automate.errors import LockedError
from halo_automate.halo.client import HaloClient, before_each_send
from halo_automate.sandbox.replies import Reply
from halo_automate.store.journal import ChangeKind, Journal, NewChange, RunStart

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


# ---------------------------------------------------------------------- 2b: two journals


@pytest.mark.parametrize("name", ["close-spam", "quarantine-spam", "note-and-close"])
def test_two_journals_running_one_playbook_post_each_note_once(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str
) -> None:
    """A laptop and the daemon (two journals, so no shared lock) run the same playbook: B
    plans and passes its stale check, then A applies everything, then B writes. Before each
    action batch B finds A's notes (this playbook's tag, another run's marker, posted after
    its stale check) and does not post them again: every ticket ends with one note of each
    planned action, and B's journal says whose they are."""
    sb = sandbox_factory()
    runner_a = Runner(client_for(sb), Journal.open(tmp_path / "laptop.db"), started_by="a")
    client_b = client_for(sb)
    runner_b = Runner(client_b, Journal.open(tmp_path / "daemon.db"), started_by="b")
    plan_a = runner_a.plan(playbook(name))
    plan_b = runner_b.plan(playbook(name))
    assert plan_a.changes and len(plan_a.changes) == len(plan_b.changes)
    original = client_b.tickets_by_ids
    interleaved: list[RunOutcome] = []

    def stale_check_then_a_writes(ids: Any) -> Any:
        rows = list(original(ids))
        if not interleaved:  # B's stale check has passed; now A writes everything
            interleaved.append(runner_a.apply_saved(plan_a, confirm=None))
        return iter(rows)

    client_b.tickets_by_ids = stale_check_then_a_writes  # type: ignore[method-assign]
    outcome_b = runner_b.apply_saved(plan_b, confirm=None)

    [outcome_a] = interleaved
    assert outcome_a.status == RunStatus.SUCCEEDED
    assert outcome_b.status == RunStatus.SUCCEEDED, outcome_b.summary()
    for change in plan_a.changes:
        notes = [
            str(a.get("note"))
            for a in sb.state.actions.get(change.ticket_id, [])
            if f"[halo-automate playbook {name}]" in str(a.get("note"))
        ]
        assert len(notes) == len(change.actions), (change.ticket_id, notes)
    assert marked(sb, plan_b.run_id) == {}
    assert duplicate_markers(sb) == []
    rows = [r for r in runner_b.journal.changes(plan_b.run_id) if r.kind == "action"]
    assert rows and all(r.state == "done" and r.action_ids for r in rows)
    assert all(f"already posted by run {plan_a.run_id}" in (r.message or "") for r in rows)


def test_a_note_of_this_playbook_from_before_the_stale_check_is_not_a_duplicate(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A playbook that acts on the same ticket again in a later run (someone put the
    priority back; its earlier note was there before this run's stale check) posts its note
    again: only notes posted after the check count as another writer's."""
    sb = sandbox_factory()
    runner = Runner(client_for(sb), Journal.open(tmp_path / "j.db"))
    pb = load_playbook_text(LOWER)
    before = {tid: dict(t) for tid, t in sb.state.tickets.items()}
    first = runner.run(pb, trigger="cli", confirm=None)
    assert first.status == RunStatus.SUCCEEDED and first.changed > 0
    for tid in marked(sb, first.run_id):
        sb.edit_ticket(tid, priority_id=before[tid]["priority_id"])
    second = runner.run(pb, trigger="cli", confirm=None)
    assert second.status == RunStatus.SUCCEEDED and second.changed == first.changed
    for tid in marked(sb, first.run_id):
        assert len(marked(sb, second.run_id).get(tid, [])) == 1


LOWER = """
name: lower-newsletters
select: {open_only: true}
where:
  all:
    - user_email: {domain: [news.example]}
    - priority_id: {not_in: [4]}
actions:
  - set: {priority: Low}
  - note: {text: "Priority lowered.", private: true}
"""


def test_recovery_of_a_run_journaled_before_the_playbook_tag_posts_nothing_twice(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run journaled by the previous release (notes with the run marker only) is
    recovered by this one: the note it already posted is recognised by its run marker and
    not posted again; the ticket it never reached gets its note (in the new format)."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    plan = dataclasses.replace(plan, changes=plan.changes[:2])
    first, second = plan.changes
    r.journal.start_run(
        RunStart(plan.run_id, plan.playbook, "h", "apply", "cli", plan_json=plan_to_json(plan))
    )
    body = action_body(plan, first.ticket_id, first.actions[0], 0)
    body["note"] = body["note"].replace(playbook_tag(plan.playbook) + " ", "")  # old format
    [written] = r.client.write_actions([body])
    [row] = r.journal.add_changes(
        plan.run_id,
        [NewChange(first.ticket_id, first.actions[0].kind, None, body, 1, ChangeKind.ACTION)],
    )
    r.journal.mark([row], "done", action_ids=[written.record["id"]] if written.record else [])
    [outcome] = r.runner.recover()
    assert outcome.status == RunStatus.SUCCEEDED
    notes = marked(r.sb, plan.run_id)
    assert len(notes[first.ticket_id]) == 1 and len(notes[second.ticket_id]) == 1
    assert playbook_tag(plan.playbook) in str(notes[second.ticket_id][0]["note"])
    assert duplicate_markers(r.sb) == []
