"""Numbers derived from a plan: changes per client, the requests and least time its apply
needs under Halo's rate limit, and the ``limits``/``expect`` refusal.

Pure; re-exported by :mod:`halo_automate.core.plan`, the one import callers need.
"""

from __future__ import annotations

import math
from collections import Counter

from halo_automate.core import customfields
from halo_automate.core.changes import Plan
from halo_automate.errors import RefusedError


def client_counts(plan: Plan) -> dict[str, int]:
    """Changed tickets per client, most first."""
    counts = Counter(c.client_name for c in plan.changes)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def requests_needed(plan: Plan, batch_size: int = 50, page_size: int = 100) -> int:
    """Requests an apply sends: stale-check pages + ticket-update batches + action batches
    + one DELETE per action an undo removes + one ticket read per change that writes custom
    fields, or per change of a playbook that reads them (list rows lack them:
    :mod:`halo_automate.core.customfields`) + one action list per ticket a ``lifecycle:``
    playbook acted on before (``Plan.history_reads``) + for a ``group:``
    plan, one read of the survivors per stale-check page (their duplicates are checked
    against them as they are now: :mod:`halo_automate.core.groups`)."""
    changes = len(plan.changes)
    updates = sum(1 for c in plan.changes if c.ticket_update)
    removals = sum(len(c.remove_actions) for c in plan.changes)
    return (
        math.ceil(changes / page_size)
        + math.ceil(updates / batch_size)
        + sum(math.ceil(n / batch_size) for n in actions_by_position(plan))
        + removals
        + _full_reads(plan)
        + plan.history_reads
        + (math.ceil(changes / page_size) if plan.groups else 0)
    )


DUPLICATE_CHECK_IDS = 100
"""Ticket ids per duplicate-check read (``ticketids``, as every read by id)."""


def apply_requests_needed(plan: Plan, batch_size: int = 50, page_size: int = 100) -> int:
    """Every request applying ``plan`` sends once confirmed (what a preview's "Apply needs"
    promises and the apply then reports): :func:`requests_needed`, plus the read that checks
    each action batch was not posted by another run already
    (:mod:`halo_automate.engine.duplicates`, one per batch in the usual case), the action
    list it reads for each ticket of a second (third, ...) action, whose last action date
    the ticket's own earlier action moved, and the one read of the instance's facts a
    writing run journals. Lookups a separate ``apply`` process fetches again, and duplicate
    checks of tickets that got someone else's action meanwhile, are not counted."""
    if not plan.changes:
        return 0
    per_batch = math.ceil(max(batch_size, 1) / DUPLICATE_CHECK_IDS)
    checks = 0
    positions = actions_by_position(plan)
    for actions in positions:
        full, rest = divmod(actions, max(batch_size, 1))
        checks += full * per_batch + (math.ceil(rest / DUPLICATE_CHECK_IDS) if rest else 0)
    checks += sum(positions[1:])  # the earlier action moved each one's last action date
    return requests_needed(plan, batch_size, page_size) + checks + 1


def actions_by_position(plan: Plan) -> list[int]:
    """How many tickets post a first action, a second, ...: the apply posts each position as
    a phase of its own (a ticket's note lands before its close, and a ticket whose note
    failed is not closed, even with batches in flight together: engine/batches.py)."""
    most = max((len(c.actions) for c in plan.changes), default=0)
    return [sum(1 for c in plan.changes if len(c.actions) > i) for i in range(most)]


def seconds_needed(
    plan: Plan,
    requests: int | None = None,
    rate_requests: int = 300,
    rate_seconds: float = 300.0,
) -> float:
    """Least time a rolling window of ``rate_requests`` per ``rate_seconds`` makes them take.

    The first window's worth goes at once; each further window's worth waits a window.
    ``requests`` defaults to :func:`requests_needed` of the plan.
    """
    total = requests_needed(plan) if requests is None else requests
    if total <= 0:
        return 0.0
    return float((total - 1) // max(rate_requests, 1)) * rate_seconds


def check_limits(plan: Plan) -> None:
    """Raise RefusedError when the plan breaks ``limits.max_changes`` or ``expect``."""
    if len(plan.changes) > plan.max_changes:
        raise RefusedError(
            f"{plan.playbook}: the plan changes {len(plan.changes)} tickets, more than "
            f"limits.max_changes ({plan.max_changes}); nothing was written"
        )
    if plan.expect_min is not None and plan.matched < plan.expect_min:
        raise RefusedError(
            f"{plan.playbook}: {plan.matched} tickets matched, fewer than expect.min "
            f"({plan.expect_min}); nothing was written"
        )
    if plan.expect_max is not None and plan.matched > plan.expect_max:
        raise RefusedError(
            f"{plan.playbook}: {plan.matched} tickets matched, more than expect.max "
            f"({plan.expect_max}); nothing was written"
        )


def _full_reads(plan: Plan) -> int:
    """Changed tickets apply reads in full for their custom fields."""
    if plan.custom_field_reads:
        return len(plan.changes)
    return sum(1 for c in plan.changes if any(customfields.is_plan_field(n) for n in c.fields))
