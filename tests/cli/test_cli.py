"""The CLI end to end over a sandbox Halo: commands, output, exit codes."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import write_config
from click.testing import CliRunner, Result
from rich.console import Console

from halo_automate.cli import main
from halo_automate.cli.exits import finish, finish_all
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.errors import ExitCode, HaloUnavailableError, LockedError, RefusedError
from halo_automate.halo.retry import instant_backoff
from halo_automate.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


Invoke = Callable[..., Result]


@pytest.fixture
def cli(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Invoke, Path, SandboxServer]:
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, **kwargs: Any) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)], **kwargs)

    return invoke, config, sandbox


def test_validate_examples_ok() -> None:
    """validate exits 0 for the shipped examples."""
    result = CliRunner().invoke(main, ["validate", str(ROOT / "playbooks")])
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.output


def test_validate_broken_exits_2(tmp_path: Path) -> None:
    """validate prints file:line:column problems and exits 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nactions:\n  - close: {stauts: Closed}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.output and "did you mean 'status'" in result.output


def test_validate_defaults_to_config_playbooks(cli: tuple[Invoke, Path, SandboxServer]) -> None:
    """Without arguments, validate checks the config's playbooks_dir."""
    invoke, _, _ = cli
    result = invoke("validate")
    assert result.exit_code == 0 and "2 valid" in result.output


