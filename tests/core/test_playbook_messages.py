"""Messages for the mistakes people make writing playbooks from the docs (issue 19.8): each
says what to write instead."""

from __future__ import annotations

import pytest

from halo_automate.core.playbook import load_playbook_text
from halo_automate.errors import PlaybookError


def problems(text: str) -> str:
    with pytest.raises(PlaybookError) as caught:
        load_playbook_text(text, "p.yaml")
    return str(caught.value)


def test_a_tab_indent_says_indent_with_spaces() -> None:
    text = problems("name: x\nactions:\n\t- close: {}\n")
    assert "p.yaml:3:1:" in text and "indent with spaces, not tabs" in text


@pytest.mark.parametrize(
    ("word", "field"),
    [("subject", "summary"), ("created", "dateoccurred"), ("title", "summary"),
     ("updated", "last_update"), ("description", "details")],
)  # fmt: skip
def test_the_words_people_use_point_to_halo_fields(word: str, field: str) -> None:
    text = problems(f"name: x\nwhere:\n  {word}: {{empty: false}}\nactions: [{{close: {{}}}}]\n")
    assert f"unknown ticket field '{word}' (Halo calls it '{field}')" in text


def test_contains_with_a_list_points_to_any_and_matches() -> None:
    text = problems("name: x\nwhere:\n  summary: {contains: [a, b]}\nactions: [{close: {}}]\n")
    assert "expects non-empty text" in text
    assert "any:" in text and "matches: 'a|b'" in text


def test_an_unknown_action_lists_the_actions() -> None:
    text = problems("name: x\nactions:\n  - assign: {agent: Bob}\n")
    assert "unknown key 'assign'" in text
    assert "(actions: " in text and "set" in text and "close" in text and "note" in text


def test_unassigning_an_agent_is_explained() -> None:
    text = problems("name: x\nactions:\n  - set: {agent: null}\n")
    assert "to unassign, write agent_id: 0" in text


def test_a_regex_is_echoed_as_written() -> None:
    text = problems(
        "name: x\nwhere:\n  summary: {matches: '^\\[Alert\\] (('}\nactions: [{close: {}}]\n"
    )
    assert "'^\\[Alert\\] (('" in text and "\\\\[" not in text
    assert text.count("^\\[Alert\\] ((") == 1  # RE2's echo of the pattern is not repeated
