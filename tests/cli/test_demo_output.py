"""Issue 19.9: what the demo prints holds together at 80 columns: the preview's "Apply needs
N request(s)" is what the apply then sends, the plan counts field updates (not "(0
action(s))"), a playbook without where: says so once (not "no conditions" on every row), a
cut table says how to see all of it, and the per-client line breaks only between clients."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from halo_automate.cli import main


def test_demo_output_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(main, ["demo", "--tickets", "600", "--workdir",
                                       str(tmp_path / "demo")])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    flat = " ".join(out.split())  # lines wrapped at 80 columns, joined
    estimates = [int(n) for n in re.findall(r"Apply needs (\d+) request", flat)]
    [applied] = [int(n) for n in re.findall(r", (\d+) to apply", flat)]
    assert estimates[0] == applied
    assert "(0 action(s))" not in flat and "field update(s), no actions" in flat
    assert "no conditions" not in flat and "the playbook has no where:" in flat
    assert "see the JSON plan" not in flat
    assert "halo-automate plan category-cleanup --json" in flat
    lines = out.splitlines()
    for start, line in enumerate(lines):
        if line.startswith("Per client: "):
            block = [line.removeprefix("Per client: ")]
            for more in lines[start + 1 :]:
                if not more.startswith("  "):
                    break
                block.append(more.strip())
            text = " ".join(block)
            for entry in text.rstrip(",").split(", "):
                assert re.fullmatch(r".+ \d+", entry), entry  # name and count together
            assert all(len(x) <= 80 for x in [line, *lines[start + 1 : start + len(block)]])
