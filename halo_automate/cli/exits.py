"""How a command ends: the one place the base error is caught, and a run's outcome printed.

Every exit code is a member of :class:`halo_automate.errors.ExitCode`. A command ends in one
of two ways: an error raised on purpose (:class:`HaloAutomateError`) is caught by
:func:`handle_errors` alone and becomes one ``error: <message>`` line on stderr and the error's
own exit code; a run the runner finished, however it ended, is a
:class:`~halo_automate.core.outcome.RunOutcome` that :func:`finish` prints the same way (its
error line, or its summary) and turns into ``outcome.exit_code``. Any other exception is a bug
and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click
from rich.console import Console

from halo_automate.core.outcome import RunOutcome, worst_exit_code
from halo_automate.errors import ExitCode, HaloAutomateError
from halo_automate.sanitize import clean_text

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Catch the project's base error once: one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HaloAutomateError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper  # type: ignore[return-value]


def finish(console: Console, outcome: RunOutcome) -> ExitCode:
    """Print how a run ended and return its exit code: ``error: <message>`` on stderr for a
    run an error ended (as :func:`handle_errors` prints a raised one), else its summary."""
    if outcome.error is not None:
        click.echo(clean_text(f"error: {outcome.message or outcome.error}"), err=True)
    else:
        print_summary(console, outcome)
    return outcome.exit_code


def finish_all(console: Console, outcomes: Iterable[RunOutcome]) -> ExitCode:
    """:func:`finish` each run; the highest exit code of them (0 when there are none)."""
    ended = list(outcomes)
    for outcome in ended:
        finish(console, outcome)
    return worst_exit_code(ended)


def print_summary(console: Console, outcome: RunOutcome) -> None:
    """A run's counts on one line, then one line per skipped or failed ticket."""
    console.print(
        f"run {outcome.run_id} [{outcome.status}]: scanned {outcome.scanned}, matched "
        f"{outcome.matched}, changed {outcome.changed}, skipped {outcome.skipped}, failed "
        f"{outcome.failed}; {outcome.requests} requests in {outcome.seconds:.1f}s",
        highlight=False,
        markup=False,
    )
    for ticket_id, reason in outcome.skips:
        line = clean_text(f"  skipped ticket {ticket_id}: {reason}")
        console.print(line, highlight=False, markup=False)
    for ticket_id, message in outcome.failures:
        line = clean_text(f"  failed ticket {ticket_id}: {message}")
        console.print(line, highlight=False, markup=False)