def test_plan_json_and_writes_nothing(cli: tuple[Invoke, Path, SandboxServer]) -> None:
    """plan --json prints the versioned document; the sandbox sees no write."""
    invoke, _, sandbox = cli
    result = invoke("plan", "close-spam", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["format"] == "halo-automate/plan" and doc["version"] == 2
    assert doc["changes"] and {"ticket_id", "fields", "actions"} <= set(doc["changes"][0])
    assert sandbox.counters["writes_applied"] == 0


def test_plan_human_output(cli: tuple[Invoke, Path, SandboxServer]) -> None:
    """plan prints the table and the totals, including the requests the apply needs."""
    invoke, _, _ = cli
    result = invoke("plan", "category-cleanup")
    assert result.exit_code == 0, result.output
    assert "→" in result.output and "Apply needs" in result.output


def test_run_without_terminal_refuses(cli: tuple[Invoke, Path, SandboxServer]) -> None:
    """Without a terminal and without --yes, run refuses (exit 4) and writes nothing."""
    invoke, _, sandbox = cli
    result = invoke("run", "close-spam")
    assert result.exit_code == 4
    assert "refusing to write" in result.output
    assert sandbox.counters["writes_applied"] == 0
    [run] = json.loads(invoke("history", "--json").output)["runs"]
    assert run["status"] == "refused"
    shown = invoke("show", run["run_id"]).output
    assert "not confirmed" in shown and "in the plan (nothing written)" in shown


def test_dry_run_writes_nothing(cli: tuple[Invoke, Path, SandboxServer]) -> None:
    """run --dry-run shows the preview and stops."""
    invoke, _, sandbox = cli
    result = invoke("run", "close-spam", "--dry-run")
    assert result.exit_code == 0 and "→" in result.output
    assert sandbox.counters["writes_applied"] == 0


def test_run_history_show_undo(cli: tuple[Invoke, Path, SandboxServer]) -> None:
    """run --yes applies, history/show report it, undo puts the tickets back."""
    invoke, _, sandbox = cli
    before = {i: dict(t) for i, t in sandbox.state.tickets.items()}
    result = invoke("run", "close-spam", "--yes")
    assert result.exit_code == 0, result.output
    assert "[succeeded]" in result.output
    history = json.loads(invoke("history", "--json").output)
    run = history["runs"][0]
    assert run["status"] == "succeeded" and run["counts"]["done"] > 0
    run_id = run["run_id"]
    shown = json.loads(invoke("show", run_id, "--json").output)
    assert shown["run"]["run_id"] == run_id and shown["changes"]
    assert "status_id" in invoke("show", run_id).output
    assert run_id in invoke("history").output
    assert invoke("undo", run_id, "--dry-run").exit_code == 0
    undo = invoke("undo", run_id, "--yes")
    assert undo.exit_code == 0, undo.output
    for tid, ticket in before.items():
        now = sandbox.state.tickets[tid]
        assert now["status_id"] == ticket["status_id"], tid
    assert invoke("recover").output.strip() == "nothing to recover"


def test_plan_out_then_apply(cli: tuple[Invoke, Path, SandboxServer], tmp_path: Path) -> None:
    """A saved plan applies exactly; applying it twice is refused."""
    invoke, _, sandbox = cli
    out = tmp_path / "plan.json"
    assert invoke("plan", "category-cleanup", "--out", str(out)).exit_code == 0
    planned = json.loads(out.read_text())
    result = invoke("apply", str(out), "--yes")
    assert result.exit_code == 0, result.output
    for change in planned["changes"]:
        ticket = sandbox.state.tickets[change["ticket_id"]]
        for field, values in change["fields"].items():
            assert ticket[field] == values["after"]
    again = invoke("apply", str(out), "--yes")
    assert again.exit_code == 2 and "already applied" in again.output
    run_id = planned["run_id"]
    undo = invoke("undo", run_id, "--dry-run")
    assert undo.exit_code == 0 and "which Halo no longer lists" in undo.output


def test_unknown_playbook_and_bad_plan(
    cli: tuple[Invoke, Path, SandboxServer], tmp_path: Path
) -> None:
    """A missing playbook or a broken plan file is a one-line error with exit 2."""
    invoke, _, _ = cli
    missing = invoke("plan", "nope")
    assert missing.exit_code == 2 and "no playbook 'nope'" in missing.output
    typo = invoke("plan", "close-sapm")  # issue 19.4: a misspelt name gets a suggestion
    assert typo.exit_code == 2 and "(did you mean 'close-spam'?)" in typo.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    result = invoke("apply", str(bad), "--yes")
    assert result.exit_code == 2


def test_bad_config_exit_2(tmp_path: Path) -> None:
    """A bad config is one line naming the key, exit 2."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("halo: {base_url: http://example.com, client_id: x, client_secret: y}\n")
    result = CliRunner().invoke(main, ["history", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "halo.base_url" in result.output and "Traceback" not in result.output


def test_unreachable_halo_exit_3(tmp_path: Path) -> None:
    """An unreachable Halo is exit 3 with the endpoint in the message."""
    (tmp_path / "playbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "close-spam.yaml", tmp_path / "playbooks")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "halo: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y,"
        " timeout_seconds: 1}\n"
    )
    with instant_backoff():  # every retry still happens, without seconds of back-off
        result = CliRunner().invoke(main, ["plan", "close-spam", "--config", str(cfg)])
    assert result.exit_code == 3
    assert "POST /auth/token" in result.output and "cannot connect" in result.output


def test_wrong_secret_exit_3(
    cli: tuple[Invoke, Path, SandboxServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad credentials are an auth error naming the likely causes, never the secret."""
    invoke, _, _ = cli
    monkeypatch.setenv("SANDBOX_SECRET", "wrong-secret-123")
    result = invoke("plan", "close-spam")
    assert result.exit_code == 3
    assert "invalid_client" in result.output and "wrong-secret-123" not in result.output


def test_subprocess_no_stdin_refuses(tmp_path: Path, sandbox: SandboxServer) -> None:
    """As CI runs it (no stdin, CI=true), run neither prompts nor hangs: exit 4."""
    config = write_config(tmp_path, sandbox)
    env = {**os.environ, "SANDBOX_SECRET": sandbox.client_secret, "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "halo_automate", "run", "close-spam", "--config", str(config)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert "refusing to write" in proc.stderr


def ended(status: RunStatus, **fields: Any) -> RunOutcome:
    return RunOutcome("r1", "close-spam", "apply", status, scanned=9, matched=3, **fields)


def test_finish_prints_the_error_that_ended_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    """A run an error ended: `error: <message>` on stderr (as a raised error prints), its
    error's exit code, and no summary."""
    out = io.StringIO()
    refused = RefusedError("close-spam: not confirmed; nothing was written")
    outcome = ended(RunStatus.REFUSED, error=refused, message=str(refused))
    assert finish(Console(file=out), outcome) == ExitCode.REFUSED
    assert capsys.readouterr().err == f"error: {refused}\n"
    assert out.getvalue() == ""
    locked = LockedError("close-spam is locked by run r0")
    outcome = ended(RunStatus.REFUSED, error=locked, message=str(locked), locked=True)
    assert finish(Console(file=out), outcome) == ExitCode.REFUSED
    halo = HaloUnavailableError("cannot connect", endpoint="GET /api/Tickets")
    outcome = ended(RunStatus.FAILED, error=halo, message=str(halo))
    assert finish(Console(file=out), outcome) == ExitCode.UNREACHABLE
    assert capsys.readouterr().err.splitlines() == [f"error: {locked}", f"error: {halo}"]


def test_finish_prints_the_summary_of_a_run_that_wrote() -> None:
    """A run that wrote: its counts and one line per skipped or failed ticket; exit 0 when
    it succeeded, 5 when partial or interrupted, 3 when Halo stopped it (a recovery ends so,
    without an error); several runs exit with the worst."""
    out = io.StringIO()
    console = Console(file=out, width=160)
    partial = ended(
        RunStatus.PARTIAL, changed=1, skipped=1, failed=1, skips=((7, "changed since the plan"),),
        failures=((8, "HTTP 400: bad status"),),
    )  # fmt: skip
    assert finish(console, partial) == ExitCode.PARTIAL
    assert out.getvalue().splitlines() == [
        "run r1 [partial]: scanned 9, matched 3, changed 1, skipped 1, failed 1; 0 requests "
        "in 0.0s",
        "  skipped ticket 7: changed since the plan",
        "  failed ticket 8: HTTP 400: bad status",
    ]
    succeeded = ended(RunStatus.SUCCEEDED, changed=3)
    assert finish(console, succeeded) == ExitCode.OK
    assert finish(console, ended(RunStatus.INTERRUPTED)) == ExitCode.PARTIAL
    stopped = ended(RunStatus.FAILED, message="recovery stopped: GET /api/Tickets: timed out")
    assert finish(console, stopped) == ExitCode.UNREACHABLE
    assert "run r1 [failed]: scanned 9" in out.getvalue().splitlines()[-1]
    assert finish_all(console, [succeeded, partial]) == ExitCode.PARTIAL
    assert finish_all(console, []) == ExitCode.OK
