"""select → query (names to ids, lists, booleans) and the client-side re-check of each filter."""

from __future__ import annotations

from typing import Any

import pytest

from halo_automate.core.lookups import Lookups
from halo_automate.core.selection import (
    build_query,
    check_select,
    compile_recheck,
    is_closed,
    recheck,
)
from halo_automate.errors import PlanError

LOOKUPS = Lookups.from_rows(
    statuses=[
        {"id": 1, "name": "New"},
        {"id": 2, "name": "In Progress"},
        {"id": 9, "name": "Closed"},
    ],
    ticket_types=[{"id": 1, "name": "Incident"}, {"id": 4, "name": "Service Request"}],
    teams=[{"id": 1, "name": "Service Desk"}, {"id": 2, "name": "Second Line"}],
    agents=[{"id": 5, "name": "Daniel Evans"}],
    priorities=[{"id": 1, "name": "Critical"}, {"id": 2, "name": "High"}],
    clients=[{"id": 1, "name": "Contoso Ltd"}, {"id": 9, "name": "Woodgrove Bank"}],
    categories={
        1: [{"id": 3, "value": "Hardware>Printer"}, {"id": 5, "value": "Software>Microsoft 365"}]
    },
)


QUERIES = [
    ({"open_only": True}, {"open_only": "true"}),
    ({"closed_only": False}, {"closed_only": "false"}),
    ({"status": ["New", "in progress", 9]}, {"status": "1,2,9"}),
    ({"status_id": "Closed"}, {"status_id": "9"}),
    (
        {"requesttype": ["Incident"], "requesttype_id": "Service Request"},
        {"requesttype": "1", "requesttype_id": "4"},
    ),
    ({"team": ["Second Line", "Service Desk"]}, {"team": "2,1"}),
    ({"team_name": "Second Line"}, {"team_name": "Second Line"}),
    ({"agent": ["Daniel Evans"], "agent_id": 5}, {"agent": "5", "agent_id": "5"}),
    ({"client_id": "Woodgrove Bank"}, {"client_id": "9"}),
    ({"client_ids": ["Contoso Ltd", "Woodgrove Bank"]}, {"client_ids": "1,9"}),
    ({"category_1": ["Hardware>Printer"]}, {"category_1": "3"}),
    ({"priority": ["High", "Critical"]}, {"priority": "2,1"}),
    ({"search": "printer", "ticketids": [1, 2]}, {"search": "printer", "ticketids": "1,2"}),
    ({"utcoffset": 60.5}, {"utcoffset": "60.5"}),
]


@pytest.mark.parametrize(("select", "query"), QUERIES)
def test_build_query(select: dict[str, Any], query: dict[str, str]) -> None:
    """Names become ids, lists are comma-joined and booleans are true/false."""
    assert build_query(select, LOOKUPS) == query


def test_unknown_name_is_a_plan_error_with_a_hint() -> None:
    """A status name Halo does not have stops the plan, with a did-you-mean."""
    with pytest.raises(
        PlanError, match=r"select status: unknown status 'Closd' \(did you mean 'Closed'\?\)"
    ):
        build_query({"status": ["Closd"]}, LOOKUPS)


def test_build_query_refuses_an_invalid_select() -> None:
    """build_query re-validates its input (it is also called on unchecked data)."""
    with pytest.raises(PlanError, match="unknown ticket filter 'clinet_id'"):
        build_query({"clinet_id": 1}, LOOKUPS)


SELECT_PROBLEMS = [
    ({"client": "Woodgrove Bank"}, "unknown ticket filter 'client' (did you mean 'client_id'?)"),
    ({"page_size": 10}, "'page_size' is a paging parameter"),
    ({"pageinate": True}, "paging parameter"),
    ({"open_only": "yes"}, "'open_only' takes true or false"),
    ({"status_id": [1, 2]}, "'status_id' takes one value, not a list"),
    ({"status": []}, "'status' needs at least one value"),
    ({"status": [True]}, "list items must be names or ids"),
    ({"status": {"a": 1}}, "'status' takes a name or an id (or a list)"),
    ({"search": True}, "'search' takes a string value"),
    ({"site_id": "Head Office"}, "'site_id' takes a whole number"),
]


@pytest.mark.parametrize(("select", "message"), SELECT_PROBLEMS)
def test_check_select(select: dict[str, Any], message: str) -> None:
    """Unknown, paging and badly shaped filters are reported at their key."""
    problems = check_select(select)
    assert len(problems) == 1
    assert problems[0][0] == ("select", next(iter(select)))
    assert message in problems[0][1]


