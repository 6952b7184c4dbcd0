"""The plan's JSON document: exact round trip, its documented shape, and refusing bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_automate.core import customfields
from halo_automate.core.actions.registry import POSTED_KINDS
from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.lifecycle import History
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import (
    ActionSpec,
    FieldChange,
    Plan,
    RemoveAction,
    TicketChange,
    make_plan,
    plan_from_json,
    plan_to_json,
)
from halo_automate.core.plan_doc import update_value
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.schema import lookup_kind
from halo_automate.errors import PlanError

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_scalars |= st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.text(min_size=1, max_size=12)
optional_ints = st.none() | st.integers(min_value=0, max_value=10_000)

actions = st.lists(
    st.builds(
        ActionSpec,
        st.sampled_from(sorted(POSTED_KINDS)),
        st.dictionaries(names, json_values, max_size=4),
    ),
    max_size=3,
).map(tuple)
removals = st.lists(
    st.builds(
        RemoveAction,
        st.integers(min_value=1, max_value=10**6),
        st.dictionaries(names, json_values, max_size=3),
    ),
    max_size=3,
).map(tuple)


cf_values = st.none() | st.text(max_size=10) | st.integers(min_value=-99, max_value=10**6)


@st.composite
def custom_arrays(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A ticket's custom field array as Halo returns it (unique ids and labels)."""
    ids = draw(st.lists(st.integers(min_value=1, max_value=500), unique=True, max_size=5))
    printable = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))  # labels Halo shows
    labels = draw(st.lists(st.text(printable, min_size=1, max_size=8).filter(str.strip),
                           min_size=len(ids), max_size=len(ids),
                           unique_by=lambda x: x.strip().casefold()))  # fmt: skip
    return [
        {"id": i, "name": f"CF{i}", "label": label, "value": draw(st.text(max_size=8))}
        for i, label in zip(ids, labels, strict=True)
    ]


@st.composite
def custom_field_writes(
    draw: st.DrawFn, mode: str
) -> tuple[dict[str, FieldChange], dict[str, Any]]:
    """Custom field changes as planning (``fold``) or undo (``undo_update``, from the array
    the run wrote or the ticket's array as read at undo time) makes them."""
    array = draw(custom_arrays())
    if not array:
        return {}, {}
    chosen = draw(st.lists(st.sampled_from(array), unique_by=lambda e: e["id"], min_size=1))
    fields: dict[str, FieldChange] = {}
    update: dict[str, Any] = {}
    for entry in chosen:
        key = draw(st.sampled_from([entry["label"], str(entry["id"])]))
        name = customfields.plan_field(key)
        if name in fields or (not key.isdigit() and customfields.find(array, key) is not entry):
            continue
        before, after = draw(cf_values), draw(cf_values)
        fields[name] = FieldChange(
            before, after if mode == "undo" else ("" if after is None else after)
        )
        update[name] = update_value(mode, name, fields[name].after)
    if not fields:
        return {}, {}
    ticket = {"id": 1, "customfields": array}
    if mode == "apply":
        customfields.fold(ticket, update)
    else:
        run: dict[str, Any] = {n: fc.before for n, fc in fields.items()}
        customfields.fold(ticket, run)
        customfields.undo_update(run, update, draw(st.sampled_from([None, ticket])))
    return fields, update


