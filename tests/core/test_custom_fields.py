"""Custom fields in playbooks: naming them, conditions on the client, whole-array writes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from halo_automate.core import customfields
from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import FieldChange, make_plan
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.schema import lookup_kind
from halo_automate.engine.writes import stale_reason, ticket_body, ticket_verdict
from halo_automate.errors import PlanError, PlaybookError

LOOKUPS = Lookups(
    MappingProxyType({k: kind_table(lookup_kind(k), v) for k, v in SAMPLE_LOOKUPS.items()})
)
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def cf(contract: str = "", site: str = "S1", billing: str = "B7") -> list[dict[str, Any]]:
    return [
        {"id": 101, "name": "CFContractRef", "label": "Contract Ref", "value": contract},
        {"id": 102, "name": "CFSiteCode", "label": "Site Code", "value": site},
        {"id": 103, "name": "CFBillingCode", "label": "Billing Code", "value": billing},
    ]


def book(where: str, value: str = "C-1042") -> str:
    return f"""
name: cf
where: {{{where}: {{empty: true}}}}
actions:
  - set: {{customfields: {{"Contract Ref": {value}}}}}
"""


def plan(text: str, tickets: list[dict[str, Any]]) -> Any:
    return make_plan(load_playbook_text(text), tickets, LOOKUPS, now=NOW, run_id="r", query={})


@pytest.mark.parametrize(
    "where",
    [
        "customfield.Contract Ref",
        "customfield.101",
        "customfield.CFContractRef",
        "customfield.contract ref",
    ],
)
def test_a_field_is_named_by_label_id_or_name(where: str) -> None:
    tickets = [{"id": 1, "customfields": cf()}, {"id": 2, "customfields": cf("C-7")}]
    result = plan(book(where), tickets)
    assert [c.ticket_id for c in result.changes] == [1]
    change = result.changes[0]
    assert dict(change.fields) == {"customfields.Contract Ref": FieldChange("", "C-1042")}


def test_the_update_sends_the_whole_array_and_no_plan_names() -> None:
    result = plan(book("customfield.Contract Ref"), [{"id": 1, "customfields": cf()}])
    update = result.changes[0].ticket_update
    body = ticket_body(result, 1, update)
    assert body["customfields"] == [
        {"id": 101, "value": "C-1042"},
        {"id": 102, "value": "S1"},
        {"id": 103, "value": "B7"},
    ]
    assert set(body) == {"id", "customfields", "dont_do_rules"}


def test_unread_or_missing_custom_fields_are_unknown_never_a_match() -> None:
    """A list row without the array, or a ticket without the field: not evaluated."""
    result = plan(
        book("customfield.Contract Ref"),
        [{"id": 1}, {"id": 2, "customfields": cf()[1:]}, {"id": 3, "customfields": cf()}],
    )
    assert [c.ticket_id for c in result.changes] == [3]
    whys = {n.ticket_id: n.why for n in result.not_evaluated}
    assert "not read" in whys[1] and "no custom field 'Contract Ref'" in whys[2]


def test_not_of_an_unknown_custom_field_is_still_unknown() -> None:
    text = """
name: cf
where: {not: [{customfield.Contract Ref: {empty: true}}]}
actions:
  - set: {customfields: {"Site Code": X}}
"""
    result = plan(text, [{"id": 1}])
    assert result.changes == () and len(result.not_evaluated) == 1


def test_rerun_after_the_write_plans_nothing() -> None:
    result = plan(book("customfield.Contract Ref"), [{"id": 1, "customfields": cf("C-1042")}])
    assert result.changes == ()


def test_stale_check_refuses_a_write_over_another_fields_newer_value() -> None:
    result = plan(book("customfield.Contract Ref"), [{"id": 1, "customfields": cf()}])
    change = result.changes[0]
    assert stale_reason(change, {"id": 1, "customfields": cf()}) is None
    moved = stale_reason(change, {"id": 1, "customfields": cf(site="S9")})
    assert moved is not None and "Site Code" in moved
    assert "customfields.Contract Ref" in str(stale_reason(change, {"id": 1}))
    landed = ticket_verdict(
        change.fields, {"id": 1, "customfields": []}, {"customfields": cf("C-1042")}
    )
    assert landed[0] == "landed"
    absent = ticket_verdict(change.fields, {"id": 1, "customfields": []}, {"customfields": cf()})
    assert absent[0] == "absent"


def test_undo_update_puts_each_field_back_in_the_whole_array() -> None:
    result = plan(book("customfield.Contract Ref"), [{"id": 1, "customfields": cf()}])
    written = dict(result.changes[0].ticket_update)
    update: dict[str, Any] = {"customfields.Contract Ref": ""}
    customfields.undo_update(written, update)
    assert update["customfields"][0] == {"id": 101, "value": ""}
    assert update["customfields"][1:] == [{"id": 102, "value": "S1"}, {"id": 103, "value": "B7"}]
    with pytest.raises(PlanError):
        customfields.undo_update(None, {"customfields.Contract Ref": ""})


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ("- set: {customfields: {}}", "give a mapping"),
        ("- set: {customfields: C-1}", "give a mapping"),
        ("- set: {customfields: {Contract Ref: [1]}}", "not text or a number"),
        ("- set: {customfields: {A: 1}}\n  - set: {customfields: {A: 2}}", "conflicting"),
    ],
)
def test_bad_custom_field_sets_are_refused_at_load(actions: str, message: str) -> None:
    with pytest.raises(PlaybookError, match=message):
        load_playbook_text(f"name: cf\nactions:\n  {actions}\n")
