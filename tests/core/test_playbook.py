"""Loading playbooks: the YAML loader, validation with file:line:column, templates, folders."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from halo_automate.core.conditions import Check, Group
from halo_automate.core.playbook import (
    MAX_FILE_BYTES,
    load_playbook,
    load_playbook_text,
    load_playbooks,
    playbook_files,
)
from halo_automate.core.templates import parse_template, render_template
from halo_automate.errors import PlaybookError

CORPUS = Path(__file__).resolve().parents[1] / "playbook_corpus"
EXPECT = re.compile(r"^# expect: (\d+:\d+): (.*)$", re.MULTILINE)

MINIMAL = "actions:\n  - set: {priority: High}\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.stem)
def test_corpus_errors_point_at_the_offending_key(path: Path) -> None:
    """Each broken playbook fails with exactly the problems its '# expect:' lines list."""
    expected = EXPECT.findall(path.read_text(encoding="utf-8"))
    assert expected, f"{path.name} has no '# expect:' lines"
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    problems = caught.value.problems
    assert len(problems) == len(expected), problems
    for problem, (position, message) in zip(problems, expected, strict=True):
        assert problem.startswith(f"{path}:{position}: "), problem
        assert message in problem, problem


def test_error_message_lists_every_problem() -> None:
    """The exception text is the problems, one per line."""
    with pytest.raises(PlaybookError) as caught:
        load_playbook(CORPUS / "unknown_field.yaml")
    assert str(caught.value).count("\n") == 1
    assert caught.value.exit_code == 2


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    """A file over 1 MB is refused at 1:1 without being read as YAML."""
    path = write(tmp_path, "big.yaml", "# " + "x" * MAX_FILE_BYTES + "\n" + MINIMAL)
    with pytest.raises(PlaybookError, match=r"big\.yaml:1:1: file is larger than 1 MB"):
        load_playbook(path)
    with pytest.raises(PlaybookError, match="larger than 1 MB"):
        load_playbook_text("# " + "x" * MAX_FILE_BYTES)


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    """A missing file and a non-UTF-8 file are problems at 1:1."""
    with pytest.raises(PlaybookError, match=r"nope\.yaml:1:1: cannot read"):
        load_playbook(tmp_path / "nope.yaml")
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(PlaybookError, match=r"latin\.yaml:1:1: not UTF-8"):
        load_playbook(bad)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    """Deeply nested YAML is refused rather than recursed into."""
    text = "actions: " + "[" * 60 + "]" * 60 + "\n"
    with pytest.raises(PlaybookError, match="nested more than 50 levels"):
        load_playbook_text(text, "deep.yaml")
    with pytest.raises(PlaybookError, match="nested too deeply"):
        load_playbook_text("a: " + "[" * 5000 + "]" * 5000, "deeper.yaml")


def test_unsafe_tags_and_complex_keys_are_refused() -> None:
    """Python object tags and non-text keys are problems, not code execution."""
    with pytest.raises(PlaybookError, match=r"x\.yaml:1:10: YAML tag 'tag:yaml\.org,2002:python"):
        load_playbook_text("actions: !!python/object:os.system {}\n", "x.yaml")
    with pytest.raises(PlaybookError, match=r"x\.yaml:1:7: YAML tag .*binary"):
        load_playbook_text("name: !!binary aGk=\n" + MINIMAL, "x.yaml")
    with pytest.raises(PlaybookError, match=r"x\.yaml:1:3: a key must be plain text"):
        load_playbook_text("? [a, b]\n: 1\n", "x.yaml")


def test_unreadable_characters_are_yaml_problems() -> None:
    """Control characters YAML cannot read are reported, not raised."""
    with pytest.raises(PlaybookError, match=r"c\.yaml:1:1: YAML: unacceptable character"):
        load_playbook_text("name: \x07\n", "c.yaml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (MINIMAL + "limits: {max_chnages: 5}\n", "'max_chnages' (did you mean 'max_changes'?)"),
        ("actions:\n  - close: {statsu: Closed}\n", "'statsu' (did you mean 'status'?)"),
        ("actions:\n  - note: {txt: hi}\n", "'txt' (did you mean 'text'?)"),
        ("actions:\n  - recategorize: {field: category_1, mapp: {}}\n", "(did you mean 'map'?)"),
        ("actions:\n  - clsoe: {}\n", "'clsoe' (did you mean 'close'?)"),
        (MINIMAL + "expect: {mni: 1}\n", "'mni' (did you mean 'min'?)"),
    ],
)
def test_unknown_key_hints_come_from_the_right_model(text: str, problem: str) -> None:
    """Did-you-mean for an unknown key uses the keys of the mapping it sits in (the top
    level, limits, or the action kind's own model)."""
    with pytest.raises(PlaybookError) as e:
        load_playbook_text(text, "k.yaml")
    assert any(p.endswith(problem) for p in e.value.problems), e.value.problems


def test_anchor_without_alias_is_harmless() -> None:
    """An anchor alone is allowed (only aliases are refused)."""
    playbook = load_playbook_text("actions: &acts\n  - set: {priority: High}\n", "a.yaml")
    assert playbook.actions[0].kind == "set"


def test_a_full_playbook_loads(tmp_path: Path) -> None:
    """Every key is read into a frozen Playbook with defaults, hash and name location."""
    text = (
        "name: tidy\n"
        "description: A test\n"
        "schedule: every 10m\n"
        "mode: preview\n"
        "select: {open_only: true, status: [New]}\n"
        "where:\n"
        "  summary: {contains: printer}\n"
        "actions:\n"
        "  - set: {team: Second Line, onhold: true}\n"
        "  - note: {text: 'Moved by {playbook}'}\n"
        "limits: {max_changes: 5}\n"
        "expect: {min: 1, max: 9}\n"
        "halo_rules: true\n"
    )
    path = write(tmp_path, "other-stem.yaml", text)
    playbook = load_playbook(path)
    assert playbook.name == "tidy"
    assert playbook.description == "A test"
    assert playbook.schedule is not None
    assert playbook.schedule.interval_seconds == 600
    assert playbook.mode == "preview"
    assert playbook.select == {"open_only": True, "status": ["New"]}
    assert playbook.where == Check("summary", "contains", False, "printer")
    assert [a.kind for a in playbook.actions] == ["set", "note"]
    assert playbook.limits.max_changes == 5
    assert playbook.expect is not None
    assert (playbook.expect.min, playbook.expect.max) == (1, 9)
    assert playbook.halo_rules is True
    assert playbook.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert playbook.name_location == f"{path}:1:1"
    with pytest.raises(ValueError, match="frozen"):
        playbook.name = "x"  # type: ignore[misc]


def test_defaults_and_name_from_file(tmp_path: Path) -> None:
    """The name defaults to the file stem; mode apply, max_changes 100, rules off."""
    playbook = load_playbook(write(tmp_path, "close-stale.yaml", MINIMAL))
    assert playbook.name == "close-stale"
    assert playbook.mode == "apply"
    assert playbook.schedule is None
    assert playbook.where is None
    assert playbook.select == {}
    assert playbook.limits.max_changes == 100
    assert playbook.expect is None
    assert playbook.halo_rules is False


def test_bad_names(tmp_path: Path) -> None:
    """A name must be a simple word; a file stem that is not one needs a name key."""
    with pytest.raises(PlaybookError, match=r"1:1: name 'close spam': use letters"):
        load_playbook_text("name: close spam\n" + MINIMAL, "p.yaml")
    with pytest.raises(PlaybookError, match="is not a playbook name: add a 'name:' key"):
        load_playbook(write(tmp_path, "my playbook.yaml", MINIMAL))


def test_bare_close_means_defaults() -> None:
    """'- close:' with no value is a close with every default."""
    playbook = load_playbook_text("actions:\n  - close:\n", "c.yaml")
    assert playbook.actions[0].kind == "close"
    close = playbook.actions[0].spec
    assert (close.status, close.note, close.outcome, close.private, close.email) == (
        "Closed",
        None,
        None,
        True,
        False,
    )


def test_yaml_dates_stay_text() -> None:
    """An unquoted date in a condition stays the text written (parsed as a Halo date)."""
    playbook = load_playbook_text(
        "where: {dateoccurred: {gt: 2026-01-31}}\nactions: [{set: {priority: High}}]\n", "d.yaml"
    )
    assert playbook.where == Check("dateoccurred", "gt", False, "2026-01-31")


def test_where_tree_keeps_groups() -> None:
    """Groups and multi-field mappings become all/any/not nodes."""
    playbook = load_playbook_text(
        "where:\n  any:\n    - summary: {contains: a}\n    - summary: {contains: b}\n"
        "  not: {client_id: {equals: 1}}\n" + MINIMAL,
        "g.yaml",
    )
    assert isinstance(playbook.where, Group)
    assert [c.kind for c in playbook.where.children if isinstance(c, Group)] == ["any", "not"]


def test_expect_min_above_max() -> None:
    """expect.min larger than expect.max is an error at the expect key."""
    with pytest.raises(PlaybookError, match=r"e.yaml:3:1: expect: expect.min \(5\)"):
        load_playbook_text(MINIMAL + "expect: {min: 5, max: 2}\n", "e.yaml")


def test_set_checks_fields_and_values() -> None:
    """Verbatim set fields must be list-visible ticket fields with values of their type."""
    with pytest.raises(PlaybookError) as caught:
        load_playbook_text(
            "actions:\n"
            "  - set: {_force: true, summary: 5, priority: true, details_html: x, onhold: 1}\n"
            "  - set: {}\n",
            "s.yaml",
        )
    problems = "\n".join(caught.value.problems)
    assert "s.yaml:2:11: set _force: '_force' is not ticket state" in problems
    assert "s.yaml:2:25: set summary: 5 is not a string value" in problems
    assert "s.yaml:2:37: set priority: give a name, not True" in problems
    assert "set details_html: ticket lists do not show 'details_html'" in problems
    assert "set onhold: 1 is not a boolean value" in problems
    assert "s.yaml:3:5: 'set' needs at least one field" in problems


def test_recategorize_needs_something_to_do() -> None:
    """A recategorize with neither map nor empty, or mapping to '', is an error."""
    with pytest.raises(PlaybookError) as caught:
        load_playbook_text(
            "actions:\n"
            "  - recategorize: {field: category_1}\n"
            "  - recategorize: {field: category_2, map: {a: ''}, empty: a}\n"
            "  - recategorize: {field: category_3, map: {'': b}}\n",
            "r.yaml",
        )
    problems = "\n".join(caught.value.problems)
    assert "r.yaml:2:5: recategorize needs a 'map'" in problems
    assert "recategorize maps 'a' to an empty value" in problems
    assert "'a' is both the empty target and a map key" in problems
    assert "r.yaml:4:45: map an empty value with 'empty:', not an empty key" in problems


TEMPLATES = [
    ("Closed by {playbook} (run {run_id})", "Closed by spam (run r1)"),
    ("{{literal}} {ticket.summary}!", "{literal} Printer down!"),
    ("id {ticket.id}, agent '{ticket.agent_name}'", "id 7, agent ''"),
    ("plain", "plain"),
]


@pytest.mark.parametrize(("template", "rendered"), TEMPLATES)
def test_templates_render(template: str, rendered: str) -> None:
    """Templates fill playbook, run id and ticket fields; {{ }} are literal braces."""
    pieces = parse_template(template)
    ticket = {"id": 7, "summary": "Printer down", "agent_name": None}
    assert render_template(pieces, playbook="spam", run_id="r1", ticket=ticket) == rendered


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{run}", "unknown template variable {run} (did you mean 'run_id'?)"),
        ("{ticket.nope}", "unknown ticket field in template {ticket.nope}"),
        ("{}", "unknown template variable {}"),
        ("{playbook!r}", "takes no format or conversion"),
        ("{run_id:>10}", "takes no format or conversion"),
        ("oops }", "Single '}' encountered"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    """Unknown variables, conversions and stray braces are errors."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_template(template)


def test_load_playbooks_from_a_folder(tmp_path: Path) -> None:
    """A folder loads every .yaml/.yml; broken files become problems, duplicates too."""
    write(tmp_path, "a.yaml", MINIMAL)
    write(tmp_path, "b.yml", "name: a\n" + MINIMAL)
    write(tmp_path, "c.yaml", "actions: 5\n")
    write(tmp_path, "notes.txt", "not a playbook")
    playbooks, problems = load_playbooks(tmp_path)
    assert [p.name for p in playbooks] == ["a"]
    assert len(problems) == 2
    assert (
        problems[0]
        == f"{tmp_path / 'b.yml'}:1:1: playbook name 'a' is already used by {tmp_path / 'a.yaml'}"
    )
    assert problems[1].startswith(
        f"{tmp_path / 'c.yaml'}:1:1: actions: Input should be a valid list"
    )


def test_load_playbooks_from_paths(tmp_path: Path) -> None:
    """A list of files and folders is expanded in order."""
    one = write(tmp_path, "one.yaml", MINIMAL)
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "two.yaml", MINIMAL)
    assert playbook_files([one, sub]) == [one, sub / "two.yaml"]
    playbooks, problems = load_playbooks([str(one), sub])
    assert [p.name for p in playbooks] == ["one", "two"]
    assert problems == []
