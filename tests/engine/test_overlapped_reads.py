"""A run's reads overlap where nothing depends on their order (issue 15, pipelined runs).

Each test pins one overlap and fails without it: planning while the pages still arrive, the
id-only listing in flight with the last pages, the first page with the lookups, the instance
facts with the stale check. The scan's and the run's answers stay what they were.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from apply_support import (
    FAST_RETRY,
    Rig,
    SandboxFactory,
    playbook,
    quiet_logs,
    rig,
    settings_for,
)
from overlap_support import Requests

from halo_automate.core.plan import Plan
from halo_automate.engine import batches as batches_module
from halo_automate.engine import runner as runner_module
from halo_automate.engine.runner import Runner
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.replies import Reply, empty
from halo_automate.sandbox.server import Handle
from halo_automate.store.journal import Journal

quiet_logs()


def cleanup_rig(
    sb: SandboxServer, tmp_path: Path, *, concurrency: int, **settings: Any
) -> tuple[Rig, Plan]:
    """A rig on its own client (``concurrency`` reads at a time) and the category cleanup
    planned over the sandbox, with no change limit."""
    client = HaloClient(
        settings_for(sb, **settings).model_copy(update={"concurrency": concurrency}),
        retry=FAST_RETRY,
    )
    journal = Journal.open(tmp_path / "j.db")
    r = Rig(sb, client, journal, Runner(client, journal, started_by="tests"))
    return r, r.runner.plan(playbook("category-cleanup", max_changes=10_000))


def test_a_full_read_is_planned_as_its_pages_arrive(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's full read is handed to the planner page by page: the planner has its first
    ticket before the last page was asked for (planning CPU overlaps the reads, and the read
    is never all in memory), and the plan is the one a read-then-plan run makes."""
    sb = sandbox_factory(tickets=3000)
    r = rig(sb, tmp_path / "j.db")
    requests = Requests()
    sb.add_request_hook(requests)
    pages_at_first_row: list[int] = []
    make_plan = runner_module.make_plan

    def watching(pb: Any, tickets: Iterable[dict[str, Any]], *args: Any, **kw: Any) -> Any:
        def rows() -> Iterable[dict[str, Any]]:
            for row in tickets:
                if not pages_at_first_row:
                    pages_at_first_row.append(requests.pages())
                yield row

        return make_plan(pb, rows(), *args, **kw)

    monkeypatch.setattr(runner_module, "make_plan", watching)
    plan = r.runner.plan(playbook("close-spam", max_changes=10_000))
    total = requests.pages()
    assert total >= 8, "the test needs a read of many pages"
    assert pages_at_first_row and pages_at_first_row[0] < total
    monkeypatch.setattr(runner_module, "make_plan", make_plan)
    again = r.runner.plan(playbook("close-spam", max_changes=10_000))
    assert (plan.scanned, plan.matched) == (again.scanned, again.matched)
    assert [c.ticket_id for c in plan.changes] == [c.ticket_id for c in again.changes]


