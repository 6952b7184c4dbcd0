"""Plans held for a person's approval: what waits, deciding, expiring, applying (issue 16).

The API the CLI (``approvals``, ``approve``, ``reject``), the daemon and the web console share.
Every function takes the journal and ``now`` (the caller's clock); the rules live here, the
storage in :mod:`halo_automate.store.approvals`:

* :func:`waiting` lists the plans waiting for a decision (not expired at ``now``);
* :func:`approve` / :func:`reject` decide one (the approver is a name: the OS user on the CLI,
  the logged-in user on the web); with ``approver_must_differ`` the person who planned may not
  approve (rejecting, withdrawing one's own plan, is always allowed);
* :func:`expire_due` expires what is past its time: an expired plan is never applied;
* :func:`apply_approved` applies an approved plan exactly, through the saved-plan path
  (``Runner.apply_saved``: the limits, the stale check and every integrity check of apply
  hold), as a new run named on the approvals row once, so it is applied at most once
  whoever (daemon, CLI, web) tries; ``Runner.apply_approved`` is this with the runner's
  journal, clock and ``apply_saved``;
* :func:`open_plan` and :func:`hold` are the runner's: a run of a playbook that has a plan
  open (waiting, or approved and not yet applied) plans nothing, and a plan that needs
  approval is journaled ``awaiting_approval`` with its plan and its approvals row at once.

Errors are :class:`~halo_automate.errors.ApprovalError` (exit 4) with one line saying what
to do, or :class:`~halo_automate.errors.UnknownApprovalError` (exit 2) for a run id that
never waited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from halo_automate.core.approval import ApprovalPolicy, same_person
from halo_automate.core.changes import new_run_id
from halo_automate.core.outcome import RunOutcome, RunStatus
from halo_automate.core.plan import Plan, plan_from_json
from halo_automate.errors import ApprovalError, RefusedError, UnknownApprovalError
from halo_automate.store.approvals import ApprovalRequest, ApprovalRow
from halo_automate.store.journal import Journal, RunStart

APPLY_TRIGGER = "approval"
"""The trigger journaled for the run that applies an approved plan."""


class ApplySaved(Protocol):
    """``Runner.apply_saved``: apply a plan exactly and journal it; its outcome."""

    def __call__(
        self,
        plan: Plan,
        *,
        confirm: Callable[[Plan], bool] | None,
        trigger: str | None = None,
        made_as: str | None = None,
    ) -> RunOutcome: ...


@dataclass(frozen=True)
class WaitingApproval:
    """A plan waiting for a decision (what ``approvals`` lists and the web console queues)."""

    run_id: str
    playbook: str
    instance: str
    changes: int
    requested_by: str
    requested_at: datetime | str
    expires_at: datetime | str
    approver_must_differ: bool

    @classmethod
    def of(cls, row: ApprovalRow) -> WaitingApproval:
        return cls(
            row.run_id, row.playbook, row.instance_name, row.changes, row.requested_by,
            row.requested_at, row.expires_at, row.approver_must_differ,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The ``approvals --json`` item (dates ISO 8601, UTC)."""
        return {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "instance": self.instance,
            "changes": self.changes,
            "requested_by": self.requested_by,
            "requested_at": _iso(self.requested_at),
            "expires_at": _iso(self.expires_at),
            "approver_must_differ": self.approver_must_differ,
        }


def _iso(when: datetime | str) -> str:
    return when.isoformat() if isinstance(when, datetime) else when


def _due(row: ApprovalRow, now: datetime) -> bool:
    """Is ``row`` past its expiry at ``now``? (A damaged date counts as expired.)"""
    return not isinstance(row.expires_at, datetime) or row.expires_at <= now


# ---------------------------------------------------------------------- reading


def waiting(
    journal: Journal, now: datetime, *, instance: str | None = None
) -> list[WaitingApproval]:
    """The plans waiting for a decision at ``now`` (oldest first), of one instance or all.
    Reads only: a plan past its time is left out here and expired by :func:`expire_due`."""
    rows = journal.approvals(state="waiting", instance_name=instance)
    return [WaitingApproval.of(r) for r in rows if not _due(r, now)]


