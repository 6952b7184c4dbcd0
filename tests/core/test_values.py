"""The one equality of Halo values: what the planner calls "already holds" is what the stale
check and the read-back call equal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import make_plan
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.values import same
from halo_automate.engine.writes import field_state, stale_reason

NOW = datetime(2026, 11, 24, 5, 15, tzinfo=UTC)
LOOKUPS = Lookups.from_rows(priorities=[{"id": 2, "name": "High"}, {"id": 3, "name": "Medium"}])
PLAYBOOK = load_playbook_text("name: t\nactions:\n  - set: {priority: High}\n", "t.yaml")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (None, "", True),
        ("", None, True),
        (0, None, False),
        (True, 1, True),
        (False, None, False),
        (5, "5", True),
        ("5", 5, True),
        (5, "6", False),
        ("x", "x", True),
        ([1], [1], True),
    ],
)
def test_same_compares_like_halo(a: Any, b: Any, expected: bool) -> None:
    """Empty values agree, ints agree with their text, other values compare equal."""
    assert same(a, b) is expected


def test_planner_and_read_back_agree_on_what_already_holds() -> None:
    """A ticket Halo answers with the target as text ("2") already holds it: the planner plans
    nothing for it. For a ticket it does change, the read-back of the same text counts as
    landed and the stale check of the planned 'before' as text still holds."""
    tickets = [
        {"id": 1, "summary": "a", "priority_id": "2"},
        {"id": 2, "summary": "b", "priority_id": 3},
    ]
    plan = make_plan(PLAYBOOK, tickets, LOOKUPS, now=NOW, run_id="r", query={})
    [change] = plan.changes
    assert change.ticket_id == 2
    assert field_state("2", change.fields["priority_id"]) == "after"
    assert stale_reason(change, {"priority_id": "3"}) is None
