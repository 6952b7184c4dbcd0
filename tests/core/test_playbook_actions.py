"""The action registry: every kind is one module behind one protocol, and everyone reads it."""

from __future__ import annotations

import pytest

from halo_automate.core.actions.base import UndoneBy, WrittenAs
from halo_automate.core.actions.registry import ACTION_KINDS, POSTED_KINDS, carries_fields
from halo_automate.core.plan import needed_lookups
from halo_automate.core.playbook import load_playbook_text
from halo_automate.errors import PlaybookError


def test_the_registry_finds_the_six_kinds_in_order() -> None:
    """The kinds are discovered from their modules, in documentation order."""
    assert list(ACTION_KINDS) == ["set", "close", "note", "recategorize", "link", "merge"]
    assert list(POSTED_KINDS) == ["close", "note", "restore"]


@pytest.mark.parametrize(
    ("key", "written_as", "undone_by", "posts"),
    [
        ("set", {WrittenAs.TICKET_FIELDS}, {UndoneBy.RESTORING_FIELDS}, None),
        (
            "close",
            {WrittenAs.ACTION},
            {UndoneBy.DELETING_ACTION, UndoneBy.RESTORING_FIELDS},
            "close",
        ),
        ("note", {WrittenAs.ACTION}, {UndoneBy.DELETING_ACTION}, "note"),
        ("recategorize", {WrittenAs.TICKET_FIELDS}, {UndoneBy.RESTORING_FIELDS}, None),
        (
            "link",
            {WrittenAs.TICKET_FIELDS, WrittenAs.ACTION},
            {UndoneBy.RESTORING_FIELDS, UndoneBy.DELETING_ACTION},
            None,
        ),
        ("merge", {WrittenAs.TICKET_FIELDS}, {UndoneBy.NOTHING}, None),
    ],
)
def test_each_kind_says_how_it_is_written_and_undone(
    key: str, written_as: set[WrittenAs], undone_by: set[UndoneBy], posts: str | None
) -> None:
    """A kind that posts an action is written as one and undone by deleting it."""
    kind = ACTION_KINDS[key]
    assert (set(kind.written_as), set(kind.undone_by)) == (written_as, undone_by)
    assert (kind.posts.name if kind.posts else None) == posts
    if kind.posts is not None:
        assert WrittenAs.ACTION in kind.written_as
        assert kind.posts.undone_by in kind.undone_by


def test_only_a_close_carries_field_changes() -> None:
    """Apply journals carried fields with the posted kind that changes them (a close)."""
    assert carries_fields("close")
    assert not carries_fields("note")
    assert not carries_fields("restore")
    assert not carries_fields("no-such-kind")


def test_exactly_one_names_every_registered_kind() -> None:
    """The 'exactly one of' message lists the registry's kinds."""
    with pytest.raises(PlaybookError) as e:
        load_playbook_text("actions:\n  - {note: {text: a}, close: {}}\n", "x.yaml")
    assert e.value.problems == [
        "x.yaml:2:5: actions.0: an action is exactly one of set, close, note, recategorize, "
        "link, merge (got 2)"
    ]


def test_a_null_action_value_counts_as_not_given() -> None:
    """'- note:' with no value is no action (only close has all-default keys)."""
    with pytest.raises(PlaybookError, match=r"exactly one of .* \(got 0\)"):
        load_playbook_text("actions:\n  - note:\n", "x.yaml")


def test_an_action_entry_must_be_a_mapping() -> None:
    """A bare value in actions is refused at its position."""
    with pytest.raises(PlaybookError) as e:
        load_playbook_text("actions:\n  - 5\n", "x.yaml")
    assert e.value.problems == [
        "x.yaml:2:5: actions.0: Input should be a valid dictionary or instance of Action"
    ]


@pytest.mark.parametrize(
    ("yaml", "kinds"),
    [
        ("select: {status: New}\nactions:\n  - set: {onhold: true}\n", {"statuses"}),
        ("select: {open_only: true}\nactions:\n  - set: {onhold: true}\n", {"statuses"}),
        ("select: {client_id: A}\nactions:\n  - set: {team: T}\n", {"clients", "teams"}),
        ("actions:\n  - set: {category_3: X, tickettype: I}\n", {"category_3", "ticket_types"}),
        ("actions:\n  - close:\n", {"statuses", "outcomes"}),
        ("actions:\n  - set: {agent: Jo}\n  - note: {text: hi}\n", {"agents", "outcomes"}),
        ("actions:\n  - recategorize: {field: category_2, empty: X}\n", {"category_2"}),
        ("actions:\n  - set: {priority: High}\n", {"priorities"}),
    ],
)
def test_needed_lookups_come_from_select_and_each_kind(yaml: str, kinds: set[str]) -> None:
    """A run fetches exactly the lists its filters and actions read."""
    assert needed_lookups(load_playbook_text(yaml, "n.yaml")) == kinds