@st.composite
def changes(draw: st.DrawFn, mode: str, ticket_id: int) -> TicketChange:
    """A change as planning (or undo) makes one: its ticket update is some of its fields,
    at their after-values (an undo's: restore_value of them), and maybe custom fields with
    the whole array; removals only in an undo."""
    fields = draw(
        st.dictionaries(names, st.builds(FieldChange, json_values, json_values), max_size=4)
    )
    fields = {n: fc for n, fc in fields.items() if not customfields.is_plan_field(n)}
    sent = draw(st.lists(st.sampled_from(sorted(fields)), unique=True) if fields else st.just([]))
    update = {n: update_value(mode, n, fields[n].after) for n in fields if n in sent}
    custom, custom_update = draw(custom_field_writes(mode))
    return TicketChange(
        ticket_id=ticket_id,
        client_name=draw(st.text(max_size=20)),
        summary=draw(st.text(max_size=40)),
        reason=draw(st.text(max_size=40)),
        fields={**fields, **custom},
        ticket_update={**update, **custom_update},
        actions=draw(actions),
        remove_actions=draw(removals) if mode == "undo" else (),
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    mode = draw(st.sampled_from(["apply", "undo"]))
    ids = draw(st.lists(st.integers(min_value=1, max_value=10**9), unique=True, max_size=4))
    return Plan(
        version=2,
        run_id=draw(names),
        playbook=draw(names),
        playbook_hash=draw(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
        playbook_source=draw(st.text(max_size=40)),
        created_at=draw(names),
        mode=mode,
        halo_rules=draw(st.booleans()),
        max_changes=draw(st.integers(min_value=1, max_value=10_000)),
        expect_min=draw(optional_ints),
        expect_max=draw(optional_ints),
        query=draw(st.dictionaries(names, st.text(max_size=20), max_size=4)),
        scanned=draw(st.integers(min_value=0, max_value=10**6)),
        matched=draw(st.integers(min_value=0, max_value=10**6)),
        changes=tuple(draw(changes(mode, i)) for i in ids),
        undo_of=draw(st.none() | names),
        ignored_by_halo=draw(st.integers(min_value=0, max_value=10**6)),
        instance=draw(names),
        instance_identity=draw(st.text(max_size=40)),
    )


@settings(max_examples=150, deadline=None)
@given(plans())
def test_any_plan_round_trips_exactly(plan: Plan) -> None:
    """plan_from_json(plan_to_json(p)) == p for every plan, and the text is stable."""
    text = plan_to_json(plan)
    again = plan_from_json(text)
    assert again == plan
    assert plan_to_json(again) == text


def _updates_of(plan: Plan) -> list[dict[str, Any]]:
    return [dict(c.ticket_update) for c in plan.changes]


@settings(max_examples=60, deadline=None)
@given(custom_arrays(), st.text(max_size=8))
def test_a_planned_custom_field_write_round_trips(array: list[dict[str, Any]], value: str) -> None:
    """make_plan's custom field change (whole array, ids) is the same after the document."""
    label = array[0]["label"] if array else "Contract Ref"
    spec = json.dumps({"customfields": {label: value}})
    pb = load_playbook_text(f"name: cf\nactions:\n  - set: {spec}\n")
    rows = [{"id": 7, "summary": "s", "client_name": "C", "customfields": array}]
    plan = make_plan(pb, rows, LOOKUPS, now=NOW, run_id="r", query={})
    again = plan_from_json(plan_to_json(plan))
    assert again == plan and _updates_of(again) == _updates_of(plan)
    if plan.changes:
        sent = plan.changes[0].ticket_update["customfields"]
        assert [e["id"] for e in sent] == [e["id"] for e in array]  # the whole array


LIFECYCLE = """
name: wait
lifecycle:
  - after: 3d
    note: {text: "Reminder {ticket.id}", email: true}
  - after: 5d
    note: {text: "Second reminder"}
  - after: 7d
    close: {note: "Closed after no reply.", email: true}
"""
LOOKUPS = Lookups({k: kind_table(lookup_kind(k), v) for k, v in SAMPLE_LOOKUPS.items()})
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.sampled_from([None, 0, 1, 2, 3]),
                          st.integers(0, 400)), max_size=6))  # fmt: skip
def test_a_lifecycle_plan_round_trips(rows: list[tuple[int, int | None, int]]) -> None:
    """Every step a lifecycle plan holds (e-mailed notes, a close with its carried status)
    comes back from the document exactly."""
    pb = load_playbook_text(LIFECYCLE)
    tickets, history = [], {}
    for tid, (hours, had, since) in enumerate(rows, start=1):
        when = (NOW.timestamp() - hours * 3600) // 1
        text = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        tickets.append({"id": tid, "summary": "s", "status_id": 4, "lastactiondate": text})
        if had is not None:
            began = datetime.fromtimestamp(NOW.timestamp() - since * 3600, UTC)
            history[tid] = History(since=began.strftime("%Y-%m-%dT%H:%M:%SZ"), had=had)
    plan = make_plan(pb, tickets, LOOKUPS, now=NOW, run_id="r", query={}, history=history)
    again = plan_from_json(plan_to_json(plan))
    assert again == plan
    assert {a.kind for c in again.changes for a in c.actions} <= {"note", "close"}


