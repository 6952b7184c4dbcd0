"""``halo-automate test``: the shipped playbooks' fixtures pass, a changed expectation fails
with a diff (exit 1), an invalid fixture is exit 2 with file:line, ``--junit`` writes XML."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner, Result

from halo_automate.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yaml"))


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["test", *args])


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the shipped playbooks and their fixtures."""
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    return tmp_path / "playbooks"


def test_every_shipped_playbook_has_a_fixture() -> None:
    fixtures = {p.name.removesuffix(".test.yaml") for p in (ROOT / "playbooks/tests").iterdir()}
    assert set(SHIPPED) <= fixtures


def test_shipped_fixtures_pass_without_secret_or_network(tmp_path: Path) -> None:
    """As CI runs it: a subprocess, no HALO_CLIENT_SECRET, no config, no Halo."""
    env = {k: v for k, v in os.environ.items() if k not in ("HALO_CLIENT_SECRET",)}
    env.pop("HALO_AUTOMATE_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "halo_automate", "test", str(ROOT / "playbooks")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(SHIPPED)} passed, 0 failed, 0 invalid" in proc.stderr
    for name in SHIPPED:
        assert f"{name}.test.yaml ({name}:" in proc.stdout


def test_a_changed_expectation_exits_1_with_a_diff(copy: Path) -> None:
    fixture = copy / "tests" / "close-spam.test.yaml"
    text = fixture.read_text("utf-8")
    fixture.write_text(text.replace("101: {status: Closed}", "101: {status: New}"), "utf-8")
    result = run(str(copy))
    assert result.exit_code == 1, result.output
    assert f"FAIL    {fixture} (close-spam)" in result.output
    assert "ticket 101 (line 5): status\n          - 'New'\n          + 9 (Closed)" in result.output
    assert f"{len(SHIPPED) - 1} passed, 1 failed" in result.output


def test_a_ticket_expected_unchanged_that_changes_is_a_diff(copy: Path) -> None:
    fixture = copy / "tests" / "category-cleanup.test.yaml"
    text = fixture.read_text("utf-8").replace('    104: {category_1: "Network>VPN"}\n', "")
    fixture.write_text(text, "utf-8")
    result = run(str(fixture))
    assert result.exit_code == 1
    assert "ticket 104 (line 8): expected unchanged" in result.output
    assert "+ category_1 'Network>Dial-up' -> 'Network>VPN'" in result.output


def test_expected_change_not_planned_and_notes(copy: Path) -> None:
    fixture = copy / "tests" / "close-quarantined.test.yaml"
    text = fixture.read_text("utf-8").replace("notes: {101: 1}", "notes: {101: 2}")
    text = text.replace("101: {status: Closed}", "101: {status: Closed}\n    102: {status: Closed}")
    fixture.write_text(text.replace("  others_unchanged: true\n", ""), "utf-8")
    result = run(str(fixture))
    assert result.exit_code == 1
    assert "ticket 102 (line 6): expected a change, planned none" in result.output
    assert "ticket 101 (line 5): notes\n          - 2\n          + 1" in result.output


def test_fixture_beside_its_playbook_with_own_lookups(tmp_path: Path) -> None:
    """NAME.test.yaml next to the playbook; its lookup list replaces the sample's, the
    others come from the sample; `validate` does not take the fixture for a playbook."""
    shutil.copy(ROOT / "playbooks" / "close-spam.yaml", tmp_path / "close-spam.yaml")
    (tmp_path / "close-spam.test.yaml").write_text(
        "playbook: close-spam.yaml\nnow: 2026-11-30T12:00:00Z\n"
        "lookups:\n  statuses: [{id: 1, name: New}, {id: 77, name: Closed}]\n"
        "tickets:\n  - {id: 1, summary: 'Undeliverable: x', status_id: 1, agent_id: 0}\n"
        "expect:\n  changes: {1: {status_id: 77}}\n",
        encoding="utf-8",
    )
    assert run(str(tmp_path / "close-spam.yaml")).exit_code == 0
    validate = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert validate.exit_code == 0 and "1 valid" in validate.output


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        ("playbook: close-spam\nnow: nope\ntickets: [{id: 1}]\nexpect: {}\n", ":2:1:", "now:"),
        ("playbook: close-spam\nnow: 2026-11-30\ntickets:\n  - {summary: x}\nexpect: {}\n",
         ":4:5:", "needs an integer 'id'"),
        ("playbook: close-spam\nnow: 2026-11-30\ntickets: [{id: 1}]\nexpect:\n  chnages: {}\n",
         ":5:3:", "did you mean 'changes'"),
        ("playbook: close-spam\nnow: 2026-11-30\ntickets: [{id: 1}]\nexpect:\n"
         "  unchanged: [1, 5]\n", ":5:", "ticket 5 is not in tickets"),
        ("playbook: nope\nnow: 2026-11-30\ntickets: [{id: 1}]\nexpect: {}\n", ":1:1:",
         "no playbook 'nope'"),
        ("playbook: close-spam\nnow: [2026\n", ":", "YAML"),
    ],
)  # fmt: skip
def test_invalid_fixture_exits_2_with_file_line(
    copy: Path, content: str, where: str, message: str
) -> None:
    fixture = copy / "tests" / "bad.test.yaml"
    fixture.write_text(content, "utf-8")
    result = run(str(fixture))
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if x.startswith(str(fixture) + ":"))
    assert line.startswith(f"{fixture}{where}") and message in line, result.output


def test_junit_xml(copy: Path, tmp_path: Path) -> None:
    fixture = copy / "tests" / "close-spam.test.yaml"
    fixture.write_text(fixture.read_text("utf-8").replace("{status_id: 9}", "{status_id: 1}"))
    out = tmp_path / "junit.xml"
    assert run(str(copy), "--junit", str(out)).exit_code == 1
    suite = ET.parse(out).getroot()  # noqa: S314 (our own output)
    assert suite.tag == "testsuite" and suite.get("tests") == str(len(SHIPPED))
    assert suite.get("failures") == "1"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("classname") for c in failed] == ["close-spam"]
    assert "ticket 104" in (failed[0].findtext("failure") or "")


def test_no_fixtures_is_exit_2(tmp_path: Path) -> None:
    result = run(str(tmp_path))
    assert result.exit_code == 2 and "no test fixtures" in result.output
