"""Pipelined writes: the batches of one phase overlap, the journal discipline still holds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from apply_support import (
    Rig,
    SandboxFactory,
    client_for,
    differences,
    duplicate_markers,
    planned_state,
    playbook,
    quiet_logs,
    tickets,
)

from halo_automate.engine.pipeline import Gate, overlapped
from halo_automate.engine.runner import Runner
from halo_automate.engine.writer import instance_key
from halo_automate.engine.writes import marker_parts
from halo_automate.sandbox.replies import Reply
from halo_automate.sandbox.server import Handle
from halo_automate.store.journal import Journal

quiet_logs()
WAIT = 10.0  # seconds a held request waits for the next one (only reached when it fails)


def pipelined_rig(sb: Any, tmp_path: Path, width: int = 4) -> Rig:
    client = client_for(sb, batch_size=5, write_concurrency=width)
    journal = Journal.open(tmp_path / "j.db")
    return Rig(sb, client, journal, Runner(client, journal, started_by="tests"))


class Watch:
    """A request hook: POSTs in flight (the first waits for a second), and for every POSTed
    element whether its journal rows were pending when it arrived."""

    def __init__(self, r: Rig, run_id: str) -> None:
        self.r, self.run_id = r, run_id
        self.lock = threading.Lock()
        self.in_flight = self.most = self.posts = 0
        self.second = threading.Event()
        self.unjournaled: list[int] = []
        self.order: list[tuple[int, int]] = []  # (ticket, action index) as POSTed

    def __call__(
        self, method: str, target: str, headers: Message, body: bytes, proceed: Handle
    ) -> Reply:
        if method != "POST" or not target.startswith("/api/"):
            return proceed(method, target, headers, body)
        items = json.loads(body)
        pending = {
            row.ticket_id for row in self.r.journal.changes(self.run_id) if row.state == "pending"
        }
        with self.lock:
            self.posts += 1
            first = self.posts == 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            for item in items:
                tid = int(item.get("ticket_id") or item.get("id"))
                if tid not in pending:
                    self.unjournaled.append(tid)
                parts = marker_parts(str(item.get("note") or ""))
                if "ticket_id" in item and parts is not None:
                    self.order.append((tid, parts[1]))
        if first:
            self.second.wait(WAIT)
        else:
            self.second.set()
        try:
            return proceed(method, target, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.mark.parametrize("name", ["note-and-close", "bulk-edit-woodgrove"])
def test_batches_of_a_phase_overlap_and_each_was_journaled_pending_first(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str
) -> None:
    """With write_concurrency 4, POSTs of one phase are in flight together; every element
    POSTed had its journal rows pending when it reached Halo; each ticket's actions reached
    Halo in their planned order (note before close); the end state is the plan's, no note
    posted twice, every row settled done."""
    r = pipelined_rig(sandbox_factory(), tmp_path)
    plan = r.runner.plan(playbook(name, max_changes=1000))
    assert len(plan.changes) > 10  # several batches of 5
    before = tickets(r.sb)
    watch = Watch(r, plan.run_id)
    r.sb.add_request_hook(watch)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "succeeded" and outcome.changed == len(plan.changes)
    assert watch.most >= 2, "no two write batches were ever in flight together"
    assert watch.unjournaled == []
    for change in plan.changes:
        sent = [index for tid, index in watch.order if tid == change.ticket_id]
        assert sent == list(range(len(change.actions))), change.ticket_id
    assert differences(tickets(r.sb), planned_state(before, plan)) == []
    assert duplicate_markers(r.sb) == []
    assert {row.state for row in r.journal.changes(plan.run_id)} == {"done"}


def test_a_ticket_whose_update_failed_gets_none_of_its_actions_when_pipelined(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The phase barrier: a ticket update Halo refuses (in one of several overlapping update
    batches) fails that ticket, and none of its actions is posted afterwards."""
    r = pipelined_rig(sandbox_factory(), tmp_path)
    plan = r.runner.plan(playbook("note-and-close", max_changes=1000))
    victim = plan.changes[7].ticket_id  # in the second update batch

    def refuse(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if method == "POST" and target.startswith("/api/Tickets"):
            items = json.loads(body)
            if any(item.get("id") == victim for item in items):
                return Reply(400, {"error": f"ticket {victim} is locked"})
        return proceed(method, target, headers, body)

    r.sb.add_request_hook(refuse)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "partial"
    assert [tid for tid, _ in outcome.failures] == [victim]
    assert not r.sb.state.actions.get(victim) or all(
        plan.run_id not in str(a.get("note")) for a in r.sb.state.actions[victim]
    )
    assert outcome.changed == len(plan.changes) - 1


def test_pipelined_writes_keep_the_writer_lock_and_the_rederivation(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Merged over issue 12: every overlapping POST goes out while this run holds its
    instance's writer lock (held for the whole check and write phase), and the stale check
    still re-derives each change from the playbook: a planned ticket whose summary no longer
    matches (a field the stale check alone does not compare) is skipped, never written."""
    r = pipelined_rig(sandbox_factory(), tmp_path)
    plan = r.runner.plan(playbook("note-and-close", max_changes=1000))
    assert len(plan.changes) > 10
    key = instance_key(r.client, plan)
    victim = plan.changes[3].ticket_id  # in the first update batch
    r.sb.edit_ticket(victim, summary="A real question", user_email="a.person@client.example")
    holders: list[str | None] = []

    def writer_held(
        method: str, target: str, headers: Message, body: bytes, proceed: Handle
    ) -> Reply:
        if method == "POST" and target.startswith("/api/"):
            row = r.journal.writer(key)
            holders.append(None if row is None else row.holder.run_id)
        return proceed(method, target, headers, body)

    watch = Watch(r, plan.run_id)
    r.sb.add_request_hook(writer_held)
    r.sb.add_request_hook(watch)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "partial" and outcome.failed == 0, outcome.message  # one skipped
    assert watch.most >= 2, "no two write batches were ever in flight together"
    assert holders and set(holders) == {plan.run_id}
    assert [tid for tid, _ in outcome.skips] == [victim]
    assert outcome.changed == len(plan.changes) - 1
    assert r.journal.writer(key) is None  # released after the write phase
    assert plan.run_id not in str(r.sb.state.actions.get(victim, ""))


# ---------------------------------------------------------------------- overlapped()


def test_overlapped_keeps_at_most_width_batches_unsettled() -> None:
    """The producer (which journals each batch) is advanced only while fewer than ``width``
    batches are unsettled: the fourth batch is not produced before one of three finishes."""
    release = threading.Event()
    started: list[int] = []
    produced: list[int] = []
    three_running = threading.Event()

    def batches() -> Iterator[int]:
        for n in range(6):
            produced.append(n)
            yield n

    def send(n: int) -> None:
        started.append(n)
        if len(started) == 3:
            three_running.set()
        release.wait(WAIT)

    thread = threading.Thread(target=overlapped, args=(batches(), send, 3))
    thread.start()
    assert three_running.wait(WAIT)
    assert produced == [0, 1, 2]
    release.set()
    thread.join(WAIT)
    assert sorted(started) == list(range(6))


def test_overlapped_stops_producing_after_a_failure_and_waits_for_the_rest() -> None:
    """A batch that raises stops the phase: no further batch is produced (journaled), the
    batches in flight finish, then the first error propagates."""
    produced: list[int] = []
    finished: list[int] = []
    first_failed = threading.Event()

    def batches() -> Iterator[int]:
        for n in range(10):
            produced.append(n)
            yield n

    def send(n: int) -> None:
        if n == 0:
            first_failed.set()
            raise RuntimeError("lock lost")
        first_failed.wait(WAIT)
        finished.append(n)

    with pytest.raises(RuntimeError, match="lock lost"):
        overlapped(batches(), send, 2)
    assert len(produced) <= 3  # at most the window around the failure
    assert sorted(finished) == [n for n in produced if n != 0]


def test_width_one_sends_one_batch_at_a_time_in_order() -> None:
    """write_concurrency 1 is the old behaviour: batches in order, each settled first."""
    log: list[str] = []

    def batches() -> Iterator[int]:
        for n in range(3):
            log.append(f"journal {n}")
            yield n

    overlapped(batches(), lambda n: log.append(f"send {n}"), 1)
    assert log == ["journal 0", "send 0", "journal 1", "send 1", "journal 2", "send 2"]


class WatchedGate(Gate):
    def __init__(self) -> None:
        super().__init__()
        self.closed = threading.Event()

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        self.closed.set()


def test_after_a_batch_failed_no_other_batch_of_the_phase_sends_a_request() -> None:
    """A batch whose settle fails (the journal is full) closes the phase's gate: a batch in
    flight that reaches its next request afterwards sends nothing (its rows stay pending for
    recovery), and the phase ends with the first error."""
    gate, sent = WatchedGate(), []
    second_started = threading.Event()

    def send(n: int) -> None:
        if n == 0:
            second_started.wait(WAIT)
            raise RuntimeError("journal full")
        second_started.set()
        gate.closed.wait(WAIT)
        gate.check()  # what the client's pre-send hook does right before the request
        sent.append(n)

    with pytest.raises(RuntimeError, match="journal full"):
        overlapped(iter([0, 1]), send, 2, gate)
    assert sent == []


def test_a_tickets_close_never_lands_before_its_note_while_batches_overlap(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Found as a rare failure of the test above: the first action batch (notes) is held at
    Halo's door; no batch holding the *second* action (the close) of one of its tickets may
    reach Halo meanwhile. Each position is a phase of its own, so the held batch is waited
    for (the hold times out after 2 s) and every note lands before its ticket's close."""
    r = pipelined_rig(sandbox_factory(), tmp_path)
    plan = r.runner.plan(playbook("note-and-close", max_changes=1000))
    assert len(plan.changes) > 10  # several batches of 5 at each position
    lock, landed = threading.Lock(), []  # (ticket, action index) in the order Halo applied them
    held: set[int] = set()
    overtaken, released = threading.Event(), threading.Event()

    def hook(method: str, target: str, headers: Message, body: bytes, proceed: Handle) -> Reply:
        if method != "POST" or not target.startswith("/api/Actions"):
            return proceed(method, target, headers, body)
        items = [
            (int(i["ticket_id"]), marker_parts(str(i.get("note") or ""))) for i in json.loads(body)
        ]
        positions = [(tid, parts[1]) for tid, parts in items if parts is not None]
        with lock:
            first = not held and not landed
            if first:
                held.update(tid for tid, _ in positions)
            elif not released.is_set() and any(tid in held and i == 1 for tid, i in positions):
                overtaken.set()
        if first:
            overtaken.wait(2.0)
        reply = proceed(method, target, headers, body)
        with lock:
            landed.extend(positions)
        if first:
            released.set()
        return reply

    r.sb.add_request_hook(hook)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "succeeded", outcome.message
    assert not overtaken.is_set(), "a close reached Halo while its ticket's note was held"
    for change in plan.changes:
        assert [i for tid, i in landed if tid == change.ticket_id] == [0, 1], change.ticket_id
