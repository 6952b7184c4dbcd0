"""``halo-automate approve RUN_ID [--apply] [--yes]``: approve a held plan (issue 16).

The approver is the OS user. Without ``--apply`` the plan is approved and the daemon applies
it at its next check (every few seconds); with ``--apply`` this command shows the plan, asks
(``--yes`` without a terminal, as ``apply``), approves it and applies it now, exactly, through
the saved-plan path (limits, stale check, integrity checks), on the instance the plan was
held on (``--instance`` another is refused). A declined prompt approves nothing. ``--apply``
on a plan already approved (by anyone) applies it.
"""

from __future__ import annotations

import click

from halo_automate.cli.announce import announce_decision, announce_outcome
from halo_automate.cli.approval_view import now, os_user
from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.exits import finish
from halo_automate.core.plan import plan_from_json
from halo_automate.engine.approvals import approve as approve_plan
from halo_automate.engine.approvals import check_instance
from halo_automate.errors import ExitCode, RefusedError


@click.command("approve")
@click.argument("run_id")
@click.option("--apply", "apply_now", is_flag=True, help="Apply it now (else the daemon does).")
@click.option("--yes", is_flag=True, help="With --apply: apply without asking.")
@instance_option(help_text="With --apply: the instance to apply on (default: the plan's).")
@with_context
def approve(ctx: Context, run_id: str, apply_now: bool, yes: bool) -> ExitCode:
    """Approve the plan held as RUN_ID (as the OS user); --apply also applies it now."""
    row = ctx.journal.approval(run_id)
    if row is not None and apply_now and ctx.instance is not None:
        check_instance(row, ctx.settings.instance_name)  # before asking or approving
    elif row is not None and row.instance_name in ctx.settings.instances:
        ctx.settings = ctx.settings.select_instance(row.instance_name)  # the plan's Halo
    confirm = ctx.confirmer(yes) if apply_now else None
    if row is None or row.state != "approved" or row.applied_run_id is not None:
        text = ctx.journal.plan_json(run_id) if row is not None and row.state == "waiting" else None
        if confirm is not None and text is not None:
            if not confirm(plan_from_json(text)):
                raise RefusedError(f"run {run_id}: not confirmed; nothing approved or written")
            confirm = None  # asked once, before approving
        row = approve_plan(ctx.journal, run_id, os_user(), now())  # refuses every other state
        ctx.console.print(f"run {run_id} approved by {row.decided_by}", highlight=False)
        announce_decision(ctx, row, "approved")
    elif not apply_now:
        ctx.console.print(f"run {run_id} is already approved by {row.decided_by}", highlight=False)
    if not apply_now:
        ctx.console.print(
            f"the daemon applies it at its next check; or now: halo-automate approve {run_id} "
            "--apply",
            highlight=False,
        )
        return ExitCode.OK
    outcome = ctx.runner().apply_approved(run_id, confirm=confirm)
    announce_outcome(ctx, outcome)
    return finish(ctx.console, outcome)
