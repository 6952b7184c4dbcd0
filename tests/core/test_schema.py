"""The Halo schema registry: one row per lookup kind, from which every table derives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from halo_automate.core.lookups import Lookups
from halo_automate.core.schema import (
    CATEGORY_FIELDS,
    ID_FIELDS,
    LOOKUP_KINDS,
    SELECT_NAMED,
    SET_NAMES,
    lookup_kind,
)
from halo_automate.halo.lookups import fetch_rows


def test_set_keys_and_the_fields_they_write() -> None:
    """The set keys that take names, and the Halo fields each writes (team: id and name)."""
    assert dict(SET_NAMES) == {
        "status": ("status_id",),
        **{name: (name,) for name in CATEGORY_FIELDS},
        "tickettype": ("tickettype_id",),
        "team": ("team_id", "team"),
        "agent": ("agent_id",),
        "priority": ("priority_id",),
    }


def test_select_filters_that_take_names() -> None:
    """Which select parameters resolve names, and through which list."""
    assert {name: kind.kind for name, kind in SELECT_NAMED.items()} == {
        "status": "statuses",
        "status_id": "statuses",
        **{name: name for name in CATEGORY_FIELDS},
        "requesttype": "ticket_types",
        "requesttype_id": "ticket_types",
        "team": "teams",
        "agent": "agents",
        "agent_id": "agents",
        "priority": "priorities",
        "client_id": "clients",
        "client_ids": "clients",
    }


def test_ticket_fields_holding_ids() -> None:
    """The preview names these ticket fields' ids."""
    assert {f: k.kind for f, k in ID_FIELDS.items() if not f.startswith("categoryid_")} == {
        "status_id": "statuses",
        "tickettype_id": "ticket_types",
        "team_id": "teams",
        "agent_id": "agents",
        "priority_id": "priorities",
        "client_id": "clients",
    }


def test_every_kind_is_keyed_by_id_but_priorities() -> None:
    """Every list is keyed by 'id' but priorities, keyed by 'priorityid' per SLA (FACTS §9.1:
    one row to change)."""
    assert {k.kind for k in LOOKUP_KINDS.values() if k.id_key != "id"} == {"priorities"}
    assert (lookup_kind("priorities").id_key, lookup_kind("priorities").scope_key) == (
        "priorityid",
        "slaid",
    )
    assert lookup_kind("outcomes").name_key == "outcome"
    assert lookup_kind("category_2").name_key == "value"


def test_unknown_kind_is_refused() -> None:
    """A kind the registry does not know is a ValueError, for the client and for Lookups."""
    with pytest.raises(ValueError, match="unknown lookup kind 'nope'"):
        lookup_kind("nope")
    with pytest.raises(ValueError, match="unknown lookup kind"):
        Lookups().table("nope")


def test_lookups_are_keyed_by_kind() -> None:
    """Rows become tables by their kind's id and name keys; a missing kind reads as empty."""
    lk = Lookups.from_rows(
        outcomes=[{"id": 7, "outcome": "Note"}], categories={2: [{"id": 3, "value": "A>B"}]}
    )
    assert lk.table("outcomes").resolve("note").id == 7
    assert lk.category(2).resolve("a>b").id == 3
    assert lk.table("category_2") is lk.category(2)
    assert len(lk.table("teams")) == 0 and repr(lk.table("teams")) == "LookupTable('team', 0 items)"


@pytest.mark.parametrize(
    ("kind", "answer", "call"),
    [
        ("statuses", [{"id": 1, "name": "New"}], ("Status", None)),
        ("agents", {"results": [{"id": 1, "name": "Jo"}]}, ("Agent", None)),
        ("category_4", [{"id": 1, "value": "X"}], ("Category", {"type_id": "4"})),
    ],
)
def test_fetching_follows_the_row(kind: str, answer: Any, call: tuple[str, Any]) -> None:
    """One GET of the row's endpoint and parameters; a bare or 'results' list is read."""
    calls: list[tuple[str, Mapping[str, str] | None]] = []

    def get(path: str, params: Mapping[str, str] | None) -> Any:
        calls.append((path, params))
        return answer

    rows = fetch_rows(lookup_kind(kind), get, lambda path, key: iter(()))
    assert calls == [call] and len(rows) == 1


def test_paged_kinds_are_read_through_the_paged_reader() -> None:
    """Clients are paged: read under their 'clients' key, never by a plain GET."""
    seen: list[tuple[str, str]] = []

    def pages(path: str, key: str) -> Any:
        seen.append((path, key))
        return iter([{"id": 2, "name": "Contoso"}])

    def get(path: str, params: Mapping[str, str] | None) -> Any:
        raise AssertionError("a paged kind is not read by one GET")

    assert fetch_rows(lookup_kind("clients"), get, pages) == [{"id": 2, "name": "Contoso"}]
    assert seen == [("Client", "clients")]
