"""``halo-automate apply``: execute a saved plan document exactly, nothing more."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.exits import finish
from halo_automate.cli.files import read_plan_file
from halo_automate.core.plan import plan_from_json
from halo_automate.errors import ExitCode


@click.command("apply")
@click.argument("planfile", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Apply without asking.")
@instance_option
@with_context
def apply(ctx: Context, planfile: str, yes: bool) -> ExitCode:
    """Execute a saved plan exactly, nothing more (a regular file of at most 32 MB)."""
    saved = plan_from_json(read_plan_file(planfile))
    outcome = ctx.runner().apply_saved(saved, confirm=ctx.confirmer(yes))
    return finish(ctx.console, outcome)
