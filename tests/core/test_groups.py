"""Duplicate groups: the key, the window, the survivor, and plans that link or merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from halo_automate.core.approval import ApprovalPolicy, needs_approval
from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.groups import GroupSpec, form, normalize, still_grouped, with_survivor
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import make_plan, plan_from_json, plan_to_json, requests_needed
from halo_automate.core.plan_notes import group_lines
from halo_automate.core.playbook import load_playbook_text
from halo_automate.core.rederive import NOT_NOW, Rederiver
from halo_automate.core.schema import lookup_kind
from halo_automate.errors import PlaybookError

LOOKUPS = Lookups(
    MappingProxyType({k: kind_table(lookup_kind(k), v) for k, v in SAMPLE_LOOKUPS.items()})
)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
SPEC = GroupSpec(by=["client_id", {"summary": "normalized"}], within="24h")
LINK = """
name: collapse
select: {open_only: true}
where:
  summary: {matches: '^\\[Alert\\]'}
group:
  by: [client_id, {summary: normalized}]
  within: 24h
keep: oldest
actions:
  - link: {note: "Linked as a duplicate of #{survivor.id} ({survivor.summary}) by {playbook}"}
"""
MERGE = """
name: merge-dupes
irreversible: true
where:
  summary: {matches: '^\\[Alert\\]'}
group: {by: [client_id, {summary: normalized}], within: 24h}
actions:
  - merge:
"""


def at(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def t(tid: int, summary: str, hours: float, client: int = 12, **more: Any) -> dict[str, Any]:
    row = {"id": tid, "summary": summary, "client_id": client, "client_name": f"C{client}"}
    return {**row, "dateoccurred": at(hours), "parent_id": 0, "status_id": 1, **more}


DISK = "[Alert] Disk C: {n}% full on SRV-FS01"
BURST = [t(1, DISK.format(n=91), 30), t(2, DISK.format(n=93), 29.5), t(3, DISK.format(n=95), 29)]


def test_normalize_folds_case_tags_digits_and_whitespace() -> None:
    assert normalize("[Alert]  Disk C: 91% full on SRV-FS01 ") == "disk c: % full on srv-fs"
    assert normalize("[ALERT] disk c: 5% FULL   on srv-fs02") == "disk c: % full on srv-fs"
    assert normalize("[Alert] Disk D: 91% full on SRV-FS01") != normalize(DISK.format(n=1))


def test_a_burst_groups_under_its_oldest_and_look_alikes_stay_alone() -> None:
    lookalikes = [t(4, "[Alert] Disk D: 91% full on SRV-FS01", 29), t(5, "[Alert] Backup ok", 29)]
    other_client = [t(6, DISK.format(n=99), 29, client=13)]
    formed = form(SPEC, "oldest", [*reversed(BURST), *lookalikes, *other_client])
    assert [(g.survivor, g.members) for g, _, _ in formed.groups] == [(1, (2, 3))]
    assert formed.unknown == ()
    assert 'summary≈"disk c: % full on srv-fs"' in formed.groups[0][0].key
    newest = form(SPEC, "newest", BURST)
    assert [(g.survivor, g.members) for g, _, _ in newest.groups] == [(3, (1, 2))]


def test_the_window_splits_a_key_into_groups_from_each_groups_first() -> None:
    rows = [t(1, DISK, 60), t(2, DISK, 50), t(3, DISK, 35), t(4, DISK, 30), t(5, DISK, 29)]
    formed = form(SPEC, "oldest", rows)
    assert [(g.survivor, g.members) for g, _, _ in formed.groups] == [(1, (2,)), (3, (4, 5))]
    whole = form(GroupSpec(by=["client_id"]), "oldest", rows)
    assert [(g.survivor, g.members) for g, _, _ in whole.groups] == [(1, (2, 3, 4, 5))]


def test_links_people_made_and_unreadable_rows_are_left_alone() -> None:
    rows = [
        t(1, DISK, 30),
        t(2, DISK, 29, parent_id=999),  # linked by a person to another ticket
        t(3, DISK, 28, parent_id=1),  # linked to its survivor already: still a member
        t(4, DISK, 27, merged_into_id=1),  # merged: done
        {k: v for k, v in t(5, DISK, 27).items() if k != "parent_id"},
        t(6, DISK, 26, dateoccurred="soon"),
        t(7, None, 26),  # type: ignore[arg-type]
    ]
    formed = form(SPEC, "oldest", rows)
    assert [(g.survivor, g.members) for g, _, _ in formed.groups] == [(1, (3,))]
    why = {row["id"]: reason for row, reason in formed.unknown}
    assert set(why) == {5, 6, 7}
    assert "no parent_id" in why[5] and "dateoccurred" in why[6] and "summary" in why[7]


def test_a_link_plan_changes_the_duplicates_only_and_a_rerun_plans_nothing() -> None:
    book = load_playbook_text(LINK)
    rows = [*BURST, t(4, "[Alert] Disk D: 91% full", 29), t(5, "Printer jam", 29)]
    plan = make_plan(book, rows, LOOKUPS, now=NOW, run_id="r1", query={})
    assert [c.ticket_id for c in plan.changes] == [2, 3]
    assert plan.matched == 4
    change = plan.changes[0]
    assert change.ticket_update == {"parent_id": 1}
    assert change.fields["parent_id"].before == 0
    assert change.actions[0].body["note"].startswith("Linked as a duplicate of #1 ([Alert] Disk C")
    assert change.reason.startswith("duplicate of #1 (client_id=12")
    assert [(g.survivor, g.members) for g in plan.groups] == [(1, (2, 3))]
    assert not plan.irreversible
    again = plan_from_json(plan_to_json(plan))
    assert again.groups == plan.groups and again == plan
    assert requests_needed(plan) == requests_needed(again) == 1 + 1 + 1 + 1  # +1 survivors
    linked = [BURST[0], *({**r, "parent_id": 1} for r in BURST[1:])]
    assert make_plan(book, linked, LOOKUPS, now=NOW, run_id="r2", query={}).changes == ()
    lines = group_lines(plan)
    assert lines[0].startswith("Group: keep #1 '[Alert] Disk C") and "#2, #3" in lines[0]
    assert "cannot be undone" not in " ".join(lines)


def test_a_merge_plan_sends_merged_into_id_with_domerge_and_says_it_cannot_be_undone() -> None:
    book = load_playbook_text(MERGE)
    plan = make_plan(book, BURST, LOOKUPS, now=NOW, run_id="r1", query={})
    assert [dict(c.ticket_update) for c in plan.changes] == [
        {"merged_into_id": 1, "domerge": True}
    ] * 2
    assert plan.irreversible and plan_from_json(plan_to_json(plan)).irreversible
    assert all(line.endswith("cannot be undone") for line in group_lines(plan)[:-1])
    merged = [BURST[0], *({**r, "merged_into_id": 1} for r in BURST[1:])]
    assert make_plan(book, merged, LOOKUPS, now=NOW, run_id="r2", query={}).changes == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("actions: [{link: {}}]", "link acts on the duplicates of a group: add group:"),
        (
            "group: {by: [client_id]}\nactions: [{merge: {}}]",
            "a merge cannot be undone: say irreversible: true",
        ),
        (
            "irreversible: true\ngroup: {by: [client_id]}\nactions: [{link: }]",
            "irreversible: true, but no action here is irreversible",
        ),
        (
            "irreversible: true\nschedule: every 1h\ngroup: {by: [client_id]}\n"
            "actions: [{merge: }]",
            "may run unattended only with an approval: policy",
        ),
        ("group: {by: [clientid]}\nactions: [{link: }]", "unknown ticket field 'clientid'"),
        ("group: {by: [client_id], within: soon}\nactions: [{link: }]", "group.within"),
        ("keep: middle\ngroup: {by: [client_id]}\nactions: [{link: }]", "keep"),
        (
            "group: {by: [client_id]}\nlifecycle:\n  - after: 3d\n    note: {text: hi}",
            "group: cannot be combined with lifecycle:",
        ),
    ],
)
def test_group_playbooks_say_what_they_need(text: str, message: str) -> None:
    with pytest.raises(PlaybookError) as e:
        load_playbook_text("name: g\n" + text, "g.yaml")
    assert message in str(e.value)


def test_a_merge_with_approval_always_waits_for_it() -> None:
    policy = ApprovalPolicy(above=10)
    assert not needs_approval(policy, 2)
    assert needs_approval(policy, 2, irreversible=True)
    assert not needs_approval(None, 2, irreversible=True)
    assert not needs_approval(policy, 0, irreversible=True)


def test_still_grouped_checks_the_pair_as_read_now() -> None:
    one, two = BURST[0], BURST[1]
    assert still_grouped(SPEC, "oldest", two, one) is None
    assert "keep: newest" in str(still_grouped(SPEC, "newest", two, one))
    assert "group key" in str(still_grouped(SPEC, "oldest", {**two, "client_id": 9}, one))
    assert "linked or merged" in str(still_grouped(SPEC, "oldest", two, {**one, "parent_id": 7}))
    assert "further apart" in str(
        still_grouped(SPEC, "oldest", {**two, "dateoccurred": at(1)}, one)
    )
    assert "cannot be grouped" in str(still_grouped(SPEC, "oldest", two, {**one, "summary": None}))


def test_apply_rederives_a_duplicate_only_while_its_survivor_stands() -> None:
    book = load_playbook_text(LINK)
    plan = make_plan(book, BURST, LOOKUPS, now=NOW, run_id="r1", query={})
    reads: list[list[int]] = []
    survivor = dict(BURST[0])

    def tickets(ids: Any) -> list[dict[str, Any]]:
        reads.append(list(ids))
        return [survivor] if 1 in ids else []

    redo = Rederiver(book, LOOKUPS, now=NOW, run_id="r1", groups=plan.groups, tickets=tickets)
    redo.prepare([2, 3])
    assert reads == [[1]]
    derived = redo(plan.changes[0], BURST[1])
    assert not isinstance(derived, str) and derived.ticket_update == {"parent_id": 1}
    survivor["summary"] = "Printer jam"  # the survivor no longer matches the where
    redo.prepare([2, 3])
    assert (
        redo(plan.changes[0], BURST[1])
        == f"{NOT_NOW}: its survivor #1 no longer matches the playbook"
    )
    survivor.update(BURST[0], parent_id=5)
    redo.prepare([2])
    assert "linked or merged" in str(redo(plan.changes[0], BURST[1]))
    gone = Rederiver(book, LOOKUPS, now=NOW, run_id="r1", groups=plan.groups, tickets=lambda i: [])
    gone.prepare([2])
    assert redo is not gone and "could not be read" in str(gone(plan.changes[0], BURST[1]))
    lost = Rederiver(book, LOOKUPS, now=NOW, run_id="r1", groups=(), tickets=tickets)
    assert "in no group" in str(lost(plan.changes[0], BURST[1]))
    assert with_survivor(BURST[1], BURST[0])["@survivor"] is BURST[0]


def test_explain_of_a_group_playbook_points_at_the_plan() -> None:
    from halo_automate.core.explain import explain

    found = explain(load_playbook_text(LINK), BURST[1], LOOKUPS, now=NOW)
    assert found.change is None
    assert "depends on the other tickets of its group (group: client_id, summary)" in str(
        found.why_not
    )


def test_a_recorded_fixture_of_a_group_playbook_keeps_what_grouping_reads(
    tmp_path: Any,
) -> None:
    """`record` trims rows to the keys planning reads: for a group playbook those include the
    key fields, dateoccurred and parent_id, or the trimmed survivors would not group and the
    fixture would expect another plan than the live one."""
    from halo_automate.core.fixture_record import record

    book = load_playbook_text(LINK)
    rows = [{**r, "details": "long text", "team": "Service Desk"} for r in BURST]
    made = record(book, rows, LOOKUPS, now=NOW, out=tmp_path / "f.test.yaml", source="test")
    assert made.full_rows == ()  # every trimmed row plans as the live one
    assert made.changes == 2
    assert "parent_id: 1" in made.text and "dateoccurred" in made.text
    assert "long text" not in made.text


def test_a_recorded_merge_fixture_keeps_parent_id_and_the_key_fields(tmp_path: Any) -> None:
    from halo_automate.core.fixture_record import record

    text = MERGE.replace("[client_id, {summary: normalized}]", "[user_id, {summary: normalized}]")
    book = load_playbook_text(text)
    rows = [{**r, "user_id": 7, "details": "long text"} for r in BURST]
    made = record(book, rows, LOOKUPS, now=NOW, out=tmp_path / "f.test.yaml", source="test")
    assert made.full_rows == ()
    assert made.changes == 2 and "user_id: 7" in made.text and "parent_id: 0" in made.text
