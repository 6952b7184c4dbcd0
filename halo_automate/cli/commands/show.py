"""``halo-automate show``: one journaled run and every change it made."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, with_context
from halo_automate.cli.report import run_json, show_run
from halo_automate.errors import ExitCode


@click.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its changes as JSON.")
@click.option("--all", "all_rows", is_flag=True, help="Every change, not only the first 20.")
@with_context
def show(ctx: Context, run_id: str, as_json: bool, all_rows: bool) -> ExitCode:
    """Show one run, summary first, and the changes it made (or, for a preview, would have
    made): the first 20 (--all for every one)."""
    run_row = ctx.journal.get_run(run_id)
    rows = ctx.journal.changes(run_id)
    plan_json = ctx.journal.plan_json(run_id)
    undone_by = ctx.journal.undone_by([run_id]).get(run_id, [])
    if as_json:
        click.echo(run_json(run_row, rows, plan_json, undone_by))
    else:
        show_run(ctx.console, run_row, rows, plan_json, undone_by, all_rows=all_rows)
    return ExitCode.OK
