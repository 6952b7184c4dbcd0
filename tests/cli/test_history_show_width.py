"""Issue 19.1: ``history`` fits its columns to the width (whole cells at 80 columns, no
wrapped start at 120, status coloured); ``show RUN`` gives the summary first, names beside
the ids its plan names, a close action as a readable line, and a page of the changes
(``--all`` for every one). Rendered on rich's recording console at 80 and 120 columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from apply_support import playbook, quiet_logs, rig
from cli_support import write_config
from click.testing import CliRunner
from conftest import SandboxFactory
from rich.console import Console

from halo_automate.cli import main
from halo_automate.cli.history_view import history_table
from halo_automate.cli.preview import render_plan
from halo_automate.cli.show_view import PAGE_ROWS, show_run
from halo_automate.store.journal import Counts, Journal, RunStart

STATUSES = ("succeeded", "refused", "partial", "failed", "previewed")


def _journal(path: Path) -> Journal:
    journal = Journal.open(path)
    for i, status in enumerate(STATUSES):
        run_id = f"20261201T2018{i:02d}-abc12{i}"
        mode = "preview" if status == "previewed" else "apply"
        journal.start_run(RunStart(run_id, "close-quarantined", "h", mode, "schedule"))
        journal.finish_run(run_id, status, counts=Counts(planned=269, done=269, requests=28))
    return journal


def _render(width: int, renderable: object) -> str:
    console = Console(record=True, width=width, force_terminal=True, color_system="standard")
    console.print(renderable)
    return console.export_text(styles=True)


@pytest.mark.parametrize("width", [80, 120])
def test_history_fits_the_width_and_keeps_the_key_cells_whole(tmp_path: Path, width: int) -> None:
    with _journal(tmp_path / "j.db") as journal:
        runs = journal.runs()
    console = Console(record=True, width=width)
    console.print(history_table(runs, {runs[0].run_id: ["20261202T000000-ffffff"]}, console))
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines)
    assert "…" not in text  # nothing cut to "pl…"
    header = next(line for line in lines if line.startswith("run "))
    for column in ("run", "playbook", "started", "status", "changed"):
        assert f" {column}" in f" {header}"
    body = [line for line in lines if line.startswith("2026")]
    assert len(body) == len(STATUSES)  # one line per run: nothing wraps
    for run in runs:
        assert any(line.startswith(run.run_id) and "close-quarantined" in line for line in body)
    if width == 120:
        assert "instance" in header and "mode" in header and "failed" in header
    assert all(re.search(r"  (\d{4}-)?\d\d-\d\d \d\d:\d\d(:\d\d)?  ", x) for x in body)


def test_history_status_is_coloured(tmp_path: Path) -> None:
    with _journal(tmp_path / "j.db") as journal:
        runs = journal.runs()
    rendered = _render(80, history_table(runs, {}, Console(width=80)))
    assert "\x1b[1;31mrefused" in rendered and "\x1b[1;31mfailed" in rendered
    assert "\x1b[1;33mpartial" in rendered and "\x1b[32msucceeded" in rendered


@pytest.mark.parametrize("width", [80, 120])
def test_show_summary_first_names_and_a_page_of_changes(
    sandbox_factory: SandboxFactory, tmp_path: Path, width: int
) -> None:
    quiet_logs()
    r = rig(sandbox_factory(), tmp_path / "j.db")
    outcome = r.runner.run(playbook("close-spam"), trigger="cli", confirm=None)
    assert outcome.status == "succeeded"
    run_id = outcome.run_id
    journal = r.runner.journal
    rows = journal.changes(run_id)
    tickets = {r.ticket_id for r in rows}
    assert len(tickets) > PAGE_ROWS
    console = Console(record=True, width=width)
    show_run(console, journal.get_run(run_id), rows, journal.plan_json(run_id))
    text = console.export_text()
    assert text.index("did: closed") < text.index("changes")
    assert text.index("per client: ") < text.index("changes")
    assert "9 (Closed)" in text  # the status id the playbook named, with its name
    assert '{"ticket_id"' not in text and "close (outcome " in text
    assert f"… {len(tickets) - PAGE_ROWS} more ticket(s), --all for everything" in text
    table_rows = [line for line in text.splitlines() if "status_id: " in line]
    assert 0 < len(table_rows) <= PAGE_ROWS
    everything = Console(record=True, width=width)
    show_run(everything, journal.get_run(run_id), rows, journal.plan_json(run_id), all_rows=True)
    assert "--all for everything" not in everything.export_text()
    [per_client] = [x for x in text.splitlines() if x.startswith("per client: ")]
    clients = per_client.removeprefix("per client: ").rstrip(",").split(", ")
    assert all(c.rsplit(" ", 1)[-1].isdigit() for c in clients)  # no name broken in two


def test_show_all_through_the_cli(
    tmp_path: Path, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = sandbox_factory()
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        return result.output

    invoke("run", "close-spam", "--yes")
    run_id = json.loads(invoke("history", "--json"))["runs"][0]["run_id"]
    paged, whole = invoke("show", run_id), invoke("show", run_id, "--all")
    assert "--all for everything" in paged and "--all for everything" not in whole
    assert whole.count("status_id") > paged.count("status_id")


@pytest.mark.parametrize("width", [80, 120])
def test_plan_preview_fits_the_width(
    sandbox_factory: SandboxFactory, tmp_path: Path, width: int
) -> None:
    """The plan preview at 80 columns puts client and summary in one column (five columns
    folded every cell to a few characters); at 120 they have their own."""
    quiet_logs()
    r = rig(sandbox_factory(), tmp_path / "j.db")
    pb = playbook("close-spam")
    console = Console(record=True, width=width)
    render_plan(r.runner.plan(pb), console, lookups=r.runner.lookups_for(pb), max_rows=3)
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines())
    assert ("Client / summary" in text) == (width == 80)
    assert "halo-automate plan close-spam --json" in " ".join(text.split())
