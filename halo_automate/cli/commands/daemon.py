"""``halo-automate daemon``: run the scheduled playbooks as a service until stopped."""

from __future__ import annotations

import os
import sys

import click

from halo_automate.cli.context import Context, config_option
from halo_automate.cli.exits import handle_errors
from halo_automate.service.daemon import Daemon


@click.command("daemon")
@click.option("--once", is_flag=True, help="Run every scheduled playbook once now and exit.")
@config_option
@handle_errors
def daemon(once: bool, config_path: str | None) -> None:
    """Run scheduled playbooks until SIGTERM/SIGINT (SIGHUP reloads playbooks).

    Exits 0 after a clean stop, 5 when a run was still in flight at the stop timeout (its
    pending journal rows are reconciled on the next start or by `recover`). With --once: the
    highest exit code of the runs, and at least 2 if a playbook file is invalid.
    """
    ctx = Context(config_path)
    ctx.countdown = False  # a service logs its waits; no status line among its log lines
    service: Daemon | None = None
    try:
        service = Daemon(ctx.settings, ctx.runner(progress=False))
        code = service.run_once() if once else service.serve()
    finally:
        if service is None or not service.abandoned:
            ctx.close()
    if service.abandoned:
        # A run is still in flight: do not wait for it (nor close what it uses); everything it
        # wrote is journaled, and what it was sending is pending for recovery.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
