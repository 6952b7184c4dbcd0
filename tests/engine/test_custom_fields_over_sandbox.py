"""Custom fields end to end over the sandbox: the whole array is written, nothing else lost.

The sandbox blanks the custom fields a partial array leaves out (HaloAPI #13), so a run that
sent only the changed field would wipe every other one: these tests count, on the seed, that
every other custom field of every changed ticket is intact after apply and after undo.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
from apply_support import SandboxFactory, actions, playbook, quiet_logs, record_posts, rig, tickets

from halo_automate.core.plan import requests_needed
from halo_automate.engine.undo import build_undo_plan
from halo_automate.sandbox import SandboxServer
from halo_automate.sandbox.reference import CLOSED_STATUS

quiet_logs()
WOODGROVE = 9
CONTRACT = "C-1042"


def values(ticket: dict[str, Any]) -> dict[str, str]:
    return {e["label"]: e["value"] for e in ticket["customfields"]}


def planted(sb: SandboxServer) -> list[int]:
    """Open Woodgrove tickets with an empty Contract Ref: what the playbook must change."""
    return sorted(
        tid
        for tid, t in sb.state.tickets.items()
        if t["client_id"] == WOODGROVE
        and t["status_id"] != CLOSED_STATUS
        and not t["deleted"]
        and values(t)["Contract Ref"] == ""
    )


def test_sandbox_blanks_fields_a_partial_array_leaves_out(sandbox: SandboxServer) -> None:
    """The trap the product avoids: POST one custom field, the others are blanked."""
    tid = next(t for t, row in sandbox.state.tickets.items() if all(values(row).values()))
    with httpx.Client(base_url=sandbox.base_url) as http:
        token = http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "scope": "all",
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        row = http.get("/api/Tickets", params={"ticketids": str(tid)}, headers=auth).json()
        assert "customfields" not in row["tickets"][0]  # list rows do not carry them
        body = [{"id": tid, "customfields": [{"id": 101, "value": "C-9"}]}]
        assert http.post("/api/Tickets", json=body, headers=auth).status_code == 201
        after = http.get(f"/api/Tickets/{tid}", headers=auth).json()
    assert values(after) == {"Contract Ref": "C-9", "Site Code": "", "Billing Code": ""}


def test_apply_sets_one_field_keeps_the_others_then_rerun_plans_nothing_and_undo_restores(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=20)
    expected = planted(r.sb)
    before, before_actions = tickets(r.sb), actions(r.sb)
    filled_before = sum(1 for t in expected for v in values(before[t]).values() if v)
    assert len(expected) >= 5 and filled_before > 0

    plan = r.runner.plan(playbook("fill-contract-ref"))
    assert sorted(c.ticket_id for c in plan.changes) == expected
    change = plan.changes[0]
    assert change.fields["customfields.Contract Ref"].before == ""
    assert change.fields["customfields.Contract Ref"].after == CONTRACT
    # one ticket read per changed ticket at the stale check, on top of pages and batches
    assert requests_needed(plan, batch_size=20) == 1 + 1 + len(expected)

    posts = record_posts(r.sb)
    run = r.runner.run(playbook("fill-contract-ref"), trigger="cli", confirm=None)
    assert (run.status, run.changed, run.failed) == ("succeeded", len(expected), 0)
    sent = posts.bodies("/api/tickets")
    assert len(sent) == len(expected)
    assert all(len(b["customfields"]) == 3 and "customfields.Contract Ref" not in b for b in sent)

    after = tickets(r.sb)
    intact = 0
    for tid, ticket in before.items():
        if tid in expected:
            want = {**values(ticket), "Contract Ref": CONTRACT}
            assert values(after[tid]) == want
            intact += sum(1 for k, v in values(ticket).items() if v and k != "Contract Ref")
        else:
            assert after[tid]["customfields"] == ticket["customfields"]
    assert intact == filled_before  # every other filled custom field survived the write
    print(
        f"\ncustom fields: {len(expected)} tickets given Contract Ref {CONTRACT}, "
        f"{intact} other filled custom fields on them intact ({filled_before} before), "
        f"{len(sent)} whole-array writes, 0 fields blanked; planning read {plan.scanned} "
        f"tickets one by one; the run sent {run.requests} requests in all"
    )
    assert actions(r.sb) == before_actions

    again = r.runner.plan(playbook("fill-contract-ref"))
    assert again.changes == ()

    undo = build_undo_plan(r.journal, run.run_id, now=r.runner.now())
    assert {c.ticket_id for c in undo.changes} == set(expected)
    outcome = r.runner.apply_saved(undo, confirm=None)
    assert (outcome.status, outcome.changed) == ("succeeded", len(expected))
    restored = tickets(r.sb)
    for tid, ticket in before.items():
        assert restored[tid]["customfields"] == ticket["customfields"], tid


def test_an_edit_of_another_custom_field_since_the_plan_skips_the_ticket(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The whole array is planned: writing it over someone's newer Site Code would revert
    it, so the stale check skips that ticket and keeps the edit."""
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=20)
    plan = r.runner.plan(playbook("fill-contract-ref"))
    victim = plan.changes[0].ticket_id
    edited = copy.deepcopy(r.sb.state.tickets[victim]["customfields"])
    edited[1] = {**edited[1], "value": "S-NEW", "display": "S-NEW"}
    r.sb.edit_ticket(victim, customfields=edited)
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert (outcome.skipped, outcome.changed) == (1, len(plan.changes) - 1)
    assert "Site Code" in dict(outcome.skips)[victim]
    assert values(r.sb.state.tickets[victim])["Site Code"] == "S-NEW"
    assert values(r.sb.state.tickets[victim])["Contract Ref"] == ""


def test_a_custom_field_write_killed_mid_flight_is_recovered_whole(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """SIGKILL while the update batch is held before Halo applies it: recovery reads the
    tickets back (with their custom fields) and re-sends the whole array, nothing blanked."""
    from test_recovery import kill_at

    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=5)
    plan = r.runner.plan(playbook("fill-contract-ref"))
    before = tickets(r.sb)
    kill_at(r, plan, tmp_path, "Tickets", 1, landed=False)
    assert r.journal.pending(plan.run_id)
    outcomes = r.runner.recover()
    assert [(o.status, o.changed) for o in outcomes] == [("succeeded", len(plan.changes))]
    for tid, ticket in before.items():
        want = values(ticket)
        if tid in {c.ticket_id for c in plan.changes}:
            want["Contract Ref"] = CONTRACT
        assert values(r.sb.state.tickets[tid]) == want, tid
