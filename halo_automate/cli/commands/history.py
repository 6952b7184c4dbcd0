"""``halo-automate history``: the journal's recent runs, as a table or JSON."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.report import history_json, history_table
from halo_automate.errors import ExitCode


@click.command("history")
@click.option("--json", "as_json", is_flag=True, help="Print runs as JSON.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--playbook", default=None, help="Only runs of this playbook.")
@instance_option(help_text="Only runs on this instance of the config.")
@with_context
def history(ctx: Context, as_json: bool, limit: int, playbook: str | None) -> ExitCode:
    """List recent runs, newest first, with the instance each talked to."""
    from halo_automate.store.history import recent_runs

    runs = recent_runs(ctx.journal, limit=limit, playbook=playbook, instance=ctx.instance)
    undone = ctx.journal.undone_by([r.run_id for r in runs])
    if as_json:
        click.echo(history_json(runs, undone))
    else:
        ctx.console.print(history_table(runs, undone, ctx.console))
    return ExitCode.OK
