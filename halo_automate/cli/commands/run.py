"""``halo-automate run``: plan a playbook, preview, ask, apply; journaled as one run."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.exits import finish
from halo_automate.errors import ExitCode


@click.command("run")
@click.argument("playbook")
@click.option("--dry-run", is_flag=True, help="Show the preview and stop.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@instance_option
@with_context
def run(ctx: Context, playbook: str, dry_run: bool, yes: bool) -> ExitCode:
    """Plan PLAYBOOK, show the preview, ask, and apply."""
    pb = ctx.allowed_playbook(playbook)
    runner = ctx.runner()
    lookups = runner.lookups_for(pb)
    if dry_run:
        ctx.render(ctx.warned(runner.plan(pb)), lookups)
        return ExitCode.OK
    outcome = runner.run(pb, trigger="cli", confirm=ctx.confirmer(yes, lookups))
    return finish(ctx.console, outcome)
