"""Apply end to end: Runner + Applier + a real HaloClient over HTTP against the sandbox Halo."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from apply_support import (
    SandboxFactory,
    actions,
    client_for,
    differences,
    duplicate_markers,
    marked,
    planned_state,
    playbook,
    quiet_logs,
    record_posts,
    rig,
    tickets,
)

from halo_automate.core.plan import needed_lookups, plan_from_json
from halo_automate.engine.runner import Runner
from halo_automate.engine.writes import run_marker
from halo_automate.errors import RefusedError
from halo_automate.sandbox import reference as ref
from halo_automate.store.journal import Journal

quiet_logs()

PLAYBOOKS = [
    "close-spam",
    "quarantine-spam",
    "bulk-edit-woodgrove",
    "category-cleanup",
    "note-and-close",
]


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_apply_reaches_exactly_the_planned_state(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str
) -> None:
    """After a run, every planned field holds its "after", nothing else in the ticket set
    changed, and each planned action exists exactly once with its marker and flags."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    before, before_actions = tickets(r.sb), actions(r.sb)
    posts = record_posts(r.sb)
    outcome = r.runner.run(playbook(name), trigger="cli", confirm=None)
    plan = r.plan_of(outcome.run_id)
    assert plan.changes, "the seed must give every example playbook something to do"
    assert outcome.status == "succeeded"
    assert outcome.changed == len(plan.changes)
    assert differences(tickets(r.sb), planned_state(before, plan)) == []
    planned_ids = {c.ticket_id for c in plan.changes}
    after_actions = actions(r.sb)
    for tid in set(after_actions) | set(before_actions):
        if tid not in planned_ids:
            assert after_actions.get(tid) == before_actions.get(tid), tid
    posted = marked(r.sb, plan.run_id)
    for change in plan.changes:
        new = after_actions.get(change.ticket_id, [])[
            len(before_actions.get(change.ticket_id, [])) :
        ]
        assert len(new) == len(change.actions) == len(posted.get(change.ticket_id, []))
        for index, (spec, action) in enumerate(zip(change.actions, new, strict=True)):
            assert action["note"].endswith(run_marker(plan.run_id, index))
            assert action["hiddenfromuser"] is spec.body["hiddenfromuser"]
            assert action["sendemail"] is False
            assert action["outcome_id"] == spec.body["outcome_id"]
    for body in posts.bodies("/api/actions"):
        assert body["sendemail"] is False and body["dont_do_rules"] is True
    for body in posts.bodies("/api/tickets"):
        assert body["dont_do_rules"] is True
    assert len(posts.bodies("/api/actions")) == sum(len(c.actions) for c in plan.changes)
    assert len(posts.bodies("/api/tickets")) == sum(1 for c in plan.changes if c.ticket_update)
    assert duplicate_markers(r.sb) == []
    run = r.journal.get_run(outcome.run_id)
    assert run.status == "succeeded" and run.counts.done == len(plan.changes)
    assert {row.state for row in r.journal.changes(outcome.run_id)} == {"done"}


