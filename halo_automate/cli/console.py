"""How the CLI talks to a person: the rich console, the progress bar, the confirmation prompt.

The lowest module of the CLI: it imports rich and click only, never a command, so the demo
(which sits beside the CLI) can share the console without importing the command line.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import TextIO, cast

import click
from rich.console import Console
from rich.text import Text


def make_console() -> Console:
    """Rich output for people: the terminal's width on a terminal; off a terminal (a pipe, a
    file, CI) $COLUMNS when set, else 160 columns, so tables stay readable instead of folding
    into 80."""
    console = Console()
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) >= 40 else 160)


class ConsoleLog(io.TextIOBase):
    """A text stream that writes each complete line through ``console`` (for structlog's
    console output on a terminal): a line printed while the progress bar or a countdown is
    live goes above it, instead of being glued onto the bar ("0:00:012026-12-01T20:18:36Z
    [warning ] rate_limited"). The line's own colours (ANSI) are kept."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._pending = ""
        self._lock = threading.Lock()

    def isatty(self) -> bool:
        return self.console.is_terminal

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.console.print(Text.from_ansi(line), soft_wrap=True, highlight=False)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._pending = self._pending, ""
        if line:
            self.console.print(Text.from_ansi(line), soft_wrap=True, highlight=False)


def log_stream(console: Console) -> TextIO | None:
    """Where the CLI's log lines go: through ``console`` when it and stderr are both the
    terminal (one screen, so the bar and the lines share it); else None (stderr, JSON off a
    terminal)."""
    if console.is_terminal and sys.stderr.isatty():
        return cast(TextIO, ConsoleLog(console))
    return None


def progress_bar(console: Console) -> Callable[[int, int], None] | None:
    """A progress bar on a terminal; None (structured log events) otherwise."""
    if not console.is_terminal:
        return None
    from rich.progress import Progress

    bar = Progress(console=console, transient=True)
    task = bar.add_task(_APPLYING, total=None)
    started = [False]

    def update(done: int, total: int) -> None:
        if not started[0]:
            bar.start()
            started[0] = True
            _BARS[console] = lambda words: bar.update(task, description=words, refresh=True)
        bar.update(task, completed=done, total=total)
        if done >= total:
            _BARS.pop(console, None)
            bar.stop()

    return update


_APPLYING = "applying"
_BARS: weakref.WeakKeyDictionary[Console, Callable[[str], None]] = weakref.WeakKeyDictionary()
"""The live progress bar of a console: how to set its description (the countdown's words)."""


def ask(question: str, *, yes: bool) -> bool:
    """Decide whether to write: ``--yes``, a terminal prompt, or refuse (no terminal)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        click.echo("refusing to write: no terminal to confirm on; pass --yes to apply", err=True)
        return False
    return click.confirm(question, default=False)


def wait_countdown(console: Console) -> Callable[[float], None] | None:
    """On a terminal, a countdown of a long wait for the request budget (told the seconds
    left about once a second, then 0); None off a terminal (quiet: the log says enough).

    A transient status line; while the progress bar runs, the countdown is the bar's own
    description ("applying · waiting 42 s for ..."), so a bar stuck at 87% says why; while
    another live display runs, one line when the wait starts."""
    if not console.is_terminal:
        return None
    from rich.errors import LiveError
    from rich.status import Status

    shown: list[Status | str | None] = [None]  # the status line, "printed", or None
    lock = threading.Lock()

    def text(left: float) -> str:
        return f"waiting {math.ceil(left)} s for the Halo request budget (shared by every process)"

    def on_wait(left: float) -> None:
        with lock:
            describe = _BARS.get(console)
            if describe is not None:
                describe(_APPLYING if left <= 0 else f"{_APPLYING} · {text(left)}")
                return
            status = shown[0]
            if left <= 0:
                if isinstance(status, Status):
                    status.stop()
                shown[0] = None
            elif isinstance(status, Status):
                status.update(text(left))
            elif status is None:
                line = Status(text(left), console=console)
                try:
                    line.start()
                    shown[0] = line
                except LiveError:
                    console.print(text(left))
                    shown[0] = "printed"

    return on_wait
