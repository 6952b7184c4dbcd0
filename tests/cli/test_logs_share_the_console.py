"""Issue 19.6: on a terminal, log lines go through the console the progress bar is drawn on,
so a line written while the bar is live starts a line of its own above the bar instead of
being glued onto it ("0:00:012026-12-01T20:18:36Z [warning ] rate_limited")."""

from __future__ import annotations

import io
import re

import pytest
import structlog
from rich.console import Console

from halo_automate import logs
from halo_automate.cli.console import ConsoleLog, log_stream, progress_bar, wait_countdown

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_a_log_line_during_the_bar_is_a_line_of_its_own() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, color_system="standard")
    logs.configure(stream=ConsoleLog(console))
    update = progress_bar(console)
    assert update is not None
    update(87, 100)
    structlog.get_logger("t").warning("rate_limited", pause_seconds=2.0)
    update(100, 100)
    screen = ANSI.sub("", out.getvalue().replace("\r", "\n"))
    [line] = [x for x in screen.splitlines() if "rate_limited" in x]
    assert re.match(r"^\d{4}-\d\d-\d\dT", line), line  # the timestamp starts the line
    assert "pause_seconds=2.0" in line
    assert not [x for x in screen.splitlines() if "%" in x and "rate_limited" in x]


def test_off_a_terminal_logs_stay_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    assert log_stream(Console(file=io.StringIO(), width=80)) is None
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert log_stream(Console(file=io.StringIO(), force_terminal=True, width=80)) is None


def test_a_wait_for_the_budget_shows_its_countdown_in_the_bar() -> None:
    """A rate-limit wait while the bar is live: the bar itself counts down (it sat at
    "87% 0:00:01" for minutes, saying nothing), and says "applying" again after."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    update = progress_bar(console)
    on_wait = wait_countdown(console)
    assert update is not None and on_wait is not None
    update(87, 100)
    on_wait(42.0)
    frames = ANSI.sub("", out.getvalue()).replace("\r", "\n").splitlines()
    [frame] = [x for x in frames if "waiting 42 s" in x][-1:]
    assert "applying · waiting 42 s for the Halo request budget" in frame and "87%" in frame
    on_wait(0.0)
    update(100, 100)
    assert "waiting 42 s" not in ANSI.sub("", out.getvalue()).splitlines()[-1]
