"""Global options before or after the subcommand, as in git or kubectl (issue 19.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from halo_automate.cli import main
from halo_automate.cli.app import hoist_global_options


def _config(tmp_path: Path) -> Path:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "p.yaml").write_text("name: p\nactions: [{close: {}}]\n", "utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(
        "instances:\n"
        "  prod: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        "  uat: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        "default_instance: prod\n"
        f"playbooks_dir: {tmp_path / 'playbooks'}\njournal: {tmp_path / 'j.db'}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "{c}", "validate"],
        ["--config={c}", "validate"],
        ["validate", "--config", "{c}"],
        ["--config", "{c}", "--instance", "uat", "history"],
        ["--instance=uat", "history", "--config", "{c}"],
    ],
)
def test_global_options_go_before_or_after(tmp_path: Path, args: list[str]) -> None:
    config = _config(tmp_path)
    result = CliRunner().invoke(main, [a.replace("{c}", str(config)) for a in args])
    assert result.exit_code == 0, result.output


def test_a_command_without_the_option_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(_config(tmp_path)), "sandbox"])
    assert result.exit_code == 2
    assert "'sandbox' takes no --config" in result.output


def test_hoisting_leaves_everything_else_alone() -> None:
    assert hoist_global_options(["--version"]) == ["--version"]
    assert hoist_global_options(["--config", "c", "plan", "p"]) == ["plan", "--config", "c", "p"]
    assert hoist_global_options(["plan", "--config", "c"]) == ["plan", "--config", "c"]
    assert hoist_global_options(["--config"]) == ["--config"]  # click reports the missing value
