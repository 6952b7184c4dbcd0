"""``plan --exit-code`` over a sandbox Halo: 1 with changes, 0 without, other codes unchanged
(as ``git diff --exit-code``), so cron and CI can tell "would change something" apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.sandbox.server import SandboxServer

MATCHES_NOTHING = """\
name: matches-nothing
select: {open_only: true}
where:
  summary: {contains: "zz-no-ticket-says-this-zz"}
actions:
  - close: {status: Closed}
"""


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    config = write_config(tmp_path, sandbox)
    (tmp_path / "playbooks" / "matches-nothing.yaml").write_text(MATCHES_NOTHING, "utf-8")
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    return run


def test_changes_exit_1_and_still_shows_the_plan(invoke: Invoke) -> None:
    result = invoke("plan", "close-spam", "--exit-code")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "close-spam" in result.output


def test_changes_exit_1_with_json(invoke: Invoke) -> None:
    result = invoke("plan", "close-spam", "--exit-code", "--json")
    assert result.exit_code == 1 and '"changes"' in result.output


def test_empty_plan_exits_0(invoke: Invoke) -> None:
    result = invoke("plan", "matches-nothing", "--exit-code")
    assert result.exit_code == 0, result.output


def test_without_the_flag_changes_exit_0(invoke: Invoke) -> None:
    assert invoke("plan", "close-spam").exit_code == 0


def test_other_exit_codes_unchanged(invoke: Invoke) -> None:
    assert invoke("plan", "no-such-playbook", "--exit-code").exit_code == 2


def test_unreachable_halo_still_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage is not mistaken for 'has changes' (nor for 'empty')."""
    monkeypatch.setenv("HALO_AUTOMATE_INSTANT_BACKOFF", "1")
    monkeypatch.setenv("SANDBOX_SECRET", "x")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "halo:\n  base_url: http://127.0.0.1:9\n  client_id: c\n"
        "  client_secret: ${SANDBOX_SECRET}\njournal: j.db\n",
        encoding="utf-8",
    )
    pb = tmp_path / "pb.yaml"
    pb.write_text(MATCHES_NOTHING, encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(pb), "--exit-code", "--config", str(cfg)])
    assert result.exit_code == 3, result.output