def ticket(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 10,
        "status_id": 1,
        "tickettype_id": 1,
        "client_id": 9,
        "agent_id": 5,
        "priority_id": 2,
        "team_id": 2,
        "team": "Second Line",
        "category_1": "Hardware>Printer",
        "categoryid_1": 3,
        "summary": "Printer offline",
        "details": "Since Monday",
        "user_name": "Fiona Banks",
        "user_email": "fiona.banks@woodgrovebank.example",
        "hasbeenclosed": False,
    }
    base.update(fields)
    return base


RECHECKS = [
    ({"status": "1,2"}, {}, True),
    ({"status": "2"}, {}, False),
    ({"status_id": "1"}, {}, True),
    ({"requesttype": "4"}, {}, False),
    ({"requesttype_id": "1"}, {}, True),
    ({"client_id": "9"}, {}, True),
    ({"client_ids": "1"}, {}, False),
    ({"agent": "5"}, {}, True),
    ({"agent_id": "6"}, {}, False),
    ({"priority": "1"}, {}, False),
    ({"team": "2"}, {}, True),
    ({"team": "1"}, {}, False),
    ({"team": "2"}, {"team_id": None}, True),  # falls back to the team name
    ({"team": "1"}, {"team_id": 0}, False),
    ({"team_name": "second line"}, {}, True),
    ({"team_name": "Service Desk"}, {}, False),
    ({"category_1": "3"}, {}, True),
    ({"category_1": "5"}, {}, False),
    ({"category_1": "3"}, {"categoryid_1": 0}, True),  # by value text
    ({"category_1": "5"}, {"categoryid_1": 0}, False),
    ({"open_only": "true"}, {}, True),
    ({"open_only": "true"}, {"status_id": 9}, False),
    ({"open_only": "false"}, {"status_id": 9}, True),
    ({"closed_only": "true"}, {"status_id": 9}, True),
    ({"closed_only": "true"}, {}, False),
    ({"open_only": "true"}, {"status_id": 77, "hasbeenclosed": True}, False),  # unknown status
    ({"open_only": "true"}, {"status_id": 2, "hasbeenclosed": True}, True),  # re-opened
    ({"ticketids": "10,11"}, {}, True),
    ({"ticketids": "11"}, {}, False),
    ({"excludethese": "10"}, {}, False),
    ({"excludethese": "11"}, {}, True),
    ({"search": "PRINTER"}, {}, True),
    ({"search": "monday"}, {}, True),
    ({"search": "fiona"}, {}, True),
    ({"search": "woodgrovebank"}, {}, True),
    ({"search": "laptop"}, {}, False),
    ({"search_summary": "monday"}, {}, False),
    ({"search_details": "monday"}, {}, True),
    ({"search_user_name": "banks"}, {}, True),
    ({"search_id": "zzz"}, {}, True),  # meaning unknown: not re-checked
    ({"deleted": "true"}, {}, False),
    ({"deleted": "true"}, {"deleted": True}, True),
    ({"deleted": "false"}, {}, True),
    ({"flagged": "1"}, {}, True),  # meaning unknown: not re-checked
]


@pytest.mark.parametrize(("query", "fields", "keeps"), RECHECKS)
def test_recheck(query: dict[str, str], fields: dict[str, Any], keeps: bool) -> None:
    """Each known filter is re-checked on the ticket; unknown ones pass."""
    reason = recheck(query, ticket(**fields), LOOKUPS)
    assert (reason is None) is keeps
    if not keeps:
        assert isinstance(reason, str)
        assert reason


def test_recheck_reason_names_field_and_filter() -> None:
    """A dropped ticket's reason says which value failed which filter."""
    check = compile_recheck({"status": "2", "client_id": "9"}, LOOKUPS)
    assert check(ticket()) == "status_id 1 is not in the status filter"
    assert check(ticket(status_id=2)) is None


def test_is_closed_prefers_status_then_flag() -> None:
    """The status decides when known; otherwise hasbeenclosed does."""
    assert is_closed({"status_id": 9, "hasbeenclosed": False}, LOOKUPS)
    assert not is_closed({"status_id": 1, "hasbeenclosed": True}, LOOKUPS)
    assert is_closed({"status_id": 50, "hasbeenclosed": True}, LOOKUPS)
    assert not is_closed({}, LOOKUPS)