def test_a_custom_field_change_without_its_array_is_refused() -> None:
    doc = json.loads(_doc_change(fields={"customfields.Ref": {"before": "", "after": "C-1"}}))
    with pytest.raises(PlanError, match="without their 'customfields' array"):
        plan_from_json(json.dumps(doc))
    doc["changes"][0]["customfields"] = {
        "ids": {"customfields.Ref": 101},
        "array": [{"id": 101, "value": "C-2"}, {"id": 102, "value": "x"}],
    }  # a value for a changed field would be a second copy that could disagree
    with pytest.raises(PlanError, match="a value exactly when unchanged"):
        plan_from_json(json.dumps(doc))
    doc["changes"][0]["customfields"]["array"][0] = {"id": 101}
    again = plan_from_json(json.dumps(doc))
    assert again.changes[0].ticket_update["customfields"] == [
        {"id": 101, "value": "C-1"}, {"id": 102, "value": "x"}
    ]  # fmt: skip


def _real_plan() -> Plan:
    pb = load_playbook_text(
        "name: demo\nactions:\n  - set: {priority: High}\n  - note: {text: 'é {ticket.summary}'}\n"
        "  - close: {}\n",
        "demo.yaml",
    )
    lookups = Lookups.from_rows(
        statuses=[{"id": 1, "name": "New"}, {"id": 9, "name": "Closed"}],
        priorities=[{"id": 2, "name": "High"}],
        outcomes=[{"id": 7, "outcome": "Internal Note"}, {"id": 9, "outcome": "Close Ticket"}],
    )
    rows = [{"id": 5, "summary": "Ünïcode", "client_name": "C", "status_id": 1, "priority_id": 3}]
    now = datetime(2026, 1, 2, tzinfo=UTC)
    return make_plan(pb, rows, lookups, now=now, run_id="run-1", query={"open_only": "true"})


def test_document_shape() -> None:
    """The JSON names format and version and holds fields as {before, after} and actions."""
    plan = _real_plan()
    doc = json.loads(plan_to_json(plan))
    assert doc["format"] == "halo-automate/plan"
    assert doc["version"] == 2
    assert doc["playbook"]["name"] == "demo" and doc["playbook"]["source"].startswith("name: demo")
    assert doc["ignored_by_halo"] == 0
    assert (doc["instance"], doc["instance_identity"]) == ("default", "")
    assert doc["query"] == {"open_only": "true"}
    (change,) = doc["changes"]
    assert change["ticket_id"] == 5
    assert change["fields"] == {"priority_id": {"before": 3, "after": 2}}
    assert change["carried"] == {"status_id": {"before": 1, "after": 9}}
    assert "ticket_update" not in change and "remove_actions" not in change  # stored once
    assert [a["kind"] for a in change["actions"]] == ["note", "close"]
    assert change["actions"][0]["body"]["note"] == "é Ünïcode"
    assert "é Ünïcode" in plan_to_json(plan)  # not \\u-escaped
    assert plan_from_json(plan_to_json(plan)) == plan


def _doc(**changes: Any) -> str:
    doc = json.loads(plan_to_json(_real_plan()))
    doc.update(changes)
    return json.dumps(doc)


def _doc_change(**changes: Any) -> str:
    doc = json.loads(plan_to_json(_real_plan()))
    doc["changes"][0].update(changes)
    return json.dumps(doc)


def _undo_change(**changes: Any) -> str:
    doc = json.loads(plan_to_json(_real_plan()))
    doc["mode"] = "undo"
    doc["changes"][0].update(changes)
    return json.dumps(doc)


def _twice() -> str:
    doc = json.loads(plan_to_json(_real_plan()))
    doc["changes"].append(doc["changes"][0])
    return json.dumps(doc)


