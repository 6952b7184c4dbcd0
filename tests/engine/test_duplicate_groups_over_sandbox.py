"""Duplicate groups end to end over the sandbox's seeded alert bursts and look-alikes.

The sandbox plants bursts of one monitoring alert (summaries differing only in digits, minutes
apart), the same alert on the same client again days later and on another client, and
look-alikes (same client, similar but different alerts). ``collapse-alert-duplicates`` must
find exactly the planted groups (look-alikes wrongly grouped: 0), link and close every
duplicate, plan nothing on a re-run and be undone; ``merge-alert-duplicates`` merges, waits
for approval, and its undo leaves the merged tickets alone.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from apply_support import SandboxFactory, actions, playbook, quiet_logs, rig, tickets

from halo_automate.core.plan_notes import group_lines
from halo_automate.engine import approvals
from halo_automate.engine.undo import prepare_undo
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.reference import CLOSED_STATUS

quiet_logs()


def planted(sb: SandboxServer) -> tuple[set[int], set[int], set[int]]:
    p = sb.state.planted
    return set(p["duplicate_survivor"]), set(p["duplicate"]), set(p["duplicate_lookalike"])


def test_link_finds_exactly_the_planted_groups_then_reruns_nothing_and_undoes(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    r = rig(sandbox_factory(duplicates=True), tmp_path / "j.db", batch_size=20)
    survivors, duplicates, lookalikes = planted(r.sb)
    assert len(survivors) >= 4 and len(duplicates) >= len(survivors) and lookalikes
    before, before_actions = tickets(r.sb), actions(r.sb)

    plan = r.runner.plan(playbook("collapse-alert-duplicates"))
    found = {g.survivor for g in plan.groups}
    grouped = {m for g in plan.groups for m in g.members} | found
    assert found == survivors
    assert {m for g in plan.groups for m in g.members} == duplicates
    assert not grouped & lookalikes  # look-alikes wrongly grouped: 0
    assert {c.ticket_id for c in plan.changes} == duplicates
    assert all(line.startswith("Group: keep #") for line in group_lines(plan)[:-1])

    run = r.runner.run(playbook("collapse-alert-duplicates"), trigger="cli", confirm=None)
    assert (run.status, run.changed, run.failed) == ("succeeded", len(duplicates), 0)
    parent = {m: g.survivor for g in plan.groups for m in g.members}
    for tid in duplicates:
        row = r.sb.state.tickets[tid]
        assert (row["parent_id"], row["status_id"]) == (parent[tid], CLOSED_STATUS)
    for tid in survivors | lookalikes:
        assert r.sb.state.tickets[tid]["parent_id"] == 0
        assert r.sb.state.tickets[tid]["status_id"] == before[tid]["status_id"]
    print(
        f"\ngroups: {len(found)} found, {len(survivors)} planted; duplicates linked "
        f"{len(duplicates)} of {len(duplicates)} planted; look-alikes wrongly grouped "
        f"{len(grouped & lookalikes)} of {len(lookalikes)}; run requests {run.requests}"
    )

    assert r.runner.plan(playbook("collapse-alert-duplicates")).changes == ()

    undo = prepare_undo(r.client, r.journal, run.run_id, now=r.runner.now(), delete_notes=True)
    assert {c.ticket_id for c in undo.plan.changes} == duplicates and not undo.skips
    outcome = r.runner.apply_saved(undo.plan, confirm=None, guard=undo.guard())
    assert (outcome.status, outcome.changed) == ("succeeded", len(duplicates))
    for tid in duplicates:
        assert r.sb.state.tickets[tid]["parent_id"] == 0
        assert r.sb.state.tickets[tid]["status_id"] == before[tid]["status_id"]
    assert actions(r.sb) == before_actions


def test_a_survivor_changed_since_the_plan_holds_back_its_duplicates(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Apply re-reads each survivor: one no longer an alert (a person retitled it) is not
    a survivor now, so its duplicates are skipped, not linked to it."""
    r = rig(sandbox_factory(duplicates=True), tmp_path / "j.db", batch_size=20)
    plan = r.runner.plan(playbook("collapse-alert-duplicates"))
    victim = plan.groups[0]
    r.sb.edit_ticket(victim.survivor, summary="Disk cleaned up, monitoring paused")
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert outcome.skipped == len(victim.members)
    assert all("no longer matches" in dict(outcome.skips)[m] for m in victim.members)
    assert all(r.sb.state.tickets[m]["parent_id"] == 0 for m in victim.members)
    others = [m for g in plan.groups[1:] for m in g.members]
    assert all(r.sb.state.tickets[m]["parent_id"] != 0 for m in others)