def open_plan(journal: Journal, playbook: str, instance: str, now: datetime) -> ApprovalRow | None:
    """The plan of ``playbook`` on ``instance`` still open at ``now`` (waiting, or approved
    and not yet applied), if any; a run of the playbook must not plan another meanwhile."""
    for row in journal.approvals(instance_name=instance, open_only=True):
        if row.playbook == playbook and not _due(row, now):
            return row
    return None


def approved_unapplied(journal: Journal, now: datetime, *, instance: str) -> list[ApprovalRow]:
    """Approved plans of ``instance`` not yet applied nor expired: what the daemon applies."""
    rows = journal.approvals(state="approved", instance_name=instance, open_only=True)
    return [r for r in rows if not _due(r, now)]


def _known(journal: Journal, run_id: str) -> ApprovalRow:
    row = journal.approval(run_id)
    if row is None:
        raise UnknownApprovalError(
            f"no plan was held for approval as run {run_id!r} (see: halo-automate approvals)"
        )
    return row


# ---------------------------------------------------------------------- deciding


def approve(journal: Journal, run_id: str, approver: str, now: datetime) -> ApprovalRow:
    """Approve waiting plan ``run_id`` as ``approver``; the row as decided.

    Refused (ApprovalError) when it is not waiting (already decided or expired: an expired
    plan is journaled ``expired`` now) or, with ``approver_must_differ``, when ``approver``
    is the person who planned it."""
    row = _decidable(journal, run_id, now)
    if row.approver_must_differ and same_person(row.requested_by, approver):
        raise ApprovalError(
            f"run {run_id} was planned by {row.requested_by}; its playbook says "
            "approver_must_differ: another person must approve it"
        )
    message = f"approved by {approver}; waiting to be applied"
    if not journal.decide_approval(run_id, "approved", approver, None, now, message):
        _decidable(journal, run_id, now)  # raises: someone decided meanwhile
    return _known(journal, run_id)


def reject(journal: Journal, run_id: str, approver: str, reason: str, now: datetime) -> ApprovalRow:
    """Reject waiting plan ``run_id`` as ``approver`` with ``reason`` (required): it is
    never applied. Anyone may reject, the planner too (withdrawing their plan)."""
    reason = " ".join(reason.split())
    if not reason:
        raise ApprovalError("a rejection needs a reason (--reason TEXT)")
    _decidable(journal, run_id, now)
    message = f"rejected by {approver}: {reason}; nothing was written"
    if not journal.decide_approval(run_id, "rejected", approver, reason, now, message):
        _decidable(journal, run_id, now)
    return _known(journal, run_id)


def _decidable(journal: Journal, run_id: str, now: datetime) -> ApprovalRow:
    """The row of ``run_id`` if it waits for a decision at ``now``; ApprovalError otherwise
    (an open plan past its time is expired on the way)."""
    row = _known(journal, run_id)
    if row.open and _due(row, now):
        expire_due(journal, now)
        row = _known(journal, run_id)
    if row.state == "waiting":
        return row
    raise ApprovalError(_not_waiting(row))


def _not_waiting(row: ApprovalRow) -> str:
    if row.state == "expired":
        return f"run {row.run_id} expired at {_iso(row.expires_at)}; it will never be applied"
    if row.state == "rejected":
        return f"run {row.run_id} was rejected by {row.decided_by}: {row.reason}"
    if row.applied_run_id is not None:
        return (
            f"run {row.run_id} was approved by {row.decided_by} and applied as run "
            f"{row.applied_run_id} (see: halo-automate show {row.applied_run_id})"
        )
    return f"run {row.run_id} is already approved by {row.decided_by}; it is applied next"


def expire_due(journal: Journal, now: datetime) -> list[ApprovalRow]:
    """Expire every open plan past its time at ``now`` (journaled ``expired``); those rows."""
    return journal.expire_approvals(now)


# ---------------------------------------------------------------------- applying


