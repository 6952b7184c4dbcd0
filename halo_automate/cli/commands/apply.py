"""``halo-automate apply``: apply a saved plan document, verified and re-derived, nothing more.

The document is verified first (:func:`~halo_automate.core.plan_verify.read_saved_plan`):
version, the playbook it carries (hash, validation, limits), one entry per ticket. When
the config's playbooks hold a playbook of the same name, it must be the one the plan
carries (same hash): a playbook changed since planning, or a document whose playbook was
rewritten with a matching hash, is refused. The runner then refuses another Halo's plan and
re-derives every change from the playbook against the tickets as read now.
"""

from __future__ import annotations

import click

from halo_automate.cli.context import Context, instance_option, with_context
from halo_automate.cli.exits import finish
from halo_automate.cli.files import read_plan_file
from halo_automate.core.plan_verify import read_saved_plan
from halo_automate.errors import ConfigError, ExitCode, PlanError, PlaybookError


@click.command("apply")
@click.argument("planfile", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Apply without asking.")
@instance_option
@with_context
def apply(ctx: Context, planfile: str, yes: bool) -> ExitCode:
    """Apply a saved plan to the Halo it was made for: each ticket is written only when the
    plan's own playbook would still make exactly the planned change (a regular file of at
    most 32 MB)."""
    saved = read_saved_plan(read_plan_file(planfile))
    plan = saved.plan
    try:
        current = ctx.playbook(plan.playbook)
    except (ConfigError, PlaybookError):
        current = None  # not among the config's playbooks: the plan's own is the reference
    if current is not None and current.source_hash != plan.playbook_hash:
        raise PlanError(
            f"plan {plan.run_id}: its playbook differs from {plan.playbook} in {current.path} "
            "(changed since the plan was made, or the document was edited); re-plan it"
        )
    runner = ctx.runner()
    outcome = runner.apply_saved(plan, confirm=ctx.confirmer(yes), playbook=saved.playbook)
    return finish(ctx.console, outcome)
