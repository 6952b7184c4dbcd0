"""A plan's preview estimates its apply's time at the request budget as it is now: the slots
other processes hold in the shared window are counted, and the share of Halo's limit applies.
Long waits for the budget count down on a terminal."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from cli_support import write_config
from click.testing import CliRunner
from rich.console import Console

from halo_automate.cli import main
from halo_automate.cli.console import wait_countdown
from halo_automate.cli.preview import totals_lines
from halo_automate.core.changes import ActionSpec, Plan, TicketChange
from halo_automate.halo.ratelimit import WindowState
from halo_automate.sandbox.server import SandboxServer
from halo_automate.store.budget import JournalWindow
from halo_automate.store.journal import Journal


def test_estimate_line_counts_slots_in_use() -> None:
    """6 requests (a stale-check page, two note batches, their two duplicate checks, the
    instance facts; issue 19.9: was 3, what the apply then did not match) at 2 per 60 s with
    1 slot in use."""
    plan = _plan(100)
    busy = totals_lines(plan, rate_requests=2, rate_seconds=60, budget_now=WindowState(1, 0.0))
    assert busy[-1] == (
        "Apply needs 6 request(s): about 2m 30s at the current budget (2 per 60s for every "
        "process, 1 in use now)"
    )
    idle = totals_lines(plan, rate_requests=240, rate_seconds=300, budget_now=WindowState(0, 0))
    assert "about 0s at the current budget (240 per 300s for every process)" in idle[-1]
    paused = totals_lines(plan, rate_requests=240, rate_seconds=300, budget_now=WindowState(0, 30))
    assert "about 30s" in paused[-1] and "paused 30s after a 429" in paused[-1]


def test_plan_preview_counts_another_process(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan` shows the estimate at the budget as it is now: the 200 slots another process
    took this window are in use, and the default share gives 240 of Halo's 300."""
    config = write_config(tmp_path, sandbox)
    monkeypatch.setenv("SANDBOX_SECRET", sandbox.client_secret)
    monkeypatch.chdir(tmp_path)
    Journal.open(tmp_path / "journal.db").close()
    key = sandbox.base_url
    with JournalWindow.open(tmp_path / "journal.db") as other:
        for _ in range(200):
            assert other.take(key, time.time(), 300, 0.0, 300) == 0
    result = CliRunner().invoke(main, ["plan", "close-spam", "--config", str(config)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("Apply needs"))
    assert "at the current budget (240 per 300s for every process" in line
    used = int(line.split(", ")[-1].split(" in use")[0])
    assert used > 200  # the other process's 200 and this plan's own reads


def _plan(tickets: int) -> Plan:
    note = ActionSpec("note", {"note": "x", "outcome_id": 1})
    changes = tuple(
        TicketChange(i, "c", "s", "r", fields={}, ticket_update={}, actions=(note,))
        for i in range(1, tickets + 1)
    )
    return Plan(
        version=1, run_id="r", playbook="p", playbook_hash="h", created_at="t", mode="apply",
        halo_rules=False, max_changes=1000, expect_min=None, expect_max=None, query={},
        scanned=tickets, matched=tickets, changes=changes,
    )  # fmt: skip


def test_long_waits_count_down_on_a_terminal_only() -> None:
    """On a terminal a long wait is a countdown line; off a terminal nothing is shown."""
    assert wait_countdown(Console(file=io.StringIO(), force_terminal=False)) is None
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=120)
    on_wait = wait_countdown(terminal)
    assert on_wait is not None
    for left in (4.2, 3.2, 2.2, 1.2, 0.2, 0):
        on_wait(left)
    assert re.search(r"waiting [1-5] s for the Halo request budget", out.getvalue())
