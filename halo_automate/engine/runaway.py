"""The runaway guard's rule: which scheduled runs count, and when a playbook is paused.

Issue 16 (Jira Automation switches off rules that run away): a scheduled playbook that its
limits refuse ``limits.pause_after_refusals`` times in a row (3 by default; 0 never pauses) is
paused, and only ``halo-automate resume PLAYBOOK`` resumes it. What counts:

* a refusal **by the limits** (``max_changes``, ``expect``: the outcome's error is a
  :class:`~halo_automate.errors.RefusedError`) adds one;
* a run that planned within its limits (succeeded, partial, interrupted, previewed, or a plan
  held for approval) starts the count again;
* anything else leaves the count as it is: a lock held by another run, Halo or the journal
  failing, a run that planned nothing because a plan of the playbook is still open. Those say
  nothing about whether the playbook runs away.

Only scheduled runs count (a person at the CLI sees the refusal). The count and the pause are
journaled (:mod:`halo_automate.store.guards`), so they survive restarts and are shared with
the CLI.
"""

from __future__ import annotations

from datetime import datetime

from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.playbook import Playbook
from halo_automate.errors import RefusedError
from halo_automate.store.guards import GuardRow
from halo_automate.store.journal import Journal

_WITHIN_LIMITS = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.INTERRUPTED, RunStatus.PREVIEWED}
)


def refused_by_limits(outcome: RunOutcome) -> bool:
    return outcome.status is RunStatus.REFUSED and isinstance(outcome.error, RefusedError)


def counts(outcome: RunOutcome) -> bool | None:
    """True: a refusal by the limits; False: a run within its limits; None: not counted."""
    if refused_by_limits(outcome):
        return True
    if outcome.status in _WITHIN_LIMITS:
        return False
    if outcome.status is RunStatus.AWAITING_APPROVAL and outcome.planned > 0:
        return False  # a new plan held (a run blocked by an open plan planned nothing)
    return None


def count_run(
    journal: Journal, playbook: Playbook, instance: str, outcome: RunOutcome, now: datetime
) -> GuardRow | None:
    """Count one scheduled run of ``playbook``; the guard row if this run paused it."""
    refused = counts(outcome)
    if refused is None:
        return None
    threshold = playbook.limits.pause_after_refusals
    reason = (
        f"refused by its limits {threshold} times in a row; last: {outcome.message}; "
        f"resume with: halo-automate resume {playbook.name}"
    )
    row, paused = journal.count_refusal(
        playbook.name, instance, refused=refused, pause_after=threshold, now=now, reason=reason
    )
    return row if paused else None


def paused(journal: Journal, playbook: str, instance: str) -> GuardRow | None:
    """The guard row of ``playbook`` on ``instance`` if it is paused."""
    row = journal.guard(playbook, instance)
    return row if row is not None and row.paused else None


def resume(journal: Journal, playbook: str, instance: str, by: str, now: datetime) -> bool:
    """Resume a paused playbook (its count starts again); False if it was not paused."""
    return journal.resume_playbook(playbook, instance, by, now)
