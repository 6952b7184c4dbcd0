"""Hostile playbooks: YAML bombs, deep nesting, enormous files, endless files, giant numbers,
floods of keys, wrong types, unsafe tags and catastrophic regexes. Each is refused with
`file:line:col: message` problems (a catastrophic regex is harmless: RE2 is linear time), in
bounded time and memory; `validate` on the command line exits 2 with no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_tools import SandboxFactory, journal_problems, runner_for

from halo_automate.core.playbook import (
    MAX_FILE_BYTES,
    MAX_PROBLEMS,
    load_playbook,
    load_playbook_text,
)
from halo_automate.errors import PlaybookError

PROBLEM = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): (?P<message>[^\n]+)$")
OK_ACTIONS = "actions:\n  - set: {priority: High}\n"
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)
DEEP_BLOCK = "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"

HOSTILE: dict[str, tuple[str, str]] = {
    "billion-laughs": (LAUGHS + OK_ACTIONS, "YAML aliases (*name) are not allowed"),
    "merge-key-alias": ("base: &b {status: Closed}\nactions:\n  - close: {<<: *b}\n",
                        "YAML aliases"),
    "deep-flow-lists": ("actions: " + "[" * 300_000 + "]" * 300_000 + "\n", "nested too deeply"),
    "unclosed-flow-lists": ("actions: " + "[" * 900_000 + "\n", "nested too deeply"),
    "deep-flow-maps": ("where: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
                       "nested too deeply"),
    "deep-block-maps": (DEEP_BLOCK, "nested too deeply"),
    "deep-block-lists": ("actions:\n" + "- " * 100_000 + "x\n", "nested too deeply"),
    "deep-where": ("where: " + "{not: " * 60 + "{summary: {contains: a}}" + "}" * 60 + "\n"
                   + OK_ACTIONS, "nested more than 50 levels deep"),
    "deep-conditions": ("where: " + "{any: [" * 22 + "{summary: {contains: a}}" + "]}" * 22
                        + "\n" + OK_ACTIONS, "conditions are nested too deeply"),
    "flood-of-keys": ("".join(f"k{i}: {i}\n" for i in range(12_000)) + OK_ACTIONS,
                      "more than 10000 YAML values"),
    "long-flow-list": ("x: [" + ",".join(["1"] * 20_000) + "]\n" + OK_ACTIONS,
                           "more than 10000 YAML values"),
    "giant-integer": ("limits: {max_changes: " + "9" * 5000 + "}\n" + OK_ACTIONS,
                      "number longer than 64 characters"),
    "giant-sexagesimal": ("limits: {max_changes: 1" + ":1" * 100_000 + "}\n" + OK_ACTIONS,
                          "number longer than 64 characters"),
    "over-one-megabyte": ("# " + "x" * MAX_FILE_BYTES + "\n" + OK_ACTIONS,
                          "file is larger than 1 MB"),
    "python-tag": ("actions: !!python/object/apply:os.system [echo pwned]\n",
                   "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"),
    "set-tag": ("actions: !!set {a, b}\n", "YAML tag 'tag:yaml.org,2002:set' is not allowed"),
    "nul-byte": ("name: a\x00b\n" + OK_ACTIONS, "unacceptable character"),
    "wrong-types": ("name: [1]\nactions: {set: 1}\nlimits: yes\nhalo_rules: maybe\n",
                    "Input should be a valid"),
    "unknown-fields": ("nmae: x\nactoins: []\n" + OK_ACTIONS,
                       "unknown key 'nmae' (did you mean 'name'?)"),
    "unknown-ticket-field": ("where: {sumary: {contains: x}}\n" + OK_ACTIONS,
                             "unknown ticket field 'sumary' (did you mean 'summary'?)"),
    "absurd-duration": ("where: {dateoccurred: {older_than: 999999999w}}\n" + OK_ACTIONS,
                        "duration '999999999w' is longer than 100 years"),
    "ancient-cutoff": ("where: {dateoccurred: {newer_than: 999999w}}\n" + OK_ACTIONS,
                       "duration '999999w' is longer than 100 years"),
    "interval-past-the-calendar": ("schedule: every 999999999d\n" + OK_ACTIONS,
                                   "schedule 'every 999999999d': run at least once a year"),
    "invalid-regex": ("where: {summary: {matches: '(unclosed'}}\n" + OK_ACTIONS,
                      "bad regular expression"),
    "not-a-mapping": ("- just\n- a\n- list\n", "a playbook is a mapping"),
    "empty-file": ("", "a playbook is a mapping"),
}  # fmt: skip


MEMORY_CASES = frozenset(
    {"billion-laughs", "merge-key-alias", "deep-flow-lists", "unclosed-flow-lists",
     "deep-flow-maps", "deep-block-lists", "over-one-megabyte", "giant-integer", "flood-of-keys"}
)  # fmt: skip
"""Cases whose memory is also traced (tracing the rest would only slow the suite)."""


def attempt(work: Callable[[], object]) -> BaseException | object:
    try:
        return work()
    except Exception as e:
        return e


def measure(
    work: Callable[[], object], *, traced: bool = True
) -> tuple[BaseException | object, float, float]:
    """(what it raised or returned, CPU seconds, peak traced MB): timed in one call, traced in
    a second (tracemalloc slows the scanner's many small allocations several fold). CPU time
    of this process, so other processes' load (a parallel test worker, CI) cannot fail it."""
    started = time.process_time()
    outcome = attempt(work)
    seconds = time.process_time() - started
    if not traced:
        return outcome, seconds, 0.0
    tracemalloc.start()
    try:
        attempt(work)
        peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()
    return outcome, seconds, peak


def assert_problems(error: PlaybookError, path: str) -> None:
    assert error.problems
    for problem in error.problems:
        found = PROBLEM.match(problem)
        assert found, problem
        assert found["file"] == path


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_playbook_is_refused_quickly_with_a_located_problem(name: str) -> None:
    """Each hostile playbook is a PlaybookError whose problems are `file:line:col: message`,
    found within 3 s (and, for the bombs and floods, 64 MB of traced memory)."""
    text, expected = HOSTILE[name]
    traced = name in MEMORY_CASES
    outcome, seconds, peak = measure(
        lambda: load_playbook_text(text, f"{name}.yaml"), traced=traced
    )
    assert isinstance(outcome, PlaybookError), repr(outcome)[:300]
    assert_problems(outcome, f"{name}.yaml")
    assert expected in str(outcome)
    assert seconds < 3, f"{seconds:.2f}s"
    assert peak < 64, f"{peak:.1f} MB"


def test_a_problem_quoting_a_huge_value_is_cut() -> None:
    """A problem that quotes a huge wrong value stays one short line."""
    text = "actions:\n  - set: {priority: [" + ",".join(["1"] * 3000) + "]}\n"
    with pytest.raises(PlaybookError) as caught:
        load_playbook_text(text, "huge.yaml")
    [problem] = caught.value.problems
    assert problem.startswith("huge.yaml:2:")
    assert problem.endswith(" ...") and len(problem) < 600


def test_a_flood_of_problems_is_listed_up_to_a_cap() -> None:
    """Hundreds of unknown keys list the first problems and say how many more there are."""
    text = "".join(f"unknown_{i}: 1\n" for i in range(300)) + OK_ACTIONS
    with pytest.raises(PlaybookError) as caught:
        load_playbook_text(text, "flood.yaml")
    problems = caught.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert (
        problems[-1]
        == f"flood.yaml:{MAX_PROBLEMS + 1}:1: ... and {300 - MAX_PROBLEMS} more problems"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_read_bounded() -> None:
    """A path whose size is unknown (a device or FIFO, stat size 0) is read at most 1 MB."""
    outcome, seconds, peak = measure(lambda: load_playbook("/dev/zero"))
    assert isinstance(outcome, PlaybookError)
    assert str(outcome) == "/dev/zero:1:1: file is larger than 1 MB"
    assert seconds < 2 and peak < 8


def test_validate_cli_exits_2_with_located_problems_and_no_traceback(tmp_path: Path) -> None:
    """`python -m halo_automate validate` over every hostile file: exit 2, every problem line
    `file:line:col: message` naming its file, no traceback."""
    paths = []
    for name, (text, _) in HOSTILE.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 64)
    paths.append(binary)
    result = subprocess.run(
        [sys.executable, "-m", "halo_automate", "validate", *map(str, paths)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "HALO_AUTOMATE_CONFIG": str(tmp_path / "none.yaml")},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(PROBLEM.match(line) for line in lines), lines[:5]
    named = {PROBLEM.match(line)["file"] for line in lines}  # type: ignore[index]
    assert named == {str(p) for p in paths}
    assert f"0 valid, {len(lines)} problem(s)" in result.stderr
    assert any(line.startswith(f"{binary}:1:1: not UTF-8 text") for line in lines)


def test_catastrophic_regex_plans_in_bounded_time(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """A `matches` pattern that backtracks catastrophically elsewhere, against a hostile
    summary, plans within seconds under RE2 (linear time): the run succeeds, the hostile
    ticket is not matched, nothing is written."""
    sb = sandbox_factory(tickets=60)
    sb.edit_ticket(5, summary="a" * 5000 + "!")
    playbook = load_playbook_text(
        "name: regex-bomb\nwhere: {summary: {matches: '^(a+)+$'}}\n" + OK_ACTIONS, "bomb.yaml"
    )
    journal = tmp_path / "journal.db"
    with runner_for(sb, journal) as runner:
        started = time.monotonic()
        outcome = runner.run(playbook, trigger="cli", confirm=None)
        seconds = time.monotonic() - started
        assert outcome.error is None, outcome.message
        [run] = runner.journal.runs()
    assert seconds < 3
    assert run.status == "succeeded" and outcome.matched == 0
    assert sb.counters["writes_applied"] == 0
    assert journal_problems(journal) == []
