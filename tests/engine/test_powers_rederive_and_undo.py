"""Issue 18's powers under issue 12's apply and undo (the merge of both), over the sandbox.

* Apply re-derives each change from the playbook: a playbook whose ``where`` reads custom
  fields gets them read before re-deriving (else every ticket would be "not evaluated now");
  a ``lifecycle:`` playbook re-derives its due step with the history read from the journal
  and the tickets' actions, so a second saved plan of the same reminders writes nothing.
* A re-derivation that cannot have its facts skips the ticket, never writes another change.
* Undo (keeping notes, with its history checks) puts each custom field back into the array
  as it is at undo time: a field someone else changed since the run keeps their value.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apply_support import SandboxFactory, playbook, quiet_logs, rig
from clock import FakeClock

from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.lifecycle import History
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import make_plan, plan_from_json, plan_to_json
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.rederive import NOT_NOW, Rederiver
from halo_automate.core.schema import lookup_kind
from halo_automate.engine.runner import Runner
from halo_automate.engine.undo import prepare_undo, reverted_text
from halo_automate.engine.writes import playbook_tag

quiet_logs()
WOODGROVE = 9


def values(ticket: dict[str, Any]) -> dict[str, str]:
    return {e["label"]: e["value"] for e in ticket["customfields"]}


WHERE_ONLY = """
name: flag-no-contract
select: {client_id: Woodgrove Bank, open_only: true}
where:
  customfield.Contract Ref: {empty: true}
actions:
  - set: {flagged: true}
"""


def test_a_where_on_custom_fields_is_re_derived_with_the_fields_read(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """The change writes no custom field, but its ``where`` reads one: apply reads each
    ticket's array before re-deriving, and writes every planned ticket."""
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=20)
    pb = load_playbook_text(WHERE_ONLY)
    plan = r.runner.plan(pb)
    assert len(plan.changes) >= 5
    outcome = r.runner.apply_saved(plan, confirm=None)
    assert (outcome.status, outcome.changed, outcome.skipped) == (
        "succeeded", len(plan.changes), 0
    ), outcome.skips  # fmt: skip
    assert all(r.sb.state.tickets[c.ticket_id]["flagged"] for c in plan.changes)
    assert r.runner.plan(pb).changes == ()


def test_a_second_saved_plan_of_the_same_reminders_writes_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Two plans saved before either was applied: the first posts each due reminder; the
    second is re-derived with the journal's history (the reminder was had) and skips every
    ticket, so no customer gets a reminder twice."""
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    clock = FakeClock(wall=start)
    sb = sandbox_factory(now=start, monotonic=clock.monotonic, token_ttl=10**8)
    r = rig(sb, tmp_path / "j.db", batch_size=50)
    runner = Runner(r.client, r.journal, now=clock.now, started_by="tests")
    pb = playbook("waiting-on-customer")
    first = runner.plan(pb, run_id="first")
    second = runner.plan(pb, run_id="second")
    assert first.changes and [c.ticket_id for c in first.changes] == [
        c.ticket_id for c in second.changes
    ]
    done = runner.apply_saved(first, confirm=None)
    assert (done.status, done.changed, done.skipped) == ("succeeded", len(first.changes), 0)
    again = runner.apply_saved(second, confirm=None)
    assert (again.changed, again.skipped) == (0, len(second.changes))
    assert all(why.startswith(NOT_NOW) for _, why in again.skips)
    clock.advance(days=2, hours=1)  # the second reminders are due now
    third, fourth = runner.plan(pb, run_id="third"), runner.plan(pb, run_id="fourth")
    reminded = {c.ticket_id for c in first.changes}
    assert {c.ticket_id for c in third.changes} >= reminded
    done = runner.apply_saved(third, confirm=None)  # re-derived with had=1: the second step
    assert (done.changed, done.skipped) == (len(third.changes), 0), done.skips
    again = runner.apply_saved(fourth, confirm=None)
    assert (again.changed, again.skipped) == (0, len(fourth.changes))
    tag = playbook_tag(pb.name)
    for ticket_id in reminded:
        ours = [str(a["note"]) for a in sb.state.actions[ticket_id] if tag in str(a.get("note"))]
        assert [n.split(":")[0].split(".")[0] for n in ours] == ["Reminder", "Second reminder"]


LOOKUPS = Lookups({k: kind_table(lookup_kind(k), v) for k, v in SAMPLE_LOOKUPS.items()})
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
BOOK = """
name: wait
lifecycle:
  - after: 3d
    note: {text: "Reminder", email: true}
  - after: 7d
    close: {note: "Closed after no reply.", email: true}