def test_a_select_naming_nothing_reads_its_first_page_beside_the_lookups(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """close-spam selects ``open_only: true``: its query needs no lookup list, so its first
    page is asked for while the lookups are still on their way (one round trip fewer)."""
    sb = sandbox_factory(tickets=600, latency=0.05)
    r = rig(sb, tmp_path / "j.db")
    r.client.lookups([])  # the token first, so that only lookups and pages race
    requests = Requests()
    sb.add_request_hook(requests)
    plan = r.runner.plan(playbook("close-spam"))
    first_page, _ = requests.span("GET", "/tickets")
    _, lookups_done = requests.span("GET", "/status")
    assert first_page < lookups_done
    assert plan.scanned > 0


def test_a_select_naming_a_client_reads_the_lookups_first(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """bulk-edit-woodgrove selects a client by name: its query needs the client list, so no
    ticket is asked for before that list came back."""
    sb = sandbox_factory(tickets=600, latency=0.02)
    r = rig(sb, tmp_path / "j.db")
    requests = Requests()
    sb.add_request_hook(requests)
    plan = r.runner.plan(playbook("bulk-edit-woodgrove"))
    first_page, _ = requests.span("GET", "/tickets")
    _, clients_done = requests.span("GET", "/client")
    assert clients_done <= first_page
    assert plan.query["client_id"].isdigit()


def test_lookups_failing_beside_the_read_fail_the_run_with_their_error(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A lookup list Halo cannot give (HTTP 500 every time) ends the run failed with that
    list's error, as when the lookups were read before the tickets; nothing is written."""
    sb = sandbox_factory(tickets=300)
    r = rig(sb, tmp_path / "j.db")

    def broken(method: str, target: str, headers: Message, body: bytes, go: Handle) -> Reply:
        return (
            empty(500)
            if target.lower().startswith("/api/status")
            else go(method, target, headers, body)
        )

    sb.add_request_hook(broken)
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "failed" and "GET /api/Status" in (outcome.message or "")
    assert sb.counters["writes_applied"] == 0


def test_the_instance_facts_are_read_beside_the_stale_check(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A run that writes reads the instance's facts (journaled with it) while its stale check
    reads the tickets back, not before: one round trip fewer; the facts are still kept."""
    sb = sandbox_factory(tickets=600, latency=0.05)
    r = rig(sb, tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    assert plan.changes
    requests = Requests()
    sb.add_request_hook(requests)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "succeeded"
    facts_start, facts_end = requests.span("GET", "/instanceinfo")
    with requests.lock:
        reads = [(a, b) for a, b, m, p in requests.spans if m == "GET" and p.endswith("/tickets")]
    first_read_start, first_read_end = min(reads)
    assert facts_start < first_read_end and first_read_start < facts_end
    assert '"app_version"' in (r.journal.get_run(outcome.run_id).instance or "")


def test_the_stale_check_judges_each_read_as_it_arrives(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stale check's reads (100 tickets each) go two at a time here, and the tickets of
    the first are checked (and re-derived) before the last one's answer is in, not after all
    of them: the check's CPU overlaps its reads. Every ticket is still checked once."""
    sb = sandbox_factory(tickets=6000, latency=0.03)
    r, plan = cleanup_rig(sb, tmp_path, concurrency=2)
    assert len(plan.changes) > 200, "the test needs several stale-check reads"
    requests = Requests()
    sb.add_request_hook(requests)
    answered_at_first: list[int] = []
    checked: list[int] = []
    stale_reason = batches_module.stale_reason

    def watching(change: Any, ticket: Any, names: Any) -> Any:
        if not answered_at_first:
            with requests.lock:
                answered_at_first.append(
                    sum(1 for *_, p in requests.spans if p.endswith("/tickets"))
                )
        checked.append(change.ticket_id)
        return stale_reason(change, ticket, names)

    monkeypatch.setattr(batches_module, "stale_reason", watching)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "succeeded" and outcome.changed == len(plan.changes)
    reads = -(-len(plan.changes) // 100)
    assert answered_at_first[0] < reads
    assert sorted(checked) == sorted(c.ticket_id for c in plan.changes)


def test_the_first_writes_go_out_while_the_stale_check_still_reads(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The first phase's batches are made of each stale-check read's live tickets as soon as
    they are judged: the first POST reaches Halo before the check's last read was answered
    (the check no longer holds every write back; its reads one at a time here, so none is
    read ahead of the writes). Every ticket ends as planned, each was journaled pending
    before its POST, and no more requests are sent than before."""
    sb = sandbox_factory(tickets=10_000, latency=0.05)
    r, plan = cleanup_rig(sb, tmp_path, concurrency=1, batch_size=100, write_concurrency=2)
    assert len(plan.changes) > 400, "the test needs several stale-check reads"
    requests = Requests()
    sb.add_request_hook(requests)
    unjournaled: list[int] = []

    def pending_first(method: str, target: str, headers: Message, body: bytes, go: Handle) -> Reply:
        if method == "POST" and target.startswith("/api/Tickets"):
            pending = {c.ticket_id for c in r.journal.changes(plan.run_id) if c.state == "pending"}
            unjournaled.extend(i["id"] for i in json.loads(body) if i["id"] not in pending)
        return go(method, target, headers, body)

    sb.add_request_hook(pending_first)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "succeeded" and outcome.changed == len(plan.changes)
    with requests.lock:
        reads = [b for a, b, m, p in requests.spans if m == "GET" and p.endswith("/tickets")]
        posts = [a for a, b, m, p in requests.spans if m == "POST"]
    assert min(posts) < max(reads)
    assert unjournaled == []
    batches = -(-len(plan.changes) // 100)
    assert (len(reads), len(posts)) == (batches, batches)
    assert all(sb.state.tickets[c.ticket_id]["category_1"] == c.fields["category_1"].after
               for c in plan.changes)  # fmt: skip


def test_a_stop_during_the_overlapped_check_starts_no_ticket_and_reads_no_more(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A stop (SIGTERM) while the first batches go out and the stale check still reads: the
    batch in flight settles, no further ticket is journaled or sent, the check reads no
    further (its reads one at a time here: none read ahead), and the run ends interrupted
    with nothing left pending."""
    sb = sandbox_factory(tickets=10_000, latency=0.05)
    r, plan = cleanup_rig(sb, tmp_path, concurrency=1, batch_size=100, write_concurrency=2)
    assert len(plan.changes) > 400
    requests = Requests()
    sb.add_request_hook(requests)
    posted: list[int] = []

    def stop_at_first_post(
        method: str, target: str, headers: Message, body: bytes, go: Handle
    ) -> Reply:
        if method == "POST":
            posted.extend(i["id"] for i in json.loads(body))
            r.runner.request_stop()
        return go(method, target, headers, body)

    sb.add_request_hook(stop_at_first_post)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "interrupted"
    assert outcome.changed == len(posted) < len(plan.changes)
    with requests.lock:
        reads = sum(1 for _, p, q in requests.seen if p.endswith("/tickets") and "ticketids" in q)
    assert reads < -(-len(plan.changes) // 100)
    rows = r.journal.changes(plan.run_id)
    assert {row.ticket_id for row in rows} == set(posted)
    assert all(row.state == "done" for row in rows)


class Crash(BaseException):
    """Not an error the engine handles: the process dying mid-run, as the kill tests do."""


def test_no_request_of_a_run_outlives_it(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that dies during its stale check while its instance facts are still being read
    (beside it) does not return before that read has ended: nothing it sent is left running
    into whatever comes next (a recovery that must send nothing, say)."""
    sb = sandbox_factory(tickets=600)
    r = rig(sb, tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    answered = threading.Event()

    def slow_facts(method: str, target: str, headers: Message, body: bytes, go: Handle) -> Reply:
        if not target.lower().startswith("/api/instanceinfo"):
            return go(method, target, headers, body)
        time.sleep(0.3)
        try:
            return go(method, target, headers, body)
        finally:
            answered.set()

    def crash(ids: Any) -> Any:
        raise Crash

    sb.add_request_hook(slow_facts)
    monkeypatch.setattr(r.client, "tickets_by_ids", crash)
    with pytest.raises(Crash):
        r.runner.apply_saved(plan, confirm=None)
    assert answered.is_set()


def test_a_stale_check_read_failing_midway_fails_the_run_with_every_write_settled(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Halo failing the stale check's third read (every try) after the first batches went
    out: the run ends failed with Halo's error, the batches already sent are settled done
    (and hold in Halo), nothing is left pending, and no ticket of an unread page is written."""
    sb = sandbox_factory(tickets=10_000)
    r, plan = cleanup_rig(sb, tmp_path, concurrency=1, batch_size=100, write_concurrency=2)
    assert len(plan.changes) > 400
    reads: list[str] = []

    def third_read_fails(
        method: str, target: str, headers: Message, body: bytes, go: Handle
    ) -> Reply:
        if method == "GET" and "ticketids=" in target:
            reads.append(target)
            if len(reads) >= 3:
                return empty(500)
        return go(method, target, headers, body)

    sb.add_request_hook(third_read_fails)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "failed" and "HTTP 500" in (outcome.message or "")
    rows = r.journal.changes(plan.run_id)
    assert rows and {row.state for row in rows} == {"done"}
    written = {row.ticket_id for row in rows}
    assert written <= {c.ticket_id for c in plan.changes[:200]}  # the first two reads' tickets
    for change in plan.changes:
        value = sb.state.tickets[change.ticket_id]["category_1"]
        field = change.fields["category_1"]
        assert value == (field.after if change.ticket_id in written else field.before)
