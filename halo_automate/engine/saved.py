"""What ``apply`` of a saved plan checks before it writes, and the re-derivation it writes by.

* :func:`claim` — a saved plan is consumed only by an apply that wrote: an earlier attempt
  under the plan's run id that wrote nothing is set aside (``<run id>~N``, kept in history:
  :mod:`halo_automate.store.attempts`); a run that wrote, or one still running, refuses it.
* :func:`check_instance` — a plan applies only to the Halo it was made for: a different
  instance identity is refused, naming both, before any request.
* :func:`rederiver` — the playbook a plan carries (:func:`~halo_automate.core.plan_verify.
  plan_playbook`), compiled against today's lookups, so the stale check writes a ticket only
  when the playbook would still make exactly the planned change
  (:mod:`halo_automate.core.rederive`); ``run`` uses it after its prompt too.
"""

from __future__ import annotations

from datetime import datetime

from halo_automate.core.plan import Plan, needed_lookups
from halo_automate.core.plan_verify import plan_playbook
from halo_automate.core.playbook import Playbook
from halo_automate.core.rederive import Rederiver
from halo_automate.engine.lifecycle_facts import history_source
from halo_automate.errors import InstanceMismatchError, PlanAppliedError
from halo_automate.halo.client import HaloClient
from halo_automate.store.journal import Journal


def claim(journal: Journal, plan: Plan, trigger: str) -> str | None:
    """Free the plan's run id for this attempt; returns the id an earlier attempt that wrote
    nothing was set aside under (None: there was none). PlanAppliedError when the plan was
    applied (a run that wrote), a run of it is still running or interrupted, or the run id
    belongs to another kind of run (a document whose run id was edited to another run's)."""
    held = journal.run(plan.run_id)
    if held is not None and (held.playbook, held.trigger) != (plan.playbook, trigger):
        raise PlanAppliedError(
            f"plan {plan.run_id}: that run id is already used by another run in the journal "
            f"(see: show {plan.run_id}); re-plan it"
        )
    found, aside = journal.set_aside_unwritten(plan.run_id)
    if found == "wrote":
        raise PlanAppliedError(f"plan {plan.run_id} was already applied (see: show {plan.run_id})")
    if found == "running":
        raise PlanAppliedError(
            f"plan {plan.run_id} is being applied, or was interrupted (see: show "
            f"{plan.run_id}; `recover` finishes it)"
        )
    return aside


def check_instance(plan: Plan, client: HaloClient) -> None:
    """Refuse a plan made for another Halo than ``client``'s (a plan that does not say, an
    undo plan of a run older than instances, is not refused)."""
    target = client.settings.identity
    if plan.instance_identity and plan.instance_identity != target:
        raise InstanceMismatchError(
            f"plan {plan.run_id} was made for {plan.instance_identity} (instance "
            f"{plan.instance!r}), not for {target} (instance {client.instance_name!r}); "
            "nothing was written: plan again against this Halo"
        )


def playbook_of(plan: Plan, playbook: Playbook | None) -> Playbook | None:
    """The playbook to re-derive ``plan``'s changes from: the one given, else the one the plan
    carries (an apply plan made by this version); None for an undo plan."""
    if playbook is not None or plan.mode != "apply" or not plan.playbook_source:
        return playbook
    return plan_playbook(plan, own_limits=False)


def rederiver(
    client: HaloClient,
    journal: Journal,
    playbook: Playbook,
    plan: Plan,
    now: datetime,
    made_as: str | None = None,
) -> Rederiver:
    """The re-derivation of ``plan``'s changes from ``playbook`` at ``now`` (its lookups are
    the client's, fetched once per client; a ``lifecycle:`` playbook's history is read from
    the journal and the tickets' actions when the stale check re-reads the tickets).
    ``made_as``: the run id the plan's texts were rendered with (``{run_id}``) when it is
    applied under another (an approved plan, applied by a run of its own:
    :mod:`halo_automate.engine.approvals`); default the plan's."""
    lookups = client.lookups(sorted(needed_lookups(playbook)))
    history = history_source(client, journal, playbook) if playbook.lifecycle else None
    tickets = client.tickets_by_ids if playbook.group is not None else None
    return Rederiver(
        playbook, lookups, now=now, run_id=made_as or plan.run_id, history=history,
        groups=plan.groups, tickets=tickets,
    )  # fmt: skip
