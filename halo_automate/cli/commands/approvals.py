"""``halo-automate approvals``: the plans waiting for a person's approval (issue 16)."""

from __future__ import annotations

import click

from halo_automate.cli.approval_view import approvals_json, approvals_table, now, paused_lines
from halo_automate.cli.context import Context, with_context
from halo_automate.engine.approvals import waiting
from halo_automate.errors import ExitCode


@click.command("approvals")
@click.option("--json", "as_json", is_flag=True, help="Print the queue as JSON.")
@with_context
def approvals(ctx: Context, as_json: bool) -> ExitCode:
    """List the plans waiting for approval (every instance), oldest first."""
    items = waiting(ctx.journal, now())
    if as_json:
        click.echo(approvals_json(items))
        return ExitCode.OK
    if items:
        ctx.console.print(approvals_table(items))
    else:
        ctx.console.print("no plan is waiting for approval")
    for line in paused_lines(ctx.journal.paused_playbooks()):
        ctx.console.print(line, highlight=False, markup=False)
    return ExitCode.OK