def test_halo_rules_true_sends_no_dont_do_rules(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A playbook with halo_rules: true lets Halo's rules run (no dont_do_rules flag)."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    posts = record_posts(r.sb)
    pb = playbook("quarantine-spam").model_copy(update={"halo_rules": True})
    outcome = r.runner.run(pb, trigger="cli", confirm=None)
    assert outcome.status == "succeeded"
    bodies = posts.bodies("/api/")
    assert bodies and all("dont_do_rules" not in b for b in bodies)


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_second_run_plans_and_writes_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str
) -> None:
    """Re-running a playbook right after it applied plans no change and sends no write."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    first = r.runner.run(playbook(name), trigger="cli", confirm=None)
    assert first.changed > 0
    writes = r.sb.counters["writes_applied"]
    state = tickets(r.sb)
    second = r.runner.run(playbook(name), trigger="cli", confirm=None)
    assert (second.status, second.changed) == ("succeeded", 0)
    assert r.plan_of(second.run_id).changes == ()
    assert r.sb.counters["writes_applied"] == writes
    assert differences(tickets(r.sb), state) == []


def test_stale_ticket_is_skipped_never_overwritten(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A ticket edited in Halo between plan and apply is skipped and reported; the run is
    partial and everything else is applied."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    victim = plan.changes[3].ticket_id
    r.sb.edit_ticket(victim, status_id=4)  # an agent moved it meanwhile
    before = tickets(r.sb)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "partial"
    assert (outcome.skipped, outcome.changed) == (1, len(plan.changes) - 1)
    assert [tid for tid, _ in outcome.skips] == [victim]
    assert "status_id is 4" in outcome.skips[0][1]
    assert r.sb.state.tickets[victim]["status_id"] == 4
    assert victim not in marked(r.sb, plan.run_id)
    expected = planned_state(before, plan)
    expected[victim] = before[victim]
    assert differences(tickets(r.sb), expected) == []
    rows = [row for row in r.journal.changes(plan.run_id) if row.ticket_id == victim]
    assert [(row.field, row.state) for row in rows] == [("status_id", "skipped")]
    assert r.journal.get_run(plan.run_id).status == "partial"


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        ({"max_changes": 5}, "limits.max_changes (5)"),
        ({"expect_min": 1000}, "fewer than expect.min (1000)"),
        ({"expect_max": 3}, "more than expect.max (3)"),
    ],
)
def test_limits_refuse_with_nothing_written(
    sandbox_factory: SandboxFactory, tmp_path: Path, limits: dict[str, int], words: str
) -> None:
    """A plan over max_changes, under expect.min or over expect.max is refused before any
    write, and the refusal is journaled."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("close-spam"))
    plan = dataclasses.replace(plan, **limits)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert isinstance(outcome.error, RefusedError) and words in str(outcome.error)
    assert outcome.status == "refused" and outcome.exit_code == 4
    assert r.sb.counters["writes_applied"] == 0
    run = r.journal.get_run(plan.run_id)
    assert run.status == "refused" and words in (run.message or "")
    assert r.journal.changes(plan.run_id) == []


