"""``halo-automate prune``: preview, confirmation, prune, VACUUM (issue 13.11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result
from clock import FakeClock

from halo_automate.cli import main
from halo_automate.errors import ExitCode
from halo_automate.store.journal import Journal, NewChange, RunStart

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
PLAN = json.dumps({"changes": [{"ticket_id": i, "summary": f"spam {i}" * 20} for i in range(2000)]})


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "journal.db"
    with Journal.open(path, clock=FakeClock(wall=LONG_AGO).now) as j:
        for run_id in ("a", "b"):
            j.start_run(RunStart(run_id, "pb", "h", "apply", "cli", plan_json=PLAN))
            rows = [NewChange(t, "status_id", 1, 9) for t in range(500)]
            j.mark(j.add_changes(run_id, rows), "done")
            j.finish_run(run_id, "succeeded")
    with Journal.open(path) as j:  # today: kept
        j.start_run(RunStart("today", "pb", "h", "apply", "cli", plan_json=PLAN))
        j.finish_run("today", "succeeded")
    config = tmp_path / "config.yaml"
    config.write_text(
        "halo: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        f"journal: {path}\n",
        encoding="utf-8",
    )
    return path, config


def _invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["prune", *args, "--config", str(config)])


def test_prune_previews_asks_prunes_and_vacuums(tmp_path: Path) -> None:
    path, config = _setup(tmp_path)
    dry = _invoke(config, "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert (
        "2 run(s) ended before" in dry.output and "1000 change row(s) and 2 plan(s)" in dry.output
    )
    refused = _invoke(config, "--older-than", "90d")  # no terminal, no --yes
    assert refused.exit_code == ExitCode.REFUSED, refused.output
    assert "pass --yes" in refused.output
    with Journal.open(path) as j:
        assert len(j.changes("a")) == 500  # nothing pruned by either
    size = path.stat().st_size
    done = _invoke(config, "--older-than", "90d", "--yes")
    assert done.exit_code == 0, done.output
    assert "pruned 2 run(s): 1000 change row(s), 2 plan(s)" in done.output
    assert path.stat().st_size < size
    with Journal.open(path) as j:
        assert [r.run_id for r in j.runs()] == ["today", "b", "a"]  # the audit trail stays
        assert j.changes("a") == [] and j.plan_json("a") is None
        assert j.plan_json("today") == PLAN
    again = _invoke(config, "--older-than", "90d", "--yes")
    assert again.exit_code == 0 and "nothing to prune" in again.output


def test_prune_refuses_a_bad_age(tmp_path: Path) -> None:
    _, config = _setup(tmp_path)
    result = _invoke(config, "--older-than", "ninety")
    assert result.exit_code == ExitCode.INVALID
    assert "bad duration 'ninety'" in result.output
