"""``halo-automate recover``: reconcile runs interrupted mid-apply by reading tickets back."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.exits import finish_all
from halo_automate.errors import ExitCode


@click.command("recover")
@click.option("--playbook", default=None, help="Only runs of this playbook.")
@instance_option
@with_context
def recover(ctx: Context, playbook: str | None) -> ExitCode:
    """Reconcile runs interrupted mid-apply by reading the tickets back."""
    outcomes = ctx.runner(progress=False).recover(playbook)
    if not outcomes:
        ctx.console.print("nothing to recover")
    return finish_all(ctx.console, outcomes)
