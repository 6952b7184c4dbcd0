"""``halo-automate resume PLAYBOOK``: resume a playbook the runaway guard paused (issue 16).

A scheduled playbook its limits refused ``limits.pause_after_refusals`` times in a row is
paused on its instance; only this command resumes it (the daemon reads the journal before
each run: no reload needed). The count starts again.
"""

from __future__ import annotations

import click

from halo_automate.cli.approval_view import now, os_user
from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.engine.runaway import resume as resume_playbook
from halo_automate.errors import ExitCode


@click.command("resume")
@click.argument("playbook")
@instance_option(help_text="The instance it is paused on (default: default_instance).")
@with_context
def resume(ctx: Context, playbook: str) -> ExitCode:
    """Resume PLAYBOOK, paused after refusals in a row, on the instance (--instance)."""
    instance = ctx.settings.instance_name
    if resume_playbook(ctx.journal, playbook, instance, os_user(), now()):
        ctx.console.print(f"{playbook} resumed on {instance}", highlight=False, markup=False)
    else:
        ctx.console.print(f"{playbook} is not paused on {instance}", highlight=False, markup=False)
    return ExitCode.OK
