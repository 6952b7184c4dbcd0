"""Pure planning: changes per ticket, idempotency, name resolution, re-check, limits, numbers."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import (
    ActionSpec,
    FieldChange,
    Plan,
    RemoveAction,
    TicketChange,
    check_limits,
    client_counts,
    make_plan,
    new_run_id,
    requests_needed,
    seconds_needed,
)
from halo_automate.core.playbook import Playbook, load_playbook_text
from halo_automate.errors import PlanError, RefusedError

NOW = datetime(2026, 11, 24, 5, 15, tzinfo=UTC)

LOOKUPS = Lookups.from_rows(
    statuses=[
        {"id": 1, "name": "New"},
        {"id": 2, "name": "In Progress"},
        {"id": 9, "name": "Closed"},
        {"id": 21, "name": "Suspected Spam"},
    ],
    ticket_types=[{"id": 1, "name": "Incident"}, {"id": 4, "name": "Service Request"}],
    teams=[{"id": 1, "name": "Service Desk"}, {"id": 2, "name": "Second Line"}],
    agents=[{"id": 5, "name": "Daniel Evans"}],
    priorities=[{"id": 2, "name": "High"}, {"id": 3, "name": "Medium"}],
    outcomes=[
        {"id": 1, "outcome": "Reply to User"},
        {"id": 7, "outcome": "Internal Note"},
        {"id": 9, "outcome": "Close Ticket"},
    ],
    clients=[{"id": 1, "name": "Contoso Ltd"}, {"id": 9, "name": "Woodgrove Bank"}],
    categories={
        1: [
            {"id": 3, "value": "Hardware>Printer"},
            {"id": 5, "value": "Software>Microsoft 365"},
            {"id": 6, "value": "Software>Line of Business"},
        ]
    },
)


def ticket(ticket_id: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": ticket_id,
        "summary": f"Ticket {ticket_id}",
        "client_id": 1,
        "client_name": "Contoso Ltd",
        "status_id": 1,
        "tickettype_id": 1,
        "priority_id": 3,
        "agent_id": 0,
        "team_id": 1,
        "team": "Service Desk",
        "category_1": "Hardware>Printer",
        "onhold": False,
        "user_email": f"user{ticket_id}@contoso.example",
    }
    base.update(fields)
    return base


def playbook(body: str, name: str = "test") -> Playbook:
    return load_playbook_text(f"name: {name}\n{body}", f"{name}.yaml")


def plan_of(
    pb: Playbook, tickets: Iterable[dict[str, Any]], query: dict[str, str] | None = None
) -> Plan:
    return make_plan(
        pb, tickets, LOOKUPS, now=NOW, run_id="20261124T051500-abc123", query=query or {}
    )


def apply_afters(plan: Plan, tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Halo would hold after the plan: every field's after value."""
    by_id = {c.ticket_id: c for c in plan.changes}
    result = []
    for t in tickets:
        change = by_id.get(t["id"])
        updated = dict(t)
        if change is not None:
            updated.update({name: fc.after for name, fc in change.fields.items()})
        result.append(updated)
    return result


CLOSE_SPAM = """
select: {open_only: true}
where:
  any:
    - user_email: {domain: [news.example]}
    - summary: {matches: '(?i)^automatic reply'}
actions:
  - note: {text: "Seen by {playbook}: {ticket.summary}"}
  - close: {note: "Closed by {playbook} (run {run_id})"}
"""


def test_close_plans_an_action_and_a_status_change() -> None:
    """A close becomes an outcome action plus status_id before → after, with notes first."""
    tickets = [
        ticket(1, summary="Automatic reply: away"),
        ticket(2, user_email="x@news.example", status_id=9),  # already closed
        ticket(3, summary="Printer down"),
    ]
    plan = plan_of(playbook(CLOSE_SPAM), tickets)
    assert (plan.scanned, plan.matched, len(plan.changes)) == (3, 2, 1)
    change = plan.changes[0]
    assert change.ticket_id == 1
    assert change.client_name == "Contoso Ltd"
    assert change.summary == "Automatic reply: away"
    assert change.reason == "any[1]: summary matches '(?i)^automatic reply'"
    assert change.fields == {"status_id": FieldChange(1, 9)}
    assert change.ticket_update == {}
    assert [a.kind for a in change.actions] == ["note", "close"]
    assert change.actions[0].body == {
        "outcome_id": 7,
        "note": "Seen by test: Automatic reply: away",
        "hiddenfromuser": True,
        "sendemail": False,
    }
    assert change.actions[1].body == {
        "outcome_id": 9,
        "new_status": 9,
        "note": "Closed by test (run 20261124T051500-abc123)",
        "hiddenfromuser": True,
        "sendemail": False,
    }


