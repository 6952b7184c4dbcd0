"""``halo-automate undo``: put back what a run changed, as a previewed, confirmed run."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.exits import finish
from halo_automate.engine.undo import build_undo_plan, category_levels, undo_warnings
from halo_automate.errors import ExitCode


@click.command("undo")
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Show what the undo would do and stop.")
@click.option("--yes", is_flag=True, help="Undo without asking.")
@instance_option
@with_context
def undo(ctx: Context, run_id: str, dry_run: bool, yes: bool) -> ExitCode:
    """Put back what run RUN_ID changed (previewed, confirmed and journaled like a run)."""
    runner = ctx.runner()
    undo_plan = build_undo_plan(ctx.journal, run_id, now=runner.now())
    levels = category_levels(undo_plan)
    if levels:
        lookups = ctx.client.lookups([f"category_{n}" for n in levels])
        for warning in undo_warnings(undo_plan, lookups):
            click.echo(f"warning: {warning}", err=True)
    if dry_run:
        ctx.render(undo_plan)
        return ExitCode.OK
    outcome = runner.apply_saved(undo_plan, confirm=ctx.confirmer(yes))
    return finish(ctx.console, outcome)
