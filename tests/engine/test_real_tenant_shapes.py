"""Issue 14 (1, 2): the product over a sandbox that behaves like live Halo.

Priorities are per-SLA ``Policy`` rows keyed by ``priorityid`` (FACTS §9.1); list rows leave
out unset fields (FACTS §9.2), and every part of the product reads a missing field as unset:
planning, the stale check, the read-back and undo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apply_support import SandboxFactory, client_for, quiet_logs, rig

from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import FieldChange, TicketChange
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.values import field_value, restore_value, same
from halo_automate.engine.undo import build_undo_plan
from halo_automate.engine.writes import stale_reason, ticket_verdict
from halo_automate.errors import LookupAmbiguousError
from halo_automate.sandbox import reference as ref

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def test_priorities_resolve_to_priorityid_over_the_sandbox(
    sandbox_factory: SandboxFactory,
) -> None:
    """Eight Policy rows (two SLAs) make four priorities, keyed by priorityid."""
    with client_for(sandbox_factory()) as client:
        table = client.lookups(["priorities"]).table("priorities")
    assert len(table) == 4
    assert table.resolve("High").id == 2 and table.name_of(4) == "Low"


def test_same_name_different_ids_names_the_slas() -> None:
    """A name whose priorityid differs between SLAs is an error naming the SLAs; the same
    name with the same id across SLAs is one priority."""
    guid = "00000000-0000-0000-0000-00000000000"
    rows = [
        {"id": f"{guid}1", "priorityid": 2, "slaid": 1, "name": "High"},
        {"id": f"{guid}2", "priorityid": 2, "slaid": 3, "name": "High"},
        {"id": f"{guid}3", "priorityid": 6, "slaid": 2, "name": "high"},
        {"id": f"{guid}4", "priorityid": 4, "slaid": 1, "name": "Low"},
        {"id": f"{guid}5", "priorityid": 4, "slaid": 2, "name": "Low"},
    ]
    table = Lookups.from_rows(priorities=rows).table("priorities")
    assert table.resolve("Low").id == 4 and len(table) == 3
    with pytest.raises(LookupAmbiguousError) as caught:
        table.resolve("HIGH")
    assert str(caught.value) == "priority 'HIGH' is ambiguous: id 2 in SLA 1, 3; id 6 in SLA 2"
    assert table.resolve(6).name == "high"


def test_missing_fields_read_as_unset() -> None:
    """A key Halo left out is the field's unset value; a null before-value is restored as it."""
    assert field_value({}, "category_2") == "" and field_value({}, "flagged") is False
    assert field_value({}, "agent_id") == 0 and field_value({"agent_id": 3}, "agent_id") == 3
    assert same(field_value({}, "flagged"), False) and same(None, "")
    assert restore_value("category_2", None) == "" and restore_value("flagged", None) is False
    assert restore_value("category_2", "x") == "x"


SET_CATEGORY_2 = """
name: callback
select: {client_id: 1, open_only: true}
where:
  all:
    - category_2: {empty: true}
actions:
  - set: {category_2: Urgent Callback, flagged: true}
"""


def test_run_and_undo_over_rows_without_the_fields(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Rows omit ``category_2`` and a false ``flagged``: the plan's before-values are "" and
    false, the stale check passes, the run lands, a second run plans nothing, and undo writes
    the unset values back."""
    quiet_logs()
    r = rig(sandbox_factory(), tmp_path / "j.db")
    pb = load_playbook_text(SET_CATEGORY_2)
    targets = [
        t["id"]
        for t in r.sb.state.tickets.values()
        if t["client_id"] == 1 and t["status_id"] != ref.CLOSED_STATUS and not t["deleted"]
        and t["category_2"] == "" and not t["flagged"]
    ]  # fmt: skip
    assert targets
    outcome = r.runner.run(pb, trigger="cli", confirm=None)
    assert outcome.status == "succeeded", outcome.message
    plan = r.plan_of(outcome.run_id)
    changed = {c.ticket_id: c for c in plan.changes}
    assert set(targets) <= set(changed)
    first = changed[targets[0]]
    assert (first.fields["category_2"].before, first.fields["flagged"].before) == ("", False)
    assert all(r.sb.state.tickets[t]["category_2"] == "Urgent Callback" for t in targets)
    again = r.runner.run(pb, trigger="cli", confirm=None)
    assert again.planned == 0
    undo = build_undo_plan(r.journal, outcome.run_id, now=NOW)
    assert r.runner.apply_saved(undo, confirm=None).status == "succeeded"
    for tid in targets:
        assert r.sb.state.tickets[tid]["category_2"] == ""
        assert r.sb.state.tickets[tid]["flagged"] is False


def test_stale_check_and_read_back_read_a_missing_flag_as_false() -> None:
    """A row without ``flagged`` (Halo omits a false flag) still holds a planned 'before' of
    false, and a planned 'after' of false has landed (before issue 14 the stale check skipped
    such tickets and the read-back called them changed by someone else)."""
    clear = TicketChange(
        ticket_id=1, client_name="C", summary="s", reason="r",
        fields={"flagged": FieldChange(True, False)}, ticket_update={"flagged": False}, actions=(),
    )  # fmt: skip
    assert ticket_verdict(clear.fields, ["flagged"], {"id": 1}) == ("landed", None)
    flag = TicketChange(
        ticket_id=1, client_name="C", summary="s", reason="r",
        fields={"flagged": FieldChange(False, True)}, ticket_update={"flagged": True}, actions=(),
    )  # fmt: skip
    assert stale_reason(flag, {"id": 1}) is None
    assert ticket_verdict(flag.fields, ["flagged"], {"id": 1}) == ("absent", None)