def test_plan_header_carries_the_playbook_settings() -> None:
    """The plan records playbook, hash, limits, expect, rules flag, query and time."""
    pb = playbook(
        "actions: [{close: {}}]\nlimits: {max_changes: 7}\nexpect: {min: 1}\nhalo_rules: true\n"
    )
    plan = plan_of(pb, [], {"open_only": "true"})
    assert plan.version == 2
    assert plan.playbook == "test"
    assert plan.playbook_hash == pb.source_hash
    assert len(plan.playbook_hash) == 64
    assert plan.mode == "apply"
    assert plan.halo_rules is True
    assert (plan.max_changes, plan.expect_min, plan.expect_max) == (7, 1, None)
    assert plan.query == {"open_only": "true"}
    assert plan.created_at == "2026-11-24T05:15:00+00:00"
    assert plan.undo_of is None
    assert (plan.scanned, plan.matched, plan.ignored_by_halo, plan.changes) == (0, 0, 0, ())


def test_close_without_note_and_with_explicit_outcome_and_email() -> None:
    """close: no note key without a note; outcome by name; email and private as given."""
    pb = playbook(
        "actions:\n  - close: {status: Suspected Spam, outcome: Reply to User,"
        " private: false, email: true}\n"
    )
    change = plan_of(pb, [ticket(1)]).changes[0]
    assert change.fields == {"status_id": FieldChange(1, 21)}
    assert change.actions[0].body == {
        "outcome_id": 1,
        "new_status": 21,
        "hiddenfromuser": False,
        "sendemail": True,
    }


SET_ALL = """
actions:
  - set:
      status: In Progress
      team: second line
      agent: Daniel Evans
      priority: High
      tickettype: Service Request
      category_1: software>microsoft 365
      onhold: true
      summary: Renamed
"""


def test_set_resolves_names_and_writes_only_what_differs() -> None:
    """set resolves names to ids (team: id and name), canonical category text, verbatim rest."""
    tickets = [ticket(1), ticket(2, priority_id=2, onhold=True, summary="Renamed")]
    plan = plan_of(playbook(SET_ALL), tickets)
    first, second = plan.changes
    assert first.ticket_update == {
        "status_id": 2,
        "team_id": 2,
        "team": "Second Line",
        "agent_id": 5,
        "priority_id": 2,
        "tickettype_id": 4,
        "category_1": "Software>Microsoft 365",
        "onhold": True,
        "summary": "Renamed",
    }
    assert first.fields["team"] == FieldChange("Service Desk", "Second Line")
    assert first.fields["team_id"] == FieldChange(1, 2)
    assert first.actions == ()
    assert set(second.fields) == set(first.fields) - {"priority_id", "onhold", "summary"}
    assert second.reason == "no conditions (every selected ticket)"


@pytest.mark.parametrize(
    "body",
    [
        SET_ALL,
        CLOSE_SPAM,
        "actions:\n  - set: {team: Second Line, priority: High}\n  - note: {text: moved}\n",
        "actions:\n  - recategorize: {field: category_1, map: {'Hardware>Fax': 'Hardware>Printer'},"
        " empty: 'Software>Line of Business'}\n",
    ],
)
def test_replanning_after_apply_plans_nothing(body: str) -> None:
    """Applying a plan's after values and planning again yields no change at all."""
    tickets = [
        ticket(1, summary="Automatic reply: x"),
        ticket(2, user_email="a@news.example", category_1="Hardware>Fax"),
        ticket(3, category_1="", team_id=2, team="Second Line"),
        ticket(4, category_1=None, priority_id=2),
    ]
    pb = playbook(body)
    first = plan_of(pb, tickets)
    assert first.changes
    second = plan_of(pb, apply_afters(first, tickets))
    assert second.changes == ()
    assert second.matched == first.matched