def apply_approved(
    journal: Journal,
    run_id: str,
    apply_saved: ApplySaved,
    *,
    confirm: Callable[[Plan], bool] | None,
    now: datetime,
    instance: str | None = None,
) -> RunOutcome:
    """Apply approved plan ``run_id`` exactly, once; the outcome of the run that applied it.

    ``instance``: the instance ``apply_saved`` writes to (its runner's); a plan held on
    another instance is refused (ApprovalError) before anything is asked or claimed.

    ``confirm`` (the CLI's preview and prompt; None for the daemon and the web, whose
    approval is the confirmation) is asked before the plan is claimed, so a declined prompt
    leaves it approved. The plan is then claimed under a new run id recorded on its
    approvals row, one claim at a time (a second claim, by anyone, finds it applied or being
    applied; a claim whose run never started within the journal's ``stale_after`` is taken
    over under the same run id: its process died) and applied through
    ``apply_saved`` with trigger ``approval``: limits, lock, stale check and the integrity
    checks of apply all hold. ApprovalError when it is not approved, expired or applied.
    """
    row = _known(journal, run_id)
    if instance is not None:
        check_instance(row, instance)
    if row.open and _due(row, now):
        expire_due(journal, now)
        row = _known(journal, run_id)
    if row.state == "waiting":
        raise ApprovalError(f"run {run_id} is not approved yet (halo-automate approve {run_id})")
    if row.state != "approved":
        raise ApprovalError(_not_waiting(row))
    plan = _plan_of(journal, run_id)
    if row.applied_run_id is None and confirm is not None and not confirm(plan):
        raise RefusedError(f"run {run_id}: not confirmed; nothing was written (still approved)")
    claim = journal.claim_approved(run_id, new_run_id(now), now, journal.stale_after)
    if claim is None:
        raise ApprovalError(_not_waiting(_known(journal, run_id)))
    applied, mine = claim
    if not mine and journal.run(applied) is not None:
        raise ApprovalError(_not_waiting(_known(journal, run_id)))
    if not mine:
        raise ApprovalError(
            f"run {run_id} is being applied by another process as run {applied}; if that "
            f"process died, try again after {journal.stale_after} (see: halo-automate show "
            f"{applied})"
        )
    return apply_saved(  # made_as: its {run_id} texts name the held run, re-derived so
        dataclasses.replace(plan, run_id=applied),
        confirm=None,
        trigger=APPLY_TRIGGER,
        made_as=run_id,
    )


def check_instance(row: ApprovalRow, instance: str) -> None:
    """Refuse (ApprovalError) to apply ``row``'s plan on another instance than its own."""
    if row.instance_name != instance:
        raise ApprovalError(
            f"run {row.run_id} was planned on instance {row.instance_name!r}, not "
            f"{instance!r}; apply it with --instance {row.instance_name}"
        )


def _plan_of(journal: Journal, run_id: str) -> Plan:
    text = journal.plan_json(run_id)
    if text is None:
        raise ApprovalError(f"run {run_id} has no plan in the journal (pruned?); plan it again")
    return plan_from_json(text)


# ---------------------------------------------------------------------- holding (the runner's)


def hold(
    journal: Journal,
    run: RunStart,
    outcome: RunOutcome,
    policy: ApprovalPolicy,
    now: datetime,
    *,
    instance: str | None = None,
) -> RunOutcome:
    """Journal ``outcome`` (``awaiting_approval``, of ``run``) with its approvals row, in one
    transaction; the outcome as journaled. If another plan of the playbook and instance is
    open meanwhile (two processes planned at once), this run is journaled refused instead."""
    expires = now + policy.expires_after
    message = (
        f"waiting for approval: {outcome.planned} tickets would change; approve with "
        f"`halo-automate approve {outcome.run_id}` before {expires.isoformat()}"
    )
    request = ApprovalRequest(
        outcome.planned, run.started_by, now, expires, policy.approver_must_differ
    )
    refused = "another plan of this playbook is waiting for approval (run {run_id}); "
    refused += "nothing was planned twice"
    held = journal.hold_for_approval(
        run, request, message, instance=instance, refused_message=refused
    )
    if held is None:
        return dataclasses.replace(outcome, message=message)
    error = ApprovalError(refused.format(run_id=held.run_id))
    return dataclasses.replace(outcome, status=RunStatus.REFUSED, error=error, message=str(error))


def blocked_message(row: ApprovalRow) -> str:
    """Why a run of a playbook with an open plan plans nothing."""
    what = "waiting for approval" if row.state == "waiting" else "approved, to be applied"
    return (
        f"{row.playbook}: a plan is {what} (run {row.run_id}, expires "
        f"{_iso(row.expires_at)});"
        f" nothing was planned (approve or reject run {row.run_id} first)"
    )
