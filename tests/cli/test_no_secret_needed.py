"""Commands that need no Halo (``validate`` without ``--online``, ``history``, ``show``,
``test``) work without the Halo secret in the environment; commands that talk to Halo still
refuse with the same one-line error (exit 2) that names the key and the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from halo_automate.cli import main
from halo_automate.config import settings_from_mapping
from halo_automate.errors import ConfigError
from halo_automate.halo.client import HaloClient
from halo_automate.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, base_url: str, client_id: str) -> Path:
    """A config as deployed: the secret comes from ${HALO_CLIENT_SECRET}."""
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    for name in ("close-spam.yaml", "category-cleanup.yaml"):
        (tmp_path / "playbooks" / name).write_text(
            (ROOT / "playbooks" / name).read_text("utf-8"), "utf-8"
        )
    path = tmp_path / "config.yaml"
    path.write_text(
        f"halo:\n  base_url: {base_url}\n  client_id: {client_id}\n"
        "  client_secret: ${HALO_CLIENT_SECRET}\n"
        "playbooks_dir: playbooks\njournal: journal.db\n",
        encoding="utf-8",
    )
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess whose environment has no HALO_CLIENT_SECRET."""
    env = {k: v for k, v in os.environ.items() if k != "HALO_CLIENT_SECRET"}
    env.pop("HALO_AUTOMATE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "halo_automate", *args, "--config", str(config)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
        cwd=config.parent,
    )  # fmt: skip


@pytest.fixture
def journaled(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """A config without the secret in the environment, and the id of one journaled run
    (made in-process with the secret set, as the scheduled service would have)."""
    config = write_config(tmp_path, sandbox.base_url, sandbox.client_id)
    monkeypatch.setenv("HALO_CLIENT_SECRET", sandbox.client_secret)
    result = CliRunner().invoke(main, ["run", "close-spam", "--yes", "--config", str(config)])
    assert result.exit_code == 0, result.output
    history = CliRunner().invoke(main, ["history", "--json", "--config", str(config)])
    run_id = json.loads(history.output)["runs"][0]["run_id"]
    monkeypatch.delenv("HALO_CLIENT_SECRET")
    return config, run_id


def test_validate_without_secret(journaled: tuple[Path, str]) -> None:
    config, _ = journaled
    proc = cli(config, "validate")
    assert proc.returncode == 0, proc.stderr
    assert "2 valid" in proc.stdout + proc.stderr


def test_history_without_secret(journaled: tuple[Path, str]) -> None:
    config, _ = journaled
    proc = cli(config, "history")
    assert proc.returncode == 0, proc.stderr
    assert "close-spam" in proc.stdout


def test_show_without_secret(journaled: tuple[Path, str]) -> None:
    config, run_id = journaled
    proc = cli(config, "show", run_id)
    assert proc.returncode == 0, proc.stderr
    assert run_id in proc.stdout


def test_test_command_without_secret(journaled: tuple[Path, str]) -> None:
    """`test` with the deployed config (its playbooks_dir) and no secret in the environment."""
    config, _ = journaled
    fixtures = config.parent / "playbooks" / "tests"
    fixtures.mkdir()
    shipped = ROOT / "playbooks" / "tests" / "close-spam.test.yaml"
    (fixtures / shipped.name).write_text(shipped.read_text("utf-8"), "utf-8")
    proc = cli(config, "test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [("plan", "close-spam"), ("validate", "--online"), ("doctor",), ("daemon", "--once")],
)
def test_halo_commands_still_refuse_without_secret(
    journaled: tuple[Path, str], args: tuple[str, ...]
) -> None:
    """Not weakened: a command that talks to Halo fails as before, naming key and variable."""
    config, _ = journaled
    proc = cli(config, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "halo.client_secret: environment variable HALO_CLIENT_SECRET is not set" in (
        proc.stdout + proc.stderr
    )


def test_only_the_secret_is_lazy() -> None:
    """Any other unset variable still fails at load; the unset secret loads, never shows a
    value, and reading it raises the error that names the key and the variable."""
    halo = {"base_url": "https://a.example", "client_id": "x", "client_secret": "${NOPE_S}"}
    with pytest.raises(ConfigError, match=r"halo\.client_id: environment variable NOPE_I"):
        settings_from_mapping({"halo": {**halo, "client_id": "${NOPE_I}"}}, "cfg", env={})
    settings = settings_from_mapping({"halo": halo}, "cfg", env={})
    with pytest.raises(
        ConfigError, match=r"^cfg: halo\.client_secret: environment variable NOPE_S"
    ):
        settings.halo.client_secret.get_secret_value()
    with pytest.raises(ConfigError, match="NOPE_S is not set"):
        HaloClient(settings.halo)
    resolved = settings_from_mapping({"halo": halo}, "cfg", env={"NOPE_S": "s3"})
    assert resolved.halo.client_secret.get_secret_value() == "s3"
