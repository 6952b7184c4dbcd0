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
    """Reconcile the selected instance's runs interrupted mid-apply by reading the tickets
    back (another instance's runs are named: recover them with its --instance)."""
    from halo_automate.store.history import same_halo

    outcomes = ctx.runner(progress=False).recover(playbook)
    if not outcomes:
        ctx.console.print("nothing to recover")
    identity = ctx.settings.halo.identity
    for run in ctx.journal.interrupted_runs(playbook):
        if not same_halo(run, identity):  # another Halo's run: only its own client finishes it
            ctx.console.print(
                f"run {run.run_id} of instance {run.instance_name} is interrupted too: "
                f"recover it with --instance {run.instance_name}",
                highlight=False,
                markup=False,
            )
    return finish_all(ctx.console, outcomes)
