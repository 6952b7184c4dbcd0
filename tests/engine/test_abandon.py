"""``halo-automate abandon RUN_ID``: give up a run recovery cannot finish (issue 13, point 6).

It previews what is pending, asks (``--yes`` without a terminal, refusing otherwise), sends
nothing to Halo, and journals the run failed with who gave it up and why.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.sandbox import SandboxServer
from halo_automate.store.journal import Journal, NewChange, RunStart


@pytest.fixture
def setup(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Journal]:
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    config = write_config(tmp_path, sandbox)
    journal = Journal.open(tmp_path / "journal.db")
    journal.start_run(RunStart("poison", "close-spam", "h", "apply", "cli", plan_json="{oops"))
    journal.add_changes(
        "poison", [NewChange(7, "status_id", 1, 9), NewChange(8, "status_id", 1, 9)]
    )
    return config, journal


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def test_abandon_previews_asks_and_journals_who_and_why(
    setup: tuple[Path, Journal], sandbox: SandboxServer
) -> None:
    config, journal = setup
    sandbox.reset_counters()
    result = invoke(config, "abandon", "poison", "--reason", "corrupt plan", "--yes")
    assert result.exit_code == 0, result.output
    assert "2 pending change(s)" in result.output and "status_id" in result.output
    run = journal.get_run("poison")
    assert run.status == "failed"
    assert run.message is not None and run.message.startswith(f"abandoned by {getpass.getuser()}@")
    assert run.message.endswith(": corrupt plan")
    assert {(c.state, c.message is not None and "corrupt plan" in c.message)
            for c in journal.changes("poison")} == {("failed", True)}  # fmt: skip
    assert sandbox.counters["requests"] == 0  # nothing sent to Halo
    recovered = invoke(config, "recover")
    assert recovered.exit_code == 0 and "nothing to recover" in recovered.output


def test_abandon_without_a_terminal_refuses_without_yes(setup: tuple[Path, Journal]) -> None:
    config, journal = setup
    result = invoke(config, "abandon", "poison", "--reason", "corrupt plan")
    assert result.exit_code == 4, result.output
    assert "pass --yes" in result.output
    assert journal.get_run("poison").status == "running"
    assert len(journal.pending("poison")) == 2


def test_abandon_needs_a_reason(setup: tuple[Path, Journal]) -> None:
    config, journal = setup
    result = invoke(config, "abandon", "poison", "--yes")
    assert result.exit_code == 2 and "--reason" in result.output
    assert journal.get_run("poison").status == "running"


def test_abandon_refuses_a_finished_run_and_a_live_one(setup: tuple[Path, Journal]) -> None:
    config, journal = setup
    journal.start_run(RunStart("done", "close-spam", "h", "apply", "cli"))
    journal.finish_run("done", "succeeded")
    result = invoke(config, "abandon", "done", "--reason", "x", "--yes")
    assert result.exit_code == 2 and "nothing to abandon" in result.output
    journal.start_run(RunStart("live", "category-cleanup", "h", "apply", "cli"))
    with journal.acquire_lock("category-cleanup", "live"):
        result = invoke(config, "abandon", "live", "--reason", "x", "--yes")
    assert result.exit_code == 4 and "still going" in result.output
    assert journal.get_run("live").status == "running"


def test_abandon_a_running_run_whose_plan_is_corrupt_and_nothing_pending(
    setup: tuple[Path, Journal],
) -> None:
    """The preview does not read the (corrupt) plan: the run is given up all the same."""
    config, journal = setup
    journal.start_run(RunStart("stuck", "close-spam", "h", "apply", "cli", plan_json="{oops"))
    result = invoke(config, "abandon", "stuck", "--reason", "plan file was truncated", "--yes")
    assert result.exit_code == 0, result.output
    assert journal.get_run("stuck").status == "failed"
