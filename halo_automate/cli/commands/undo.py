"""``halo-automate undo``: put back what a run changed, as a previewed, confirmed run.

The undo is checked against the journal (undone already, changed by a later run) and against
Halo (touched by someone else since) before the preview, and again right before it writes
(:mod:`halo_automate.engine.undo_history`). By default the run's private notes stay and one
private "Reverted by run ..." note per ticket is added in batches; ``--delete-notes`` deletes
the run's notes instead (one request each: the preview says how many and how long).
"""

from __future__ import annotations

import click

from halo_automate.cli.console import ask
from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.effect import effect_sentence
from halo_automate.cli.exits import finish
from halo_automate.cli.undo_view import Rate, render_undo, undo_json
from halo_automate.engine.undo import category_levels, prepare_undo, undo_warnings
from halo_automate.errors import ExitCode, InstanceMismatchError


@click.command("undo")
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Show what the undo would do and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print the undo preview as JSON and stop.")
@click.option(
    "--delete-notes",
    is_flag=True,
    help="Delete the run's notes (one request each) instead of keeping its private notes and "
    "adding one 'Reverted' note per ticket.",
)
@click.option(
    "--force",
    "force",
    multiple=True,
    type=int,
    metavar="TICKET_ID",
    help="Put this ticket back although Halo shows it changed since the run (repeatable).",
)
@click.option("--yes", is_flag=True, help="Undo without asking.")
@instance_option
@with_context
def undo(
    ctx: Context,
    run_id: str,
    dry_run: bool,
    as_json: bool,
    delete_notes: bool,
    force: tuple[int, ...],
    yes: bool,
) -> ExitCode:
    """Put back what run RUN_ID changed (previewed, confirmed and journaled like a run), on
    the Halo instance the run talked to (``--instance`` must name that one, if given)."""
    use_the_runs_instance(ctx, run_id)
    runner = ctx.runner()
    prepared = prepare_undo(
        ctx.client, ctx.journal, run_id, now=runner.now(), delete_notes=delete_notes, force=force
    )
    halo = ctx.settings.halo
    rate = Rate(halo.batch_size, halo.page_size, halo.rate_limit.requests,
                halo.rate_limit.per_seconds)  # fmt: skip
    if as_json:
        click.echo(undo_json(prepared, rate))
        return ExitCode.OK
    levels = category_levels(prepared.plan)
    if levels:
        lookups = ctx.client.lookups([f"category_{n}" for n in levels])
        for warning in undo_warnings(prepared.plan, lookups):
            click.echo(f"warning: {warning}", err=True)
    if dry_run:
        render_undo(prepared, ctx.console, rate)
        return ExitCode.OK
    if not prepared.plan.changes:  # every ticket left was skipped: nothing written, say so
        render_undo(prepared, ctx.console, rate)
        click.echo(f"nothing to put back: {len(prepared.skips)} ticket(s) skipped", err=True)
        return ExitCode.PARTIAL if prepared.skips else ExitCode.OK

    def confirm(_: object) -> bool:
        render_undo(prepared, ctx.console, rate)
        where = f"On {ctx.settings.instance_name} ({halo.host})"
        effect = effect_sentence(prepared.plan)
        return ask(f"{where}: undo run {run_id}: {effect}. Undo?", yes=yes)

    outcome = runner.apply_saved(prepared.plan, confirm=confirm, guard=prepared.guard())
    return finish(ctx.console, outcome)


def use_the_runs_instance(ctx: Context, run_id: str) -> None:
    """Select the instance run ``run_id`` talked to, before any request: without
    ``--instance``, that one (when the config still names it); with ``--instance`` naming
    another Halo, refuse naming both (exit 2)."""
    run = ctx.journal.get_run(run_id)
    known = ctx.settings.instances.get(run.instance_name)
    if ctx.instance is None and known is not None:
        ctx.settings = ctx.settings.select_instance(run.instance_name)
    here = ctx.settings.halo.identity
    if run.instance_identity is not None and run.instance_identity != here:
        raise InstanceMismatchError(
            f"run {run_id} talked to {run.instance_identity} (instance "
            f"'{run.instance_name}'), not to {here} (instance '{ctx.settings.instance_name}'); "
            f"undo it there: halo-automate undo {run_id} --instance {run.instance_name}"
        )
