"""``halo-automate daemon``: run the scheduled playbooks as a service until stopped."""

from __future__ import annotations

import os
import sys

import click

from halo_automate.cli.context import Context, config_option
from halo_automate.cli.exits import handle_errors
from halo_automate.service.daemon import Daemon
from halo_automate.service.instances import Served


@click.command("daemon")
@click.option("--once", is_flag=True, help="Run every scheduled playbook once now and exit.")
@click.option(
    "--instance",
    "instances",
    multiple=True,
    metavar="NAME",
    help="Serve only this instance of the config (repeatable; default: every instance).",
)
@config_option
@handle_errors
def daemon(once: bool, config_path: str | None, instances: tuple[str, ...] = ()) -> None:
    """Run scheduled playbooks until SIGTERM/SIGINT (SIGHUP reloads playbooks), on every
    instance of the config (or each --instance), each playbook on the instances its
    instances: allows, each instance with its own client (token, request budget).

    Exits 0 after a clean stop, 5 when a run was still in flight at the stop timeout (its
    pending journal rows are reconciled on the next start or by `recover`). With --once: the
    highest exit code of the runs, and at least 2 if a playbook file is invalid.
    """
    ctx = Context(config_path)
    served: Served | None = None
    ctx.countdown = False  # a service logs its waits; no status line among its log lines
    service: Daemon | None = None
    try:
        served = Served.open(ctx.settings, instances, ctx.journal)
        service = Daemon(ctx.settings, served)
        code = service.run_once() if once else service.serve()
    finally:
        if service is None or not service.abandoned:
            if served is not None:
                served.close()
            ctx.close()
    if service.abandoned:
        # A run is still in flight: do not wait for it (nor close what it uses); everything it
        # wrote is journaled, and what it was sending is pending for recovery.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