def test_team_compares_by_name_when_the_row_has_no_team_id() -> None:
    """A list row without team_id is compared by team name (case-insensitively)."""
    pb = playbook("actions: [{set: {team: Second Line}}]\n")
    rows = [ticket(1, team_id=None, team="second line"), ticket(2, team_id=0, team="Service Desk")]
    plan = plan_of(pb, rows)
    assert [c.ticket_id for c in plan.changes] == [2]


def test_notes_only_ride_on_tickets_that_change() -> None:
    """A note is attached to changed tickets only, never alone."""
    pb = playbook(
        "actions:\n  - set: {priority: High}\n  - note: {text: 'n {ticket.id}', private: false}\n"
    )
    plan = plan_of(pb, [ticket(1), ticket(2, priority_id=2)])
    assert [c.ticket_id for c in plan.changes] == [1]
    assert plan.changes[0].actions[0].body == {
        "outcome_id": 7,
        "note": "n 1",
        "hiddenfromuser": False,
        "sendemail": False,
    }


def test_recategorize_maps_retired_values_and_fills_empty() -> None:
    """Mapped and empty values change, others stay; targets use Halo's spelling."""
    pb = playbook(
        "actions:\n  - recategorize:\n      field: category_1\n"
        "      map: {'Hardware>Fax': 'hardware>printer',"
        " 'Network>Dial-up': 'Software>Microsoft 365'}\n"
        "      empty: Software>Line of Business\n"
    )
    rows = [
        ticket(1, category_1="Hardware>Fax"),
        ticket(2, category_1=""),
        ticket(3, category_1=None),
        ticket(4, category_1="Hardware>Printer"),
        ticket(5, category_1="hardware>fax"),  # exact match only
    ]
    plan = plan_of(pb, rows)
    assert {c.ticket_id: c.fields["category_1"] for c in plan.changes} == {
        1: FieldChange("Hardware>Fax", "Hardware>Printer"),
        2: FieldChange("", "Software>Line of Business"),
        3: FieldChange(None, "Software>Line of Business"),
    }
    assert plan.matched == 5


def test_recategorize_without_empty_leaves_empty_values() -> None:
    """Without 'empty', an uncategorised ticket is left alone."""
    pb = playbook("actions: [{recategorize: {field: category_1, map: {a: Hardware>Printer}}}]\n")
    assert plan_of(pb, [ticket(1, category_1="")]).changes == ()


def test_recategorize_target_missing_is_a_plan_error() -> None:
    """Every recategorize target must exist in Halo's list for that field, or planning fails."""
    pb = playbook(
        "actions: [{recategorize: {field: category_1,"
        " map: {a: 'Hardware>Fax2', b: 'Hardware>Printer'}, empty: 'Nope>Nothing'}}]\n"
    )
    message = re.escape("'Hardware>Fax2', 'Nope>Nothing' are not in Halo's category_1 list")
    with pytest.raises(PlanError, match=message):
        plan_of(pb, [ticket(1)])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "actions: [{set: {status: Clsoed}}]",
            r"set status: unknown status 'Clsoed' \(did you mean 'Closed'\?\)",
        ),
        ("actions: [{set: {team: Nobody}}]", "set team: unknown team 'Nobody'"),
        ("actions: [{set: {agent: Nobody}}]", "set agent: unknown agent 'Nobody'"),
        (
            "actions: [{set: {category_1: 'Hardware>Fax'}}]",
            "set category_1: unknown category_1 value 'Hardware>Fax'",
        ),
        ("actions: [{close: {status: Done}}]", "close status: unknown status 'Done'"),
        ("actions: [{close: {outcome: Shut}}]", "close: unknown outcome 'Shut'"),
        (
            "actions: [{set: {priority: High}}, {note: {text: x, outcome: Memo}}]",
            "note: unknown outcome 'Memo'",
        ),
    ],
)
def test_unknown_names_stop_the_plan(body: str, message: str) -> None:
    """A name Halo's lists do not have is a PlanError naming the playbook and the action."""
    with pytest.raises(PlanError, match="playbook test: " + message):
        plan_of(playbook(body + "\n"), [ticket(1)])


def _outcomes(*names: str) -> Lookups:
    return Lookups.from_rows(
        statuses=[{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}],
        priorities=[{"id": 2, "name": "High"}],
        outcomes=[{"id": i + 20, "outcome": n} for i, n in enumerate(names)],
    )