def test_confirm_no_refuses(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    """Answering no at the confirmation writes nothing and journals the run as refused."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=lambda plan: False)
    assert isinstance(outcome.error, RefusedError) and "not confirmed" in str(outcome.error)
    assert r.sb.counters["writes_applied"] == 0
    assert [run.status for run in r.journal.runs()] == ["refused"]


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(("name", "rate"), [("quarantine-spam", 0.35), ("note-and-close", 0.5)])
def test_500s_are_reconciled_without_duplicates(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str, rate: float
) -> None:
    """With Halo answering 500 (unapplied) to many requests, the run completes: unknown
    outcomes are read back, nothing is posted twice, and every ticket is either in its planned
    state or reported as failed with Halo's answer; recovery and a re-run then converge."""
    r = rig(
        sandbox_factory(seed=3), tmp_path / "j.db"
    )  # seed 3: 500s hit action posts, no read runs out of retries
    plan = r.runner.plan(playbook(name))
    before = tickets(r.sb)
    r.sb.set_faults(fail_rate=rate)
    outcome = r.runner.apply_saved(plan, confirm=None)
    r.sb.set_faults(fail_rate=0.0)
    assert r.sb.counters["failures_injected"] > 5
    assert r.sb.counters["requests_by_endpoint"].get("GET /api/Actions", 0) > 0  # read-backs
    assert outcome.status in ("succeeded", "partial")
    failed = dict(outcome.failures)
    assert outcome.changed + outcome.failed == len(plan.changes)
    assert all("(empty body)" in message for message in failed.values())
    expected = planned_state(before, plan)
    posted = marked(r.sb, plan.run_id)
    for change in plan.changes:
        tid = change.ticket_id
        if tid in failed:
            expected[tid] = r.sb.state.tickets[tid]  # as it was, or partly written: reported
        else:
            assert len(posted.get(tid, [])) == len(change.actions), tid
    assert differences(tickets(r.sb), expected) == []
    assert duplicate_markers(r.sb) == []
    pending = {row.ticket_id for row in r.journal.pending(plan.run_id)}
    assert pending <= failed.keys()
    r.runner.recover()
    assert r.journal.pending() == []
    again = r.runner.run(playbook(name), trigger="cli", confirm=None)
    assert again.status == "succeeded"
    fields_only = {
        tid: {k: v for k, v in t.items() if k in next(iter(plan.changes)).fields or k == "id"}
        for tid, t in planned_state(before, plan).items()
    }
    now = {tid: {k: t.get(k) for k in fields_only[tid]} for tid, t in tickets(r.sb).items()}
    assert now == fields_only
    assert duplicate_markers(r.sb) == []


def test_400_fails_only_the_bad_tickets(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A category value removed from Halo between plan and apply fails exactly the tickets
    that set it, with Halo's message; the others are applied and the run is partial."""
    r = rig(sandbox_factory(), tmp_path / "j.db")
    plan = r.runner.plan(playbook("category-cleanup"))
    before = tickets(r.sb)
    bad = {c.ticket_id for c in plan.changes if c.fields["category_1"].after == "Network>VPN"}
    assert 0 < len(bad) < len(plan.changes)
    kept = [c for c in ref.CATEGORIES if c["value"] != "Network>VPN"]
    monkeypatch.setattr(ref, "CATEGORIES", kept)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.status == "partial"
    assert dict(outcome.failures).keys() == bad
    assert {m for _, m in outcome.failures} == {"Category 'Network>VPN' is not valid"}
    assert outcome.changed == len(plan.changes) - len(bad)
    expected = planned_state(before, plan)
    for tid in bad:
        expected[tid] = before[tid]
    assert differences(tickets(r.sb), expected) == []
    states = {(row.ticket_id in bad, row.state) for row in r.journal.changes(plan.run_id)}
    assert states == {(True, "failed"), (False, "done")}


# ---------------------------------------------------------------------- request counts


def floor(
    plan_scanned: int, lookups: int, changes: int, updates: int, acts: int, batch: int
) -> int:
    """1 token + lookups + list pages (+ the scan's id-only listing when it took more than
    one page, issue 13) + 1 InstanceInfo (issue 14) + stale-check pages + update batches +
    action batches (each preceded by one ``ticketids`` read: another run's note? issue 13)."""
    pages = max(1, math.ceil(plan_scanned / 100))
    return (
        1
        + lookups
        + 1
        + pages
        + (1 if pages > 1 else 0)
        + math.ceil(changes / 100)
        + math.ceil(updates / batch)
        + 2 * math.ceil(acts / batch)
    )


@pytest.mark.parametrize(
    ("name", "seed_tickets", "batch"),
    [("close-spam", 600, 5), ("quarantine-spam", 600, 7), ("close-spam", 5000, 50)],
)
def test_requests_are_at_the_floor(
    sandbox_factory: SandboxFactory, tmp_path: Path, name: str, seed_tickets: int, batch: int
) -> None:
    """A run sends exactly the requests it needs: token, the lookups it uses, the list pages,
    the stale-check pages and one POST per batch — nothing more."""
    sb = sandbox_factory(tickets=seed_tickets)
    client = client_for(sb, batch)
    runner = Runner(client, Journal.open(tmp_path / "j.db"))
    pb = playbook(name)
    outcome = runner.run(pb, trigger="cli", confirm=None)
    text = runner.journal.plan_json(outcome.run_id)
    assert text is not None
    p = plan_from_json(text)
    updates = sum(1 for c in p.changes if c.ticket_update)
    acts = sum(len(c.actions) for c in p.changes)
    expected = floor(p.scanned, len(needed_lookups(pb)), len(p.changes), updates, acts, batch)
    assert outcome.requests == sb.counters["requests"] == expected
    assert outcome.status == "succeeded" and outcome.changed == len(p.changes) > 0
    assert runner.journal.get_run(outcome.run_id).counts.requests == expected