def test_two_entries_for_one_ticket_are_refused() -> None:
    """A plan holds one entry per ticket; a second is refused, not applied twice."""
    with pytest.raises(PlanError, match="ticket 5 has two entries"):
        plan_from_json(_twice())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a plan: bad JSON"),
        ("[]", "'format' is not 'halo-automate/plan'"),
        (_doc(format="other"), "'format' is not"),
        (_doc(version=3), "unsupported plan version 3"),
        (_doc(version=True), "unsupported plan version True"),
        (_doc(version=None), "unsupported plan version None"),
        (_doc(run_id=5), "'run_id' is int"),
        (_doc(halo_rules="yes"), "'halo_rules' is str"),
        (_doc(scanned=True), "'scanned' is bool"),
        (_doc(expect_min="1"), "'expect_min' is str"),
        (_doc(query={"a": 1}), "'query' values must be text"),
        (_doc(undo_of=3), "'undo_of' must be text or null"),
        (_doc(changes={}), "'changes' is dict"),
        (_doc(changes=[5]), "a change must be an object"),
        (_doc(ignored_by_halo="x"), "'ignored_by_halo' is str"),
        (_doc_change(fields={"a": {"before": 1}}), "field 'a' must be {before, after}"),
        (_doc_change(fields={"a": 1}), "field 'a' must be {before, after}"),
        (_doc_change(actions=[5]), "an action must be an object"),
        (_doc_change(actions=[{"kind": "note"}]), "not a valid plan document: 'body'"),
        (
            _doc_change(actions=[{"kind": "reopen", "body": {}}]),
            "not a valid plan document: unknown action kind 'reopen' (known: close, note, restore)",
        ),
        (_doc_change(ticket_id="5"), "'ticket_id' is str"),
        (_doc_change(ticket_update={"deleted": True}), "unknown key 'ticket_update'"),
        (_undo_change(remove_actions=[True]), "'remove_actions' must be a list"),
        (_undo_change(remove_actions=3), "'remove_actions' must be a list of {action_id, body}"),
        (_undo_change(remove_actions=[{"action_id": "1", "body": {}}]), "'action_id' is str"),
        (_doc(mode="delete"), "'mode' is 'delete', expected one of apply, undo"),
        (_doc(extra=1), "unknown key 'extra' in the plan"),
        (_doc_change(carried={"priority_id": {"before": 1, "after": 2}}), "both in fields"),
    ],
)
def test_bad_documents_are_plan_errors(text: str, message: str) -> None:
    """Anything that is not a plan document is refused with a PlanError."""
    with pytest.raises(PlanError) as caught:
        plan_from_json(text)
    assert message in str(caught.value)


def _v1_doc() -> dict[str, Any]:
    """The version-1 document of the real plan, as older journals hold it."""
    doc = json.loads(plan_to_json(_real_plan()))
    playbook = doc.pop("playbook")
    doc.update(version=1, playbook=playbook["name"], playbook_hash=playbook["hash"])
    for change in doc["changes"]:
        carried = change.pop("carried")
        change["ticket_update"] = {n: fc["after"] for n, fc in change["fields"].items()}
        change["fields"].update(carried)
        change["remove_actions"] = []
    return doc


def test_a_journal_keeps_reading_version_1() -> None:
    """Journals written before version 2 hold version-1 documents: they still read, with
    their ticket update as stored."""
    plan = plan_from_json(json.dumps(_v1_doc()))
    assert plan.version == 1
    (change,) = plan.changes
    assert dict(change.ticket_update) == {"priority_id": 2}
    assert set(change.fields) == {"priority_id", "status_id"}


def test_missing_ignored_by_halo_defaults_to_zero() -> None:
    """Documents written before ignored_by_halo existed read as 0."""
    doc = _v1_doc()
    del doc["ignored_by_halo"]
    assert plan_from_json(json.dumps(doc)).ignored_by_halo == 0


def test_missing_remove_actions_defaults_to_none() -> None:
    """Changes written without remove_actions read as deleting nothing."""
    doc = _v1_doc()
    assert doc["changes"][0]["remove_actions"] == []
    del doc["changes"][0]["remove_actions"]
    assert plan_from_json(json.dumps(doc)).changes[0].remove_actions == ()


def test_missing_key_is_a_plan_error() -> None:
    """A document without a required key is refused, naming the key."""
    doc = json.loads(plan_to_json(_real_plan()))
    del doc["playbook"]["hash"]
    with pytest.raises(PlanError, match="hash"):
        plan_from_json(json.dumps(doc))
