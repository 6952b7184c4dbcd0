"""How the CLI talks to a person: the rich console, the progress bar, the confirmation prompt.

The lowest module of the CLI: it imports rich and click only, never a command, so the demo
(which sits beside the CLI) can share the console without importing the command line.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable

import click
from rich.console import Console


def make_console() -> Console:
    """Rich output for people: the terminal's width on a terminal; off a terminal (a pipe, a
    file, CI) 160 columns, so tables stay readable instead of folding into 80."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def progress_bar(console: Console) -> Callable[[int, int], None] | None:
    """A progress bar on a terminal; None (structured log events) otherwise."""
    if not console.is_terminal:
        return None
    from rich.progress import Progress

    bar = Progress(console=console, transient=True)
    task = bar.add_task("applying", total=None)
    started = [False]

    def update(done: int, total: int) -> None:
        if not started[0]:
            bar.start()
            started[0] = True
        bar.update(task, completed=done, total=total)
        if done >= total:
            bar.stop()

    return update


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

    A transient status line; while another live display runs (the progress bar), one line
    when the wait starts instead."""
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
