"""The demo walkthrough (the README's first command) runs unattended and succeeds."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from halo_automate.cli import main


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    """demo validates, previews, applies, re-runs (no-op), shows history and undoes; then a
    bulk change above its approval threshold waits (console URL and approve command printed)
    and approving applies it; exit 0."""
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--tickets", "600", "--workdir", str(workdir)])
    assert result.exit_code == 0, result.output
    out = result.output
    for step in ("1. Validate", "2. Preview", "3. Apply", "4. Run it again", "5. The journal",
                 "6. Undo", "7. Category cleanup"):  # fmt: skip
        assert step in out
    assert "succeeded" in out and "matched 0, changed 0" in out
    assert (workdir / "config.yaml").is_file() and (workdir / "halo-automate.db").is_file()
    assert "8. A bulk change above its threshold waits" in out and "awaiting_approval" in out
    assert "http://127.0.0.1:8780/runs/" in out and "halo-automate approve " in out
    assert "approved by" in out and "applied as run" in out
    assert "10. Duplicate alerts" in out and "Group: keep #" in out
    assert "look-alikes grouped: 0; run again: 0 to change" in " ".join(out.split())