def test_merge_waits_for_approval_merges_and_its_undo_leaves_merged_tickets_alone(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    r = rig(sandbox_factory(duplicates=True), tmp_path / "j.db", batch_size=20)
    survivors, duplicates, _ = planted(r.sb)
    held = r.runner.run(playbook("merge-alert-duplicates"), trigger="cli", confirm=None)
    assert held.status == "awaiting_approval"
    assert all(r.sb.state.tickets[t]["merged_into_id"] == 0 for t in duplicates)
    plan = r.plan_of(held.run_id)
    assert plan.irreversible and {g.survivor for g in plan.groups} == survivors
    assert all(line.endswith("cannot be undone") for line in group_lines(plan)[:-1])

    approvals.approve(r.journal, held.run_id, "alice", r.runner.now())
    outcome = r.runner.apply_approved(held.run_id, confirm=None)
    assert (outcome.status, outcome.changed, outcome.failed) == (
        "succeeded",
        len(duplicates),
        0,
    )
    into = {m: g.survivor for g in plan.groups for m in g.members}
    for tid in duplicates:
        row = r.sb.state.tickets[tid]
        assert (row["merged_into_id"], row["status_id"]) == (into[tid], CLOSED_STATUS)
    assert r.runner.plan(playbook("merge-alert-duplicates")).changes == ()

    undo = prepare_undo(r.client, r.journal, outcome.run_id, now=r.runner.now())
    assert undo.plan.changes == ()
    assert {s.ticket_id for s in undo.skips} == duplicates
    assert all("a merge cannot be undone" in s.reason for s in undo.skips)


def test_a_webhook_run_groups_the_named_alert_against_the_whole_select(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A webhook names only the new alert; its survivor is an old ticket the webhook does not
    name. The scoped run groups it against the whole select and links it (and the rest of its
    group) to that survivor, and changes nothing in groups no named ticket is part of."""
    from halo_automate.core.dates import format_halo_date, parse_halo_date
    from halo_automate.engine.scope import TicketScope

    r = rig(sandbox_factory(duplicates=True), tmp_path / "j.db", batch_size=20)
    collapse = playbook("collapse-alert-duplicates").model_copy(update={"triggers": ("webhook",)})
    survivor = min(r.sb.state.planted["duplicate_survivor"])
    began = parse_halo_date(r.sb.state.tickets[survivor]["dateoccurred"])
    assert began is not None
    when = format_halo_date(began + timedelta(hours=1))
    arrival = r.sb.insert_ticket(survivor, dateoccurred=when)
    scope = TicketScope(r.client, [arrival])
    outcome = r.runner.run(collapse, trigger="webhook", confirm=None, scope=scope)
    [group] = r.plan_of(outcome.run_id).groups  # the named ticket's group only
    assert group.survivor == survivor and arrival in group.members
    assert (outcome.status, outcome.changed) == ("succeeded", len(group.members))
    assert r.sb.state.tickets[arrival]["parent_id"] == survivor
    others = set(r.sb.state.planted["duplicate"]) - set(group.members)
    assert others and all(r.sb.state.tickets[t]["parent_id"] == 0 for t in others)
