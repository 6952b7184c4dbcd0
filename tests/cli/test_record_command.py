"""``halo-automate record PLAYBOOK --out FILE``: a fixture from a live (sandbox) Halo that
the fixture runner passes, read-only, with its cost said first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.sandbox.server import SandboxServer


@pytest.fixture
def invoke(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    return run


def _spam_and_look_alike(sandbox: SandboxServer) -> None:
    sandbox.edit_ticket(7, summary="Automatic reply: away", user_email="ann@contoso.example",
                        status_id=1, agent_id=0, client_name="Contoso Ltd")  # fmt: skip
    sandbox.edit_ticket(8, summary="How do I set up an out of office reply?",
                        user_email="bob@contoso.example", status_id=1, agent_id=0)  # fmt: skip


def test_record_by_ids_writes_a_fixture_that_passes(
    invoke: Any, sandbox: SandboxServer, tmp_path: Path
) -> None:
    _spam_and_look_alike(sandbox)
    out = tmp_path / "playbooks" / "tests" / "close-spam.test.yaml"
    out.parent.mkdir()
    before = sandbox.counters["writes_applied"]
    result = invoke("record", "close-spam", "--out", str(out), "--ids", "7,8")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    estimate = int(re.search(r"at most (\d+) request", first).group(1))  # type: ignore[union-attr]
    used = int(re.search(r"; (\d+) request\(s\)", result.output).group(1))  # type: ignore[union-attr]
    assert used <= estimate
    assert sandbox.counters["writes_applied"] == before  # read-only
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert doc["playbook"] == "close-spam"  # beside its playbook: by name
    assert [t["id"] for t in doc["tickets"]] == [7, 8]
    assert doc["expect"]["changes"] == {7: {"status": "Closed"}}
    assert doc["expect"]["others_unchanged"] is True and doc["expect"]["notes"] == {7: 1}
    assert "statuses" in doc["lookups"]
    tested = invoke("test", str(out))
    assert tested.exit_code == 0, tested.output
    # an edited expectation fails, as a hand-written fixture would
    edited = out.read_text(encoding="utf-8").replace("7: {status: Closed}", "7: {status: New}")
    out.write_text(edited, encoding="utf-8")
    assert invoke("test", str(out)).exit_code == 1


def test_record_a_scan_with_a_limit_and_a_relative_playbook_path(
    invoke: Any, tmp_path: Path
) -> None:
    out = tmp_path / "elsewhere" / "spam.test.yaml"  # its folder is created
    result = invoke("record", "close-spam", "--out", str(out), "--limit", "150")
    assert result.exit_code == 0, result.output
    assert "up to 150 scanned ticket(s)" in result.output
    estimate = re.search(r"at most (\d+) request", result.output)
    used = re.search(r"; (\d+) request\(s\)", result.output)
    assert (
        estimate and used and estimate.group(1) == used.group(1) == "5"
    )  # token, 2 lists, 2 pages
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert doc["playbook"] == "../playbooks/close-spam.yaml"
    assert 0 < len(doc["tickets"]) <= 150
    assert invoke("test", str(out)).exit_code == 0


def test_anonymized_fixture_keeps_domains_and_playbook_words_and_still_passes(
    invoke: Any, sandbox: SandboxServer, tmp_path: Path
) -> None:
    _spam_and_look_alike(sandbox)
    out = tmp_path / "anon.test.yaml"
    result = invoke("record", "close-spam", "--out", str(out), "--ids", "7,8", "--anonymize")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "ann@" not in text and "bob@" not in text and "@contoso.example" in text
    assert "Contoso Ltd" not in text
    doc = yaml.safe_load(text)
    spam = next(t for t in doc["tickets"] if t["id"] == 7)
    assert spam["summary"].startswith("Automatic reply: ")  # the playbook's words stay
    assert doc["expect"]["changes"] == {7: {"status": "Closed"}}
    assert "plan differently" not in result.output
    assert invoke("test", str(out)).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ids", "7,x"], "expected ticket ids"),
        (["--ids", "999999"], "no ticket 999999"),
    ],
)
def test_bad_ids_are_invalid_input(invoke: Any, tmp_path: Path, args: list[str],
                                   message: str) -> None:  # fmt: skip
    result = invoke("record", "close-spam", "--out", str(tmp_path / "x.test.yaml"), *args)
    assert result.exit_code == 2 and message in result.output


def test_an_existing_file_needs_force(invoke: Any, tmp_path: Path) -> None:
    out = tmp_path / "kept.test.yaml"
    out.write_text("mine\n", encoding="utf-8")
    result = invoke("record", "close-spam", "--out", str(out), "--ids", "7")
    assert result.exit_code == 2 and "--force" in result.output
    assert out.read_text(encoding="utf-8") == "mine\n"
    assert invoke("record", "close-spam", "--out", str(out), "--ids", "7", "--force").exit_code == 0
