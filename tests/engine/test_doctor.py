"""``halo-automate doctor`` (issue 14, #9): a read-only first contact, green against the
default sandbox, naming exactly what a restricted one lacks, and writing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apply_support import PLAYBOOKS, settings_for
from cli_support import write_config
from click.testing import CliRunner
from conftest import SandboxFactory

from halo_automate.cli import main
from halo_automate.core.playbook import Playbook, load_playbook, load_playbook_text, load_playbooks
from halo_automate.engine.doctor import DoctorReport, diagnose, needed_endpoints
from halo_automate.sandbox import SandboxServer

WRITE_COUNTERS = ("writes_applied", "tickets_written", "actions_written")


def examples() -> list[Playbook]:
    valid, problems = load_playbooks(PLAYBOOKS)
    assert valid and not problems
    return valid


def run(sb: SandboxServer, **kw: object) -> DoctorReport:
    return diagnose(settings_for(sb), examples(), **kw)  # type: ignore[arg-type]


def assert_wrote_nothing(sb: SandboxServer) -> None:
    counters = sb.counters
    assert {k: counters[k] for k in WRITE_COUNTERS} == dict.fromkeys(WRITE_COUNTERS, 0)


def test_needed_endpoints() -> None:
    pb = load_playbook_text(
        "name: x\nselect: {open_only: true}\nactions:\n"
        "  - set: {priority: Low}\n  - note: {text: hi}\n"
    )
    assert needed_endpoints(pb) == {
        "GET /api/Tickets": "select",
        "GET /api/Priority": "lookup priorities",
        "GET /api/Status": "lookup statuses",
        "GET /api/Outcome": "lookup outcomes",
        "POST /api/Tickets": "set writes ticket fields",
        "POST /api/Actions": "note posts an action",
        "GET /api/Actions": "read back posted actions",
        "DELETE /api/Actions": "undo deletes note's action",
    }
    close = load_playbook(PLAYBOOKS / "close-spam.yaml")
    assert "DELETE /api/Actions" in needed_endpoints(close)


def test_default_sandbox_is_all_green_and_untouched(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory()
    report = run(sb)
    assert report.healthy
    assert [v.verdict for v in report.verdicts] == ["ready"] * len(report.verdicts)
    assert all(e.access == "allowed" for e in report.endpoints)
    facts = {c.name: c for c in report.checks}
    assert facts["token"].status == "ok" and "client secret" in facts["token"].detail
    assert facts["page cap"].detail.startswith("100 rows per page")
    assert facts["unknown filter"].detail.startswith("ignored")
    assert facts["last-update filter"].detail == (
        "honoured: datesearch=last_update "
        "(HTTP 400: lastupdatefromdate; ignored: datesearch=lastupdate)"
    )
    assert facts["priority rows"].status == "ok"
    assert "none sent" in facts["rate-limit headers"].detail
    assert not any(c.status == "fail" for c in report.checks)
    assert report.requests <= 30
    assert report.requests == sb.counters["requests"]
    assert_wrote_nothing(sb)


def test_restricted_sandbox_names_exactly_what_is_missing(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(deny=("POST /api/Actions", "DELETE /api/Actions", "Client"))
    report = run(sb)
    assert not report.healthy
    denied = {e.endpoint for e in report.endpoints if e.access == "denied"}
    assert denied == {"POST /api/Actions", "DELETE /api/Actions", "GET /api/Client"}
    verdicts = {v.playbook: v for v in report.verdicts}
    assert verdicts["category-cleanup"].verdict == "ready"
    assert verdicts["close-spam"].missing == (
        "edit:tickets (POST /api/Actions, DELETE /api/Actions)",
    )
    assert verdicts["bulk-edit-woodgrove"].missing == ("read:customers (GET /api/Client)",)
    assert verdicts["close-spam"].text().startswith("needs permission edit:tickets")
    assert_wrote_nothing(sb)


def test_without_write_probes_writes_are_unverified(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory()
    report = run(sb, write_probes=False)
    unverified = {e.endpoint for e in report.endpoints if e.access == "unverified"}
    assert unverified == {"POST /api/Tickets", "POST /api/Actions", "DELETE /api/Actions"}
    assert {v.verdict for v in report.verdicts} == {"unverified"}  # every example writes
    sent = sb.counters["requests_by_endpoint"]
    assert not any(k.startswith(("POST /api", "DELETE")) for k in sent)


def test_refused_token_fails_and_verifies_nothing(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory()
    settings = settings_for(sb).model_copy(update={"client_id": "someone-else"})
    report = diagnose(settings, examples())
    assert [c.name for c in report.checks] == ["token"]
    assert report.checks[0].status == "fail" and "invalid_client" in report.checks[0].detail
    assert not report.healthy
    assert {v.verdict for v in report.verdicts} == {"unverified"}


@pytest.mark.parametrize("deny", [(), ("GET /api/Status",)])
def test_doctor_command(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    deny: tuple[str, ...],
) -> None:
    sb = sandbox_factory(deny=deny)
    monkeypatch.setenv("SANDBOX_SECRET", sb.client_secret)
    config = write_config(tmp_path, sb)
    as_json = CliRunner().invoke(main, ["doctor", "--json", "--config", str(config)])
    report = json.loads(as_json.output)
    table = CliRunner().invoke(main, ["doctor", "--config", str(config)])
    if deny:
        assert as_json.exit_code == table.exit_code == 3
        assert report["healthy"] is False
        texts = {v["playbook"]: v["text"] for v in report["verdicts"]}
        assert texts["close-spam"] == "needs permission read:tickets (GET /api/Status)"
        assert "needs permission" in table.output
    else:
        assert as_json.exit_code == table.exit_code == 0, table.output
        assert report["healthy"] is True
        assert "ready" in table.output and "nothing written" in table.output
    assert_wrote_nothing(sb)


def test_validate_online_flags_what_the_application_lacks(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``validate --online`` names each playbook that needs a permission the application
    lacks (exit 3), passes a permitted set (exit 0), and writes nothing."""
    restricted = sandbox_factory(deny=("POST /api/Actions",))
    monkeypatch.setenv("SANDBOX_SECRET", restricted.client_secret)
    config = write_config(tmp_path, restricted)
    result = CliRunner().invoke(main, ["validate", "--online", "--config", str(config)])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.output.splitlines() if "needs permission" in line]
    assert lines == [
        f"{tmp_path / 'playbooks' / 'close-spam.yaml'}: close-spam: needs permission "
        "edit:tickets (POST /api/Actions)"
    ]
    assert "online: 1 permitted, 1 lacking a permission" in result.output
    assert_wrote_nothing(restricted)
    open_sb = sandbox_factory()
    other = tmp_path / "open"
    other.mkdir()
    config = write_config(other, open_sb)
    ok = CliRunner().invoke(main, ["validate", "--online", "--config", str(config)])
    assert ok.exit_code == 0, ok.output
    offline = CliRunner().invoke(main, ["validate", "--config", str(config)])
    assert offline.exit_code == 0 and open_sb.counters["tokens_issued"] == 1