@pytest.mark.parametrize(
    ("names", "close_id", "note_id"),
    [
        (("Close Ticket", "Internal Note", "Other"), 20, 21),
        (("Other", "Internal Note"), 21, 21),
        (("Other", "Another"), 20, 20),
    ],
)
def test_default_outcomes(names: tuple[str, ...], close_id: int, note_id: int) -> None:
    """close defaults to Close Ticket, then Internal Note, then the first; note to Internal Note."""
    pb = playbook("actions: [{note: {text: x}}, {close: {}}]\n")
    plan = make_plan(pb, [ticket(1)], _outcomes(*names), now=NOW, run_id="r", query={})
    note, close = plan.changes[0].actions
    assert (close.body["outcome_id"], note.body["outcome_id"]) == (close_id, note_id)


def test_no_outcomes_at_all_is_a_plan_error() -> None:
    """Without any outcome in Halo a close cannot be planned."""
    with pytest.raises(PlanError, match="close: Halo lists no outcomes"):
        make_plan(
            playbook("actions: [{close: {}}]\n"), [], _outcomes(), now=NOW, run_id="r", query={}
        )


def test_recheck_drops_tickets_halo_should_have_filtered() -> None:
    """Tickets failing a known select filter are dropped and counted as ignored by Halo."""
    pb = playbook(
        "select: {client_id: Woodgrove Bank, open_only: true}\nactions: [{set: {priority: High}}]\n"
    )
    rows = [
        ticket(1, client_id=9, client_name="Woodgrove Bank"),
        ticket(2),  # Contoso: Halo ignored client_id
        ticket(3, client_id=9, client_name="Woodgrove Bank", status_id=9),  # closed
    ]
    plan = plan_of(pb, rows, {"client_id": "9", "open_only": "true"})
    assert [c.ticket_id for c in plan.changes] == [1]
    assert (plan.scanned, plan.matched, plan.ignored_by_halo) == (3, 1, 2)


def test_a_backtracking_bomb_plans_in_linear_time() -> None:
    """A pattern that backtracks catastrophically elsewhere plans at once under RE2: the
    hostile ticket is simply not matched, a matching one is, and the plan does not fail."""
    pb = playbook("where: {summary: {matches: '^(a+)+$'}}\nactions: [{close: {}}]\n", name="slow")
    rows = [
        ticket(1, summary="fine"),
        ticket(42, summary="a" * 3000 + "!"),
        ticket(7, summary="aaa"),
    ]
    plan = plan_of(pb, rows)
    assert [c.ticket_id for c in plan.changes] == [7]
    assert plan.not_evaluated == ()


def test_duplicate_rows_are_planned_once() -> None:
    """A ticket returned twice (page shift) appears once in the plan."""
    plan = plan_of(playbook("actions: [{close: {}}]\n"), [ticket(1), ticket(1), ticket(2)])
    assert [c.ticket_id for c in plan.changes] == [1, 2]
    assert plan.scanned == 3


@pytest.mark.parametrize("bad_id", [None, "7", True])
def test_a_row_without_an_integer_id_is_a_plan_error(bad_id: object) -> None:
    """Rows without a usable id cannot be written back, so planning stops."""
    with pytest.raises(PlanError, match="a ticket row has no integer id"):
        plan_of(playbook("actions: [{close: {}}]\n"), [ticket(1, id=bad_id)])


def test_before_values_are_json() -> None:
    """Odd before values (not JSON types) are recorded as text; lists and dicts stay JSON."""
    pb = playbook("actions: [{set: {summary: x, status: New}}]\n")
    rows = [ticket(1, summary=datetime(2026, 1, 1, tzinfo=UTC), status_id=[2, {"a": 1}])]
    change = plan_of(pb, rows).changes[0]
    assert change.fields["summary"].before == "2026-01-01 00:00:00+00:00"
    assert change.fields["status_id"].before == [2, {"a": 1}]


