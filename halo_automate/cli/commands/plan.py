"""``halo-automate plan``: what a playbook would change, shown or saved; writes nothing."""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.files import check_write_target, write_file_atomically
from halo_automate.core.plan import plan_to_json
from halo_automate.errors import PLAN_HAS_CHANGES, ExitCode


@click.command("plan")
@click.argument("playbook")
@click.option("--json", "as_json", is_flag=True, help="Print the plan document as JSON.")
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan for `apply`.")
@click.option(
    "--exit-code",
    "exit_code",
    is_flag=True,
    help="Exit 1 when the plan has changes, 0 when it is empty (as `git diff --exit-code`).",
)
@instance_option
@with_context
def plan(
    ctx: Context, playbook: str, as_json: bool, out: str | None, exit_code: bool = False
) -> ExitCode:
    """Fetch, match and show what PLAYBOOK would change. Writes nothing.

    With --exit-code: exit 1 when there are changes, 0 when none (for cron and CI);
    every other exit code is unchanged."""
    pb = ctx.allowed_playbook(playbook)
    if out:
        check_write_target(out)  # a link or a device fails now, not after the scan
    runner = ctx.runner(progress=False)
    the_plan = ctx.warned(runner.plan(pb))
    text = plan_to_json(the_plan)
    if out:
        write_file_atomically(out, text + "\n")
    if as_json:
        click.echo(text)
    else:
        ctx.render(the_plan, runner.lookups_for(pb))
        if out:
            ctx.console.print(f"plan saved to {out}; apply it with: halo-automate apply {out}")
    if exit_code and the_plan.changes:
        return PLAN_HAS_CHANGES
    return ExitCode.OK
