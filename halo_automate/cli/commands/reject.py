"""``halo-automate reject RUN_ID --reason TEXT``: reject a held plan; it is never applied."""

from __future__ import annotations

import click

from halo_automate.cli.announce import announce_decision
from halo_automate.cli.approval_view import now, os_user
from halo_automate.cli.context import Context, with_context
from halo_automate.engine.approvals import reject as reject_plan
from halo_automate.errors import ExitCode


@click.command("reject")
@click.argument("run_id")
@click.option("--reason", required=True, help="Why (journaled, and sent with the notification).")
@with_context
def reject(ctx: Context, run_id: str, reason: str) -> ExitCode:
    """Reject the plan held as RUN_ID (as the OS user): it is never applied."""
    row = reject_plan(ctx.journal, run_id, os_user(), reason, now())
    ctx.console.print(f"run {run_id} rejected by {row.decided_by}: {row.reason}", markup=False)
    announce_decision(ctx, row, "rejected")
    return ExitCode.OK
