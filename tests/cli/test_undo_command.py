"""``undo`` end to end through the CLI over a sandbox Halo (issue 12): refused when done
already (exit 2, nothing written), a preview titled as an undo that agrees with ``undo
--json`` on tickets, skips, notes and cost, ``--force`` for a ticket changed in Halo since, and
``history``/``show`` saying which run undid a run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apply_support import NOTE_AND_CLOSE
from cli_support import write_config
from click.testing import CliRunner, Result

from halo_automate.cli import main
from halo_automate.core.dates import format_halo_date, parse_halo_date
from halo_automate.sandbox.server import SandboxServer

Invoke = Callable[..., Result]


@pytest.fixture
def cli(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Invoke, SandboxServer]:
    config = write_config(tmp_path, sandbox)
    (tmp_path / "playbooks" / "note-and-close.yaml").write_text(NOTE_AND_CLOSE, encoding="utf-8")
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, **kwargs: Any) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(config)], **kwargs)

    return invoke, sandbox


def applied(invoke: Invoke, playbook: str) -> str:
    """Run ``playbook`` with --yes; its run id."""
    result = invoke("run", playbook, "--yes")
    assert result.exit_code == 0, result.output
    return str(json.loads(invoke("history", "--json").output)["runs"][0]["run_id"])


def undo_of(invoke: Invoke, run_id: str) -> list[str]:
    runs = json.loads(invoke("history", "--json").output)["runs"]
    return [r["run_id"] for r in runs if r["undo_of"] == run_id]


def test_second_undo_is_refused_naming_the_first_and_writes_nothing(
    cli: tuple[Invoke, SandboxServer],
) -> None:
    """Case 3 through the CLI: close-spam, its undo, then note-and-close closes some of the
    same tickets again; `undo` of close-spam once more exits 2 naming the first undo, and the
    sandbox receives no write (before: exit 0/5 and the later closes reopened)."""
    invoke, sandbox = cli
    run_id = applied(invoke, "close-spam")
    first = invoke("undo", run_id, "--yes")
    assert first.exit_code == 0, first.output
    [undo_id] = undo_of(invoke, run_id)
    applied(invoke, "note-and-close")
    state = {t: dict(v) for t, v in sandbox.state.tickets.items()}
    writes = sandbox.counters["writes_applied"]
    again = invoke("undo", run_id, "--yes")
    assert again.exit_code == 2, again.output
    assert f"already undone by run {undo_id}" in again.output
    assert sandbox.counters["writes_applied"] == writes
    assert sandbox.state.tickets == state


def test_preview_is_titled_as_an_undo_and_agrees_with_json(
    cli: tuple[Invoke, SandboxServer],
) -> None:
    """The undo preview says "undo of run", the notes it keeps and adds (or deletes) and its
    cost in requests and time; `undo --json` gives the same figures; neither writes."""
    invoke, sandbox = cli
    run_id = applied(invoke, "close-spam")
    writes = sandbox.counters["writes_applied"]
    for extra in ((), ("--delete-notes",)):
        text = invoke("undo", run_id, "--dry-run", *extra)
        assert text.exit_code == 0, text.output
        data = json.loads(invoke("undo", run_id, "--json", *extra).output)
        assert data["format"] == "halo-automate/undo" and data["undo_of"] == run_id
        assert f"close-spam: undo of run {run_id}" in text.output
        assert ": plan " not in text.output
        assert f"Undo of run {run_id}: {data['tickets']} ticket(s) to put back" in text.output
        found = re.search(r"Undo needs (\d+) request\(s\)", text.output)
        assert found is not None and int(found.group(1)) == data["requests"]
        notes = data["notes"]
        if extra:
            assert (notes["added"], notes["kept"]) == (0, 0)
            assert notes["deleted"] == data["tickets"]
            assert f"deletes the run's {notes['deleted']} note(s), one DELETE request each" in (
                text.output
            )
            assert data["requests"] > data["tickets"]
        else:
            assert notes["added"] == notes["kept"] == data["tickets"] and notes["deleted"] == 0
            assert f"keeps the run's {notes['kept']} private note(s)" in text.output
            assert f"adds {notes['added']} private 'Reverted by run" in text.output
            assert data["requests"] < data["tickets"]
        assert data["plan"]["mode"] == "undo" and len(data["plan"]["changes"]) == data["tickets"]
    assert sandbox.counters["writes_applied"] == writes


def test_force_puts_back_a_ticket_changed_in_halo_since(
    cli: tuple[Invoke, SandboxServer],
) -> None:
    """Case 9 through the CLI: a ticket Halo shows updated after the run (an agent reopened and
    closed it) is skipped, named in the output (exit 5); `--force ID` puts it back; history and
    show then say which runs undid the run."""
    invoke, sandbox = cli
    run_id = applied(invoke, "close-spam")
    victim = min(t for t, a in sandbox.state.actions.items()
                 if any(run_id in str(x["note"]) for x in a))  # fmt: skip
    stamp = parse_halo_date(sandbox.state.tickets[victim]["last_update"])
    assert stamp is not None
    later = format_halo_date(stamp.replace(year=stamp.year + 1))
    sandbox.edit_ticket(victim, status_id=9, last_update=later)  # Halo's date moved on
    partial = invoke("undo", run_id, "--yes")
    assert partial.exit_code == 5, partial.output
    assert f"#{victim}: changed since by someone else" in partial.output
    assert sandbox.state.tickets[victim]["status_id"] == 9
    writes = sandbox.counters["writes_applied"]
    unforced = invoke("undo", run_id, "--yes")  # only the victim is left: skipped again
    assert unforced.exit_code == 5 and "nothing to put back: 1 ticket(s) skipped" in (
        unforced.output
    )
    assert sandbox.counters["writes_applied"] == writes
    forced = invoke("undo", run_id, "--force", str(victim), "--yes")
    assert forced.exit_code == 0, forced.output
    assert sandbox.state.tickets[victim]["status_id"] != 9
    undos = undo_of(invoke, run_id)
    assert len(undos) == 2
    listed = json.loads(invoke("history", "--json").output)["runs"]
    undone_by = next(r for r in listed if r["run_id"] == run_id)["undone_by"]
    assert set(undone_by) == set(undos)
    assert "undone by" in invoke("history").output
    assert f"undone by run {', '.join(undone_by)}" in invoke("show", run_id).output