def test_planning_streams_without_keeping_tickets() -> None:
    """Planning a generator of many tickets keeps only the changes in memory."""
    pb = playbook("where: {summary: {contains: needle}}\nactions: [{close: {}}]\n")

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(1, 20_001):
            yield ticket(i, summary=("needle " if i % 1000 == 0 else "") + "x" * 400)

    tracemalloc.start()
    try:
        plan = plan_of(pb, rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(plan.changes) == 20
    assert plan.scanned == 20_000
    assert peak < 4_000_000  # 20,000 tickets of ~1 KB each would be ~20 MB


def test_new_run_id() -> None:
    """Run ids are the UTC time plus six random hex digits, unique per call."""
    run_id = new_run_id(datetime(2026, 11, 24, 6, 15, tzinfo=UTC))
    assert re.fullmatch(r"20261124T061500-[0-9a-f]{6}", run_id)
    assert new_run_id(NOW) != new_run_id(NOW)


def _change(ticket_id: int, client: str, update: bool, actions: int) -> TicketChange:
    return TicketChange(
        ticket_id=ticket_id,
        client_name=client,
        summary="s",
        reason="r",
        fields={"status_id": FieldChange(1, 9)},
        ticket_update={"priority_id": 2} if update else {},
        actions=tuple(ActionSpec("note", {"note": "n"}) for _ in range(actions)),
    )


def _plan(changes: list[TicketChange], **kw: Any) -> Plan:
    base: dict[str, Any] = {
        "version": 1,
        "run_id": "r",
        "playbook": "p",
        "playbook_hash": "h",
        "created_at": "t",
        "mode": "apply",
        "halo_rules": False,
        "max_changes": 100,
        "expect_min": None,
        "expect_max": None,
        "query": {},
        "scanned": len(changes),
        "matched": len(changes),
        "changes": tuple(changes),
    }
    base.update(kw)
    return Plan(**base)


def test_requests_needed_counts_pages_and_batches() -> None:
    """Stale-check pages + update batches + action batches."""
    changes = [_change(i, "A" if i % 3 else "B", i % 2 == 0, 1) for i in range(1, 251)]
    plan = _plan(changes)
    # 250 changes: 3 stale pages; 125 updates: 3 batches of 50; 250 actions: 5 batches
    assert requests_needed(plan) == 3 + 3 + 5
    assert requests_needed(plan, batch_size=100, page_size=50) == 5 + 2 + 3
    assert requests_needed(_plan([])) == 0
    undo = TicketChange(1, "A", "s", "undo", {}, {}, (), (RemoveAction(3, {}), RemoveAction(4, {})))
    assert requests_needed(_plan([undo])) == 1 + 0 + 0 + 2  # one DELETE per removed action


@pytest.mark.parametrize(
    ("requests", "rate", "window", "seconds"),
    [
        (0, 300, 300, 0),
        (1, 300, 300, 0),
        (300, 300, 300, 0),
        (301, 300, 300, 300),
        (1000, 300, 300, 900),
        (11, 5, 60, 120),
    ],
)
def test_seconds_needed(requests: int, rate: int, window: float, seconds: float) -> None:
    """The first window's worth goes at once; each further window's worth waits a window."""
    assert seconds_needed(_plan([]), requests, rate, window) == seconds


def test_seconds_needed_defaults_to_the_plans_requests() -> None:
    """Without a request count the plan's own requests_needed is used."""
    plan = _plan([_change(i, "A", True, 1) for i in range(1, 30_001)])
    assert requests_needed(plan) == 300 + 600 + 600
    assert seconds_needed(plan) == 4 * 300


def test_client_counts_most_first() -> None:
    """Changed tickets are counted per client, largest first, then by name."""
    plan = _plan(
        [
            _change(1, "B", False, 1),
            _change(2, "A", False, 1),
            _change(3, "B", False, 1),
            _change(4, "C", False, 1),
        ]
    )
    assert list(client_counts(plan).items()) == [("B", 2), ("A", 1), ("C", 1)]


def test_check_limits() -> None:
    """Too many changes, too few or too many matches are refused; within bounds passes."""
    changes = [_change(i, "A", True, 0) for i in range(1, 6)]
    check_limits(_plan(changes, max_changes=5, expect_min=5, expect_max=5))
    with pytest.raises(RefusedError, match=r"changes 5 tickets, more than limits\.max_changes"):
        check_limits(_plan(changes, max_changes=4))
    with pytest.raises(RefusedError, match=r"fewer than expect\.min"):
        check_limits(_plan(changes, expect_min=6))
    with pytest.raises(RefusedError, match=r"more than expect\.max"):
        check_limits(_plan(changes, expect_max=4))