"""


def _waiting(days: float) -> dict[str, Any]:
    when = (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": 3, "summary": "s", "status_id": 4, "lastactiondate": when}


def test_lifecycle_re_derivation_without_its_history_skips_the_ticket() -> None:
    pb = load_playbook_text(BOOK)
    ticket = _waiting(4)
    plan = make_plan(pb, [ticket], LOOKUPS, now=NOW, run_id="r", query={})
    planned = plan.changes[0]
    blind = Rederiver(pb, LOOKUPS, now=NOW, run_id="r")  # no history source at all
    blind.prepare([3])
    assert str(blind(planned, ticket)).startswith(f"{NOT_NOW}: its lifecycle history")

    def unreadable(ids: Any) -> tuple[dict[int, History], frozenset[int]]:
        return {}, frozenset(ids)

    failed = Rederiver(pb, LOOKUPS, now=NOW, run_id="r", history=unreadable)
    failed.prepare([3])
    assert str(failed(planned, ticket)).startswith(f"{NOT_NOW}: its lifecycle history")

    def had_it(ids: Any) -> tuple[dict[int, History], frozenset[int]]:
        return {3: History(since=ticket["lastactiondate"], had=1)}, frozenset()

    told = Rederiver(pb, LOOKUPS, now=NOW, run_id="r", history=had_it)
    told.prepare([3])
    assert told(planned, ticket) == f"{NOT_NOW}: the playbook would not change it now"

    def nothing(ids: Any) -> tuple[dict[int, History], frozenset[int]]:
        return {}, frozenset()

    fresh = Rederiver(pb, LOOKUPS, now=NOW, run_id="r", history=nothing)
    fresh.prepare([3])
    assert fresh(planned, ticket) == planned  # the one due step, exactly


def test_custom_field_re_derivation_without_the_array_skips_the_ticket() -> None:
    pb = load_playbook_text('name: cf\nactions:\n  - set: {customfields: {"Ref": C-1}}\n')
    array = [{"id": 101, "label": "Ref", "value": ""}, {"id": 102, "label": "Site", "value": "S"}]
    ticket = {"id": 3, "summary": "s", "customfields": array}
    planned = make_plan(pb, [ticket], LOOKUPS, now=NOW, run_id="r", query={}).changes[0]
    redo = Rederiver(pb, LOOKUPS, now=NOW, run_id="r")
    assert redo(planned, ticket) == planned
    unread = {k: v for k, v in ticket.items() if k != "customfields"}
    assert redo(planned, unread) == f"{NOT_NOW}: its custom fields could not be read"
    moved = {**ticket, "customfields": [{**array[0], "id": 109}, array[1]]}  # another field now
    assert "ids differ" in str(redo(planned, moved))


CF_AND_NOTE = """
name: contract-with-note
select: {client_id: Woodgrove Bank, open_only: true}
where:
  customfield.Contract Ref: {empty: true}
actions:
  - set:
      customfields: {"Contract Ref": C-1042}
  - note: {text: "Contract reference filled by {playbook}"}
"""


def test_undo_puts_each_custom_field_back_keeping_notes_and_a_later_edit(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Main's undo (private notes kept, one Reverted note, history checks) of custom field
    edits: Contract Ref back to empty on every ticket, every other custom field as it is
    now, including a Site Code an agent changed after the run."""
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=20)
    pb = load_playbook_text(CF_AND_NOTE)
    before = {t: copy.deepcopy(row) for t, row in r.sb.state.tickets.items()}
    run = r.runner.run(pb, trigger="cli", confirm=None)
    changed = sorted(t for t, row in r.sb.state.tickets.items()
                     if values(row) != values(before[t]))  # fmt: skip
    assert run.status == "succeeded" and len(changed) == run.changed >= 5
    victim = changed[0]
    edited = copy.deepcopy(r.sb.state.tickets[victim]["customfields"])
    edited[1] = {**edited[1], "value": "S-LATER", "display": "S-LATER"}
    r.sb.edit_ticket(victim, customfields=edited)

    prepared = prepare_undo(r.client, r.journal, run.run_id, now=r.runner.now())
    assert (len(prepared.plan.changes), prepared.notes_kept, prepared.skips) == (
        len(changed), len(changed), ()
    )  # fmt: skip
    outcome = r.runner.apply_saved(prepared.plan, confirm=None, guard=prepared.guard())
    assert (outcome.status, outcome.changed, outcome.skipped) == ("succeeded", len(changed), 0)
    restored = 0
    for tid, row in r.sb.state.tickets.items():
        want = values(before[tid])
        if tid == victim:
            want["Site Code"] = "S-LATER"
        assert values(row) == want, tid
        restored += tid in changed
    assert restored == len(changed)
    for tid in changed:
        notes = [str(a.get("note")) for a in r.sb.state.actions[tid]]
        assert sum("Contract reference filled" in n for n in notes) == 1  # kept
        text = reverted_text(outcome.run_id, run.run_id)
        assert sum(n.startswith(text) for n in notes) == 1


def test_a_saved_custom_field_plan_file_applies_whole_arrays(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """``plan --out`` then ``apply FILE``: the document's custom field arrays come back, the
    re-derivation agrees, and every other custom field of every ticket is intact."""
    r = rig(sandbox_factory(), tmp_path / "j.db", batch_size=20)
    before = {t: values(row) for t, row in r.sb.state.tickets.items()}
    planned = r.runner.plan(playbook("fill-contract-ref"))
    saved = plan_from_json(plan_to_json(planned))
    assert saved == planned
    outcome = r.runner.apply_saved(saved, confirm=None)
    assert (outcome.changed, outcome.skipped) == (len(planned.changes), 0), outcome.skips
    changed = {c.ticket_id for c in planned.changes}
    for tid, row in r.sb.state.tickets.items():
        want = {**before[tid], "Contract Ref": "C-1042"} if tid in changed else before[tid]
        assert values(row) == want, tid
