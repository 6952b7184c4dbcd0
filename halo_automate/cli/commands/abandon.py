"""``halo-automate abandon``: give up a run that recovery cannot (or must not) finish.

A run whose recovery fails every time (a corrupt plan, a value Halo or the journal cannot take)
is reported by each recovery until someone decides. This command shows what is pending (the
writes whose outcome is unknown: read those tickets in Halo), asks, and journals the run
``failed`` with who gave it up and why; its pending rows become ``failed`` with the same
words. Nothing is sent to Halo. Refused for a run that is still going (its lock is live) or
that has nothing left to recover.
"""

from __future__ import annotations

import click

from halo_automate.cli.console import ask
from halo_automate.cli.context import Context, with_context
from halo_automate.cli.report import show_run
from halo_automate.errors import ExitCode, LockedError, PlanError, RefusedError
from halo_automate.store.journal import who


@click.command("abandon")
@click.argument("run_id")
@click.option("--reason", required=True, help="Why the run is given up (journaled).")
@click.option("--yes", is_flag=True, help="Abandon without asking.")
@with_context
def abandon(ctx: Context, run_id: str, reason: str, yes: bool) -> ExitCode:
    """Give up an interrupted run: show what is pending, ask, journal who and why."""
    journal = ctx.journal
    run = journal.get_run(run_id)
    pending = journal.pending(run_id)
    if run.status != "running" and not pending:
        raise PlanError(f"run {run_id} is {run.status} with nothing pending: nothing to abandon")
    if all(r.run_id != run_id for r in journal.interrupted_runs(run.playbook)):
        raise LockedError(f"run {run_id} is still going (its lock is live); stop it first")
    show_run(ctx.console, run, pending)  # not the plan: it may be corrupt
    ctx.console.print(
        f"{len(pending)} pending change(s) of unknown outcome: giving the run up sends nothing; "
        "those tickets stay as they are in Halo (check them there)",
        highlight=False,
        markup=False,
    )
    if not ask(f"Abandon run {run_id}?", yes=yes):
        raise RefusedError(f"run {run_id} not abandoned")
    count = journal.abandon_run(run_id, who(), reason)
    ctx.console.print(f"run {run_id} abandoned ({count} pending change(s) marked failed)")
    return ExitCode.OK
