"""Issue 13 point 10: plan files are read with a size cap, a regular-file check and strict
parsing, and the files the CLI writes are written atomically without following links.

Every case goes through the CLI and must end in one ``error:`` line, exit 2, no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.cli.files import MAX_PLAN_BYTES, write_file_atomically
from halo_automate.errors import PlanError
from halo_automate.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
Invoke = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    (tmp_path / "playbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "category-cleanup.yaml", tmp_path / "playbooks")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"halo:\n  base_url: {sandbox.base_url}\n  client_id: {sandbox.client_id}\n"
        "  client_secret: ${SANDBOX_SECRET}\nplaybooks_dir: playbooks\njournal: journal.db\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)])

    return invoke


def one_error(result: Result, *needles: str) -> None:
    """Exit 2, exactly one ``error:`` line naming each needle, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def a_plan(cli: Invoke, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "good.json"
    assert cli("plan", "category-cleanup", "--out", str(out)).exit_code == 0
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return doc


def test_apply_dev_zero_is_refused(cli: Invoke) -> None:
    """/dev/zero ended in a MemoryError at 1.35 GB: now it is not a regular file."""
    one_error(cli("apply", "/dev/zero", "--yes"), "/dev/zero", "not a regular file")


def test_apply_fifo_does_not_hang(cli: Invoke, tmp_path: Path) -> None:
    """A FIFO with no writer hung apply forever; now it is refused at once."""
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    done: list[Result] = []
    worker = threading.Thread(target=lambda: done.append(cli("apply", str(fifo), "--yes")))
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # unblock the hung reader so the test run can end
        with open(fifo, "wb"):
            pass
        worker.join()
        pytest.fail("apply hung on a FIFO")
    one_error(done[0], "not a regular file")


def test_apply_oversized_plan_is_refused(cli: Invoke, tmp_path: Path) -> None:
    """A plan over the documented cap is refused before it is read (a sparse file: cheap)."""
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(MAX_PLAN_BYTES + 1)
    one_error(cli("apply", str(big), "--yes"), "larger than", "MB")


def test_apply_bad_utf8(cli: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"format": "halo-automate/plan", "x": "\xff\xfe"}')
    one_error(cli("apply", str(bad), "--yes"), "UTF-8")


def test_apply_deep_nesting(cli: Invoke, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    one_error(cli("apply", str(deep), "--yes"), "nested")


def test_apply_moderate_nesting_over_the_cap(cli: Invoke, tmp_path: Path, sandbox: Any) -> None:
    """Nesting Python parses but past the cap (in a field value) is refused too."""
    doc = a_plan(cli, tmp_path)
    value: Any = 1
    for _ in range(200):
        value = [value]
    doc["changes"][0]["fields"]["summary"] = {"before": value, "after": 1}
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    one_error(cli("apply", str(path), "--yes"), "nested")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_apply_nan_and_infinity(cli: Invoke, tmp_path: Path, constant: str) -> None:
    doc = a_plan(cli, tmp_path)
    text = json.dumps(doc).replace('"max_changes": ', f'"max_changes": {constant}, "x": ', 1)
    path = tmp_path / "nan.json"
    path.write_text(text, encoding="utf-8")
    one_error(cli("apply", str(path), "--yes"), constant)


def test_apply_huge_number_text(cli: Invoke, tmp_path: Path) -> None:
    """An integer of 100,000 digits (Python refuses to parse it) is a PlanError."""
    path = tmp_path / "digits.json"
    path.write_text('{"format": "halo-automate/plan", "version": ' + "9" * 100_000 + "}")
    one_error(cli("apply", str(path), "--yes"), "not a plan")


def test_plan_out_refuses_a_symlink(cli: Invoke, tmp_path: Path, sandbox: SandboxServer) -> None:
    """plan --out through a symlink overwrote config.yaml; now it is refused, nothing written."""
    config = tmp_path / "config.yaml"
    before = config.read_bytes()
    link = tmp_path / "plan.json"
    link.symlink_to(config)
    sandbox.reset_counters()
    one_error(cli("plan", "category-cleanup", "--out", str(link)), "symbolic link")
    assert config.read_bytes() == before and link.is_symlink()
    assert sandbox.counters["requests"] == 0  # refused before the scan


def test_plan_out_refuses_a_fifo_or_device(cli: Invoke, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    one_error(cli("plan", "category-cleanup", "--out", str(fifo)), "not a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_plan_out_replaces_atomically(cli: Invoke, tmp_path: Path) -> None:
    """--out over an existing plan replaces it whole (a new inode), leaves no temp file,
    and keeps the old file's permissions."""
    out = tmp_path / "plan.json"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o640)
    inode = out.stat().st_ino
    assert cli("plan", "category-cleanup", "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["format"] == "halo-automate/plan"
    assert out.stat().st_ino != inode and stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_write_failure_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails half-way (disk full) leaves the old file and no temp file."""
    out = tmp_path / "plan.json"
    out.write_text("old", encoding="utf-8")

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(PlanError, match="No space left"):
        write_file_atomically(out, "new")
    monkeypatch.undo()
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_demo_workdir_never_writes_through_a_link(tmp_path: Path) -> None:
    """demo --workdir writes its config and playbooks the same way: a config.yaml that is a
    link (to the user's real config) is refused, not overwritten."""
    from types import SimpleNamespace

    from halo_automate.demo import write_workdir
    from halo_automate.errors import ConfigError

    real = tmp_path / "real-config.yaml"
    real.write_text("mine\n", encoding="utf-8")
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "config.yaml").symlink_to(real)
    sandbox = SimpleNamespace(base_url="http://127.0.0.1:9", client_id="c", client_secret="s")
    with pytest.raises(ConfigError, match="symbolic link"):
        write_workdir(workdir, sandbox)  # type: ignore[arg-type]
    assert real.read_text(encoding="utf-8") == "mine\n"
