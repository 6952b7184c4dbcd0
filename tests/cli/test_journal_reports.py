"""``history`` and ``show`` over a journal with odd rows: reported, never a traceback
(issue 13.11)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.store.journal import Journal, NewChange, RunStart


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "halo: {base_url: 'http://127.0.0.1:9', client_id: x, client_secret: y}\n"
        f"journal: {tmp_path / 'journal.db'}\n",
        encoding="utf-8",
    )
    return path


def _invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def test_a_malformed_date_row_is_shown_raw_not_a_crash(tmp_path: Path) -> None:
    """``started_at = 'garbage'`` (and other unreadable dates, written with sqlite3
    directly) are shown as their raw text, or null, in history, history --json and show."""
    config = _config(tmp_path)
    with Journal.open(tmp_path / "journal.db") as journal:
        journal.start_run(RunStart("bad", "pb", "h", "apply", "cli"))
        journal.add_changes("bad", [NewChange(ticket_id=7, field="status_id", before=1, after=9)])
        journal.finish_run("bad", "succeeded")
        journal.start_run(RunStart("good", "pb", "h", "apply", "cli"))
    with closing(sqlite3.connect(tmp_path / "journal.db")) as raw, raw:
        raw.execute(
            "UPDATE runs SET started_at = 'garbage', finished_at = '2026-13-45' "
            "WHERE run_id = 'bad'"
        )
        raw.execute("UPDATE changes SET updated_at = 'not a date' WHERE run_id = 'bad'")

    table = _invoke(config, "history")
    assert table.exit_code == 0, table.output
    assert "garbage" in table.output and "good" in table.output

    listed = _invoke(config, "history", "--json")
    assert listed.exit_code == 0, listed.output
    runs = {r["run_id"]: r for r in json.loads(listed.output)["runs"]}
    assert runs["bad"]["started_at"] == "garbage"
    assert runs["bad"]["finished_at"] == "2026-13-45"
    assert runs["good"]["finished_at"] is None

    shown = _invoke(config, "show", "bad")
    assert shown.exit_code == 0, shown.output
    assert "started garbage" in shown.output and "status_id" in shown.output

    as_json = _invoke(config, "show", "bad", "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["run"]["started_at"] == "garbage"
    assert data["changes"][0]["updated_at"] == "not a date"


def test_an_unknown_run_id_is_invalid_input_pointing_to_history(tmp_path: Path) -> None:
    """``undo bogus`` / ``show bogus``: exit 2 (invalid input), not 3 (unreachable), and the
    message says where the run ids are listed (issue 19.4)."""
    config = _config(tmp_path)
    with Journal.open(tmp_path / "journal.db") as journal:
        journal.start_run(RunStart("real", "pb", "h", "apply", "cli"))
    for args in (("undo", "bogus", "--dry-run"), ("show", "bogus")):
        result = _invoke(config, *args)
        assert result.exit_code == 2, result.output
        assert "no run 'bogus'" in result.output and "halo-automate history" in result.output
