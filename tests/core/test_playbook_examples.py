"""The example playbooks against the sandbox's seeded tickets (notes/seed.md).

Halo's side is simulated with the sandbox's own query code (the same filtering its HTTP API
serves), so these tests check what each example would plan against the seed, including that
no planted look-alike is ever touched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from halo_automate.core.dates import format_halo_date
from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import FieldChange, Plan, make_plan
from halo_automate.core.playbook import Playbook, load_playbooks
from halo_automate.core.selection import build_query
from halo_automate.sandbox import reference as ref
from halo_automate.sandbox.data import generate
from halo_automate.sandbox.query import Params, list_row, select_tickets
from halo_automate.sandbox.state import SandboxState

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
NOW = datetime(2026, 11, 24, 5, 15, tzinfo=UTC)
Row = dict[str, Any]


@pytest.fixture(scope="module")
def state() -> SandboxState:
    return generate(3000, 7, NOW)


@pytest.fixture(scope="module")
def lookups(state: SandboxState) -> Lookups:
    levels = {level: [c for c in ref.CATEGORIES if c["type_id"] == level] for level in (1, 2)}
    return Lookups.from_rows(
        statuses=ref.STATUSES,
        ticket_types=ref.TICKET_TYPES,
        priorities=ref.PRIORITIES,
        teams=ref.TEAMS,
        agents=ref.AGENTS,
        outcomes=ref.OUTCOMES,
        clients=state.clients,
        categories=levels,
    )


@pytest.fixture(scope="module")
def examples() -> dict[str, Playbook]:
    playbooks, problems = load_playbooks(PLAYBOOKS)
    assert problems == []
    return {p.name: p for p in playbooks}


def fetch(state: SandboxState, query: dict[str, str]) -> list[Row]:
    """What GET /api/Tickets with this query returns from the sandbox (all pages)."""
    return [list_row(t) for t in select_tickets(state, Params(urlencode(query)))]


def run(pb: Playbook, state: SandboxState, lookups: Lookups, now: datetime = NOW) -> Plan:
    query = build_query(pb.select, lookups)
    return make_plan(pb, fetch(state, query), lookups, now=now, run_id="test-run", query=query)


def apply_to(state: SandboxState, plan: Plan) -> SandboxState:
    """A copy of the state with every planned after value written."""
    tickets = {i: dict(t) for i, t in state.tickets.items()}
    for change in plan.changes:
        tickets[change.ticket_id].update({k: fc.after for k, fc in change.fields.items()})
    return SandboxState(
        clients=state.clients, sites=state.sites, users=state.users, tickets=tickets
    )


def open_ids(state: SandboxState, ids: set[int]) -> set[int]:
    return {i for i in ids if state.tickets[i]["status_id"] != ref.CLOSED_STATUS}


def test_every_example_loads_and_is_commented(examples: dict[str, Playbook]) -> None:
    """All nine examples load and each file explains itself in comments."""
    assert set(examples) == {
        "close-spam",
        "quarantine-spam",
        "close-quarantined",
        "category-cleanup",
        "bulk-edit-woodgrove",
        "fill-contract-ref",
        "waiting-on-customer",
        "collapse-alert-duplicates",
        "merge-alert-duplicates",
    }
    for pb in examples.values():
        assert Path(pb.path).read_text(encoding="utf-8").startswith("# ")


@pytest.mark.parametrize("name", ["close-spam", "quarantine-spam"])
def test_spam_examples_target_exactly_the_open_planted_spam(
    name: str, examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """Every open planted spam ticket is targeted, and nothing else (no look-alike)."""
    plan = run(examples[name], state, lookups)
    targeted = {c.ticket_id for c in plan.changes}
    assert targeted == open_ids(state, state.planted["spam"])
    assert not targeted & state.planted["lookalike"]
    assert plan.matched == len(targeted)
    assert plan.ignored_by_halo == 0
    assert len(targeted) <= examples[name].limits.max_changes


def test_close_spam_closes_privately_without_email(
    examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """close-spam posts the Close Ticket outcome, private, no e-mail, note naming the run."""
    change = run(examples["close-spam"], state, lookups).changes[0]
    assert change.fields == {"status_id": FieldChange(1, ref.CLOSED_STATUS)}
    (action,) = change.actions
    assert action.body == {
        "outcome_id": 9,
        "new_status": 9,
        "note": "Closed as spam by close-spam (run test-run).",
        "hiddenfromuser": True,
        "sendemail": False,
    }


def test_spam_lookalikes_reach_the_conditions_and_are_rejected(
    examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """The open look-alikes are fetched (so the conditions decide) but never matched."""
    pb = examples["close-spam"]
    rows = fetch(state, build_query(pb.select, lookups))
    lookalikes = [r for r in rows if r["id"] in state.planted["lookalike"]]
    assert len(lookalikes) >= 5
    plan = make_plan(pb, lookalikes, lookups, now=NOW, run_id="r", query={})
    assert plan.matched == 0


def test_quarantine_then_close_quarantined(
    examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """Quarantined spam with a private note; three days later close-quarantined closes it."""
    quarantine = run(examples["quarantine-spam"], state, lookups)
    first = quarantine.changes[0]
    assert first.fields["status_id"] == FieldChange(1, ref.SPAM_STATUS)
    assert first.ticket_update == {"status_id": ref.SPAM_STATUS}
    (note,) = first.actions
    assert note.kind == "note"
    assert note.body["hiddenfromuser"] is True
    assert str(note.body["note"]).startswith("Quarantined by quarantine-spam (run test-run): ")

    after = apply_to(state, quarantine)
    assert run(examples["quarantine-spam"], after, lookups).changes == ()
    quarantined = {c.ticket_id for c in quarantine.changes}
    stale = set(sorted(quarantined)[::2])
    for ticket_id in quarantined:
        age = timedelta(days=4 if ticket_id in stale else 1)
        after.tickets[ticket_id]["lastactiondate"] = format_halo_date(NOW - age)
    closing = run(examples["close-quarantined"], after, lookups)
    assert closing.matched == len(stale)
    assert {c.ticket_id for c in closing.changes} == stale
    assert all(c.fields["status_id"] == FieldChange(21, 9) for c in closing.changes)


def test_category_cleanup_fixes_retired_and_empty_open_tickets(
    examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """Open retired values move to their replacements, empty ones to Line of Business."""
    plan = run(examples["category-cleanup"], state, lookups)
    wanted = open_ids(state, state.planted["retired"] | state.planted["uncategorised"])
    assert {c.ticket_id for c in plan.changes} == wanted
    for change in plan.changes:
        before = state.tickets[change.ticket_id]["category_1"]
        target = ref.RETIRED_CATEGORIES.get(before, ref.UNCATEGORISED_FIX)
        assert change.fields == {"category_1": FieldChange(before, target)}
        assert change.ticket_update == {"category_1": target}
    assert len(plan.changes) <= examples["category-cleanup"].limits.max_changes


def test_bulk_edit_woodgrove_touches_only_woodgrove_open_tickets(
    examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """Open Woodgrove tickets not already Second Line/High get both; nobody else."""
    plan = run(examples["bulk-edit-woodgrove"], state, lookups)
    assert plan.query == {"client_id": str(ref.WOODGROVE), "open_only": "true"}
    open_woodgrove = {
        i
        for i, t in state.tickets.items()
        if t["client_id"] == ref.WOODGROVE and t["status_id"] != ref.CLOSED_STATUS
    }
    done = {
        i
        for i in open_woodgrove
        if state.tickets[i]["team_id"] == 2 and state.tickets[i]["priority_id"] == 2
    }
    assert {c.ticket_id for c in plan.changes} == open_woodgrove - done
    assert plan.matched == len(open_woodgrove)
    for change in plan.changes:
        assert change.client_name == "Woodgrove Bank"
        assert set(change.ticket_update) <= {"team_id", "team", "priority_id"}
        assert change.ticket_update.get("team_id", 2) == 2
        assert change.ticket_update.get("priority_id", 2) == 2


@pytest.mark.parametrize(
    "name", ["close-spam", "quarantine-spam", "category-cleanup", "bulk-edit-woodgrove"]
)
def test_examples_are_idempotent_on_the_seed(
    name: str, examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """After applying an example's plan, planning it again changes nothing."""
    first = run(examples[name], state, lookups)
    assert first.changes
    assert run(examples[name], apply_to(state, first), lookups).changes == ()


def test_bulk_edit_ignores_rows_halo_should_not_have_sent(
    examples: dict[str, Playbook], state: SandboxState, lookups: Lookups
) -> None:
    """If Halo ignored client_id, the re-check still keeps the edit to Woodgrove."""
    pb = examples["bulk-edit-woodgrove"]
    query = build_query(pb.select, lookups)
    widened = fetch(state, {"open_only": "true"})  # as if client_id had been ignored
    plan = make_plan(pb, widened, lookups, now=NOW, run_id="r", query=query)
    assert plan.ignored_by_halo == sum(1 for r in widened if r["client_id"] != ref.WOODGROVE)
    assert {c.client_name for c in plan.changes} == {"Woodgrove Bank"}
