"""Command line: parse arguments, print, map errors to exit codes. No business logic here.

Exit codes: 0 success; 2 invalid input (config, playbook, plan file); 3 Halo, auth or the
journal unreachable; 4 refused by a limit, a lock or the user (nothing written); 5 applied with
some tickets failed or skipped.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from halo_automate import __version__
from halo_automate.errors import HaloAutomateError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_PARTIAL = 5


def config_option(func: F) -> F:
    """``--config PATH`` on every command (else $HALO_AUTOMATE_CONFIG, else ./config.yaml)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Config file (default: $HALO_AUTOMATE_CONFIG, else ./config.yaml).",
    )(func)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="halo-automate")
def main() -> None:
    """halo-automate: reviewed, scheduled, reversible YAML playbooks for HaloPSA."""


def _register() -> None:
    from halo_automate.sandbox.command import sandbox_command

    main.add_command(sandbox_command)


_register()
