"""``halo-automate prune``: delete old runs' change rows and plans, keep the audit trail.

What may go and what stays is :mod:`halo_automate.store.prune`'s: never a run with pending
writes, a running one, or one whose undo is newer than the cutoff; every run row stays (who,
when, status, counts). This command previews the count and size first, asks (refused
without a terminal unless ``--yes``), prunes, then VACUUMs so the file shrinks.
"""

from __future__ import annotations

from datetime import timedelta

import click

from halo_automate.cli.console import ask
from halo_automate.cli.context import Context, with_context
from halo_automate.core.schedule import parse_duration
from halo_automate.errors import ExitCode, RefusedError


def _age(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.command("prune")
@click.option("--older-than", "older_than", required=True, callback=_age,
              help="Prune runs that ended before this long ago, e.g. 90d.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Prune without asking.")
@click.option("--dry-run", is_flag=True, help="Only show what would be pruned.")
@with_context
def prune(ctx: Context, older_than: timedelta, yes: bool, dry_run: bool) -> ExitCode:
    """Delete the change rows and plans of old runs; keep each run's row (audit trail)."""
    journal = ctx.journal
    plan = journal.prune_preview(older_than)
    if not plan.run_ids:
        ctx.console.print(f"nothing to prune: no run older than {plan.cutoff:%Y-%m-%d %H:%M} "
                          "can be pruned", highlight=False, markup=False)  # fmt: skip
        return ExitCode.OK
    ctx.console.print(
        f"{len(plan.run_ids)} run(s) ended before {plan.cutoff:%Y-%m-%d %H:%M} UTC: "
        f"{plan.changes} change row(s) and {plan.plans} plan(s), about "
        f"{plan.bytes / 1e6:.1f} MB; their run rows stay (who, when, status, counts), "
        "but they can no longer be shown in detail or undone",
        highlight=False,
        markup=False,
    )
    if dry_run:
        return ExitCode.OK
    if not ask(f"Prune {len(plan.run_ids)} run(s)?", yes=yes):
        raise RefusedError("nothing pruned")
    size = journal.path.stat().st_size
    done = journal.prune(plan)
    journal.vacuum()
    ctx.console.print(
        f"pruned {done.runs} run(s): {done.changes} change row(s), {done.plans} plan(s); "
        f"journal {size / 1e6:.1f} MB -> {journal.path.stat().st_size / 1e6:.1f} MB",
        highlight=False,
        markup=False,
    )
    return ExitCode.OK
