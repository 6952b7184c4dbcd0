"""What the command line imports: nothing of the sandbox or the demo unless their command runs,
no command from the demo's side, and every registered command found by its dotted path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from halo_automate.cli import main
from halo_automate.cli.app import COMMANDS, load_command
from halo_automate.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI in a fresh interpreter, then prints its exit code and the modules it loaded.
RUN_AND_LIST_MODULES = """
import json, sys
from halo_automate.cli import main
try:
    main(sys.argv[1:], prog_name="halo-automate")
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def python(code: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, cwd=cwd, timeout=60, check=True,
    )  # fmt: skip


def beside_the_runtime(modules: list[str]) -> list[str]:
    return [m for m in modules if "sandbox" in m or m.endswith("demo")]


def test_importing_the_cli_loads_no_sandbox_nor_demo() -> None:
    """`import halo_automate.cli` loads no sandbox module and not the demo."""
    proc = python(
        "import halo_automate.cli, sys; "
        "print([m for m in sys.modules if 'sandbox' in m or m.endswith('demo')])"
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def test_importing_the_cli_loads_no_command() -> None:
    """The group names its commands; none is imported until it runs."""
    proc = python("import halo_automate.cli, sys, json; print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(proc.stdout)
    assert "halo_automate.cli.app" in loaded
    assert not [m for m in loaded if m.startswith("halo_automate.cli.commands.")]
    assert "halo_automate.engine.runner" not in loaded


def test_validate_loads_no_sandbox_module() -> None:
    """Running `validate` imports its own command and no sandbox or demo module."""
    proc = python(RUN_AND_LIST_MODULES, "validate", str(ROOT / "playbooks"))
    ran = json.loads(proc.stdout.splitlines()[-1])
    assert ran["code"] == ExitCode.OK, proc.stderr
    assert "halo_automate.cli.commands.validate" in ran["modules"]
    assert beside_the_runtime(ran["modules"]) == []


def test_history_loads_no_sandbox_module(tmp_path: Path) -> None:
    """Running `history` on a config (an empty journal) imports no sandbox or demo module."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo: {base_url: 'https://acme.example', client_id: cid, client_secret: s}\n"
        "journal: journal.db\n",
        encoding="utf-8",
    )
    proc = python(RUN_AND_LIST_MODULES, "history", "--json", "--config", str(config), cwd=tmp_path)
    ran = json.loads(proc.stdout.splitlines()[-1])
    assert ran["code"] == ExitCode.OK, proc.stderr
    assert "halo_automate.cli.commands.history" in ran["modules"]
    assert beside_the_runtime(ran["modules"]) == []


def test_demo_imports_no_command() -> None:
    """The demo, imported first, takes from the CLI only its drawing and file-writing modules:
    no command, no context, so the CLI and the demo never import each other."""
    proc = python("import halo_automate.demo, sys, json; print(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(proc.stdout)
    assert "halo_automate.demo" in loaded
    cli = [m for m in loaded if m.startswith("halo_automate.cli.")]
    assert set(cli) <= {
        "halo_automate.cli.app",
        "halo_automate.cli.console",
        "halo_automate.cli.files",
        "halo_automate.cli.history_view",  # drawing modules split from report (issue 19.1)
        "halo_automate.cli.preview",
        "halo_automate.cli.report",
        "halo_automate.cli.show_view",
    }, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registered_command_loads_under_its_name(name: str) -> None:
    """Each dotted path in the registry is a click command of the registered name."""
    assert load_command(COMMANDS[name]).name == name


def test_a_path_that_is_not_a_command_is_refused() -> None:
    with pytest.raises(TypeError, match="is not a click command"):
        load_command("halo_automate.errors:ExitCode")


def test_help_lists_every_command_and_every_exit_code() -> None:
    """--help lists each command (sandbox and demo with their one-line help) and, from
    ExitCode, every exit code with its meaning."""
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    commands = result.output.split("Commands:")[1].split("Exit codes:")[0]
    assert [line.split()[0] for line in commands.strip().splitlines()] == sorted(COMMANDS)
    assert "sandbox   Serve a local sandbox Halo" in commands
    assert "demo      Walk through halo-automate on an embedded sandbox Halo" in commands
    # issue 19.10: whole summaries, never cut to "SIGHUP reloads..."
    assert "..." not in commands and "(SIGHUP reloads them)" in commands
    for code in ExitCode:
        assert f"  {code.value}  {code.meaning}\n" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code == ExitCode.INVALID
    assert "No such command 'nope'" in result.output
