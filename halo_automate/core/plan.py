"""Pure planning: :func:`make_plan` turns a playbook and fetched tickets into a Plan.

Planning streams over the fetched tickets and keeps only the changes: conditions, lookups and
templates are compiled once per plan, each action through its kind
(:mod:`halo_automate.core.actions`). The Plan value lives in :mod:`halo_automate.core.changes`
and its JSON in :mod:`halo_automate.core.plan_doc`; both are re-exported here, the one import
callers need.

A ticket planning cannot decide is skipped and listed in ``Plan.not_evaluated``, never a reason
to fail the run and never written: a condition on a value that cannot be read as its field's
type is unknown (:mod:`halo_automate.core.conditions`), and so is a ticket whose change cannot be
built (a value of the wrong type, text that is not valid Unicode where the journal must keep it).
Ticket text copied into the plan for people (summary, client name) is sanitised
(:func:`~halo_automate.sanitize.clean_text`).

Idempotent by construction: a field whose value already equals the target yields no change,
a close of an already-closed ticket yields nothing, and a note is only attached to a ticket
that gets another change — so re-planning after an apply plans nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from halo_automate.core import customfields
from halo_automate.core.actions.base import Compiled, Write
from halo_automate.core.changes import (
    PLAN_FORMAT,
    PLAN_VERSION,
    ActionSpec,
    FieldChange,
    JSONValue,
    NotEvaluated,
    Plan,
    RemoveAction,
    Ticket,
    TicketChange,
    json_value,
    new_run_id,
)
from halo_automate.core.conditions import Matcher, compile_where, fields_of
from halo_automate.core.lifecycle import History, compile_steps
from halo_automate.core.lookups import Lookups
from halo_automate.core.operators import Unknown
from halo_automate.core.plan_doc import plan_from_json, plan_to_dict, plan_to_json
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import ID_FIELDS, SELECT_READS
from halo_automate.core.selection import compile_recheck
from halo_automate.core.values import field_value, same
from halo_automate.errors import PlanError, RefusedError
from halo_automate.sanitize import clean_text, has_surrogate

__all__ = [
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "ActionSpec",
    "FieldChange",
    "JSONValue",
    "NotEvaluated",
    "Plan",
    "RemoveAction",
    "TicketChange",
    "apply_requests_needed",
    "check_limits",
    "client_counts",
    "compile_actions",
    "compile_playbook",
    "evaluate",
    "make_plan",
    "needed_lookups",
    "new_run_id",
    "plan_from_json",
    "plan_to_dict",
    "plan_to_json",
    "reads_custom_fields",
    "requests_needed",
    "seconds_needed",
]


def needed_lookups(playbook: Playbook) -> set[str]:
    """The lookup lists planning this playbook reads (so a run fetches no others)."""
    kinds = {SELECT_READS[k].kind for k in playbook.select if k in SELECT_READS}
    for action in playbook.actions:
        kinds |= action.definition.lookups(action.spec)
    return kinds


# ---------------------------------------------------------------- compiling actions


def compile_actions(playbook: Playbook, lookups: Lookups) -> Compiled:
    """Resolve every name in the actions once (each through its kind), merged into one
    :class:`~halo_automate.core.actions.base.Compiled`; PlanError names what Halo lacks."""
    parts: list[Compiled] = [
        action.definition.compile(action.spec, lookups, playbook.name)
        for action in playbook.actions
    ]
    # Posted actions that carry field changes go last: a ticket whose note failed is not closed.
    postings = sorted((p for c in parts for p in c.postings), key=lambda p: p.kind.carries_fields)
    return Compiled(tuple(w for c in parts for w in c.writes), tuple(postings))


def compile_playbook(
    playbook: Playbook, lookups: Lookups, *, now: datetime, history: Mapping[int, History]
) -> Compiled:
    """The playbook's actions compiled, or for a ``lifecycle:`` playbook (warn, then close)
    its steps, each due only on the tickets whose next step it is by ``history``."""
    if playbook.lifecycle:
        return compile_steps(playbook.lifecycle, lookups, playbook.name, now=now, history=history)
    return compile_actions(playbook, lookups)


def reads_custom_fields(playbook: Playbook) -> bool:
    """Whether deciding the playbook's changes needs each ticket's custom fields (a ``where``
    on ``customfield.X`` or a ``set: {customfields: ...}``), which list rows lack."""
    if any(customfields.is_where_field(f) for f in fields_of(playbook.where)):
        return True
    return any(
        a.kind == "set" and isinstance(a.spec, Mapping) and customfields.ARRAY in a.spec
        for a in playbook.actions
    )


# ---------------------------------------------------------------- planning one ticket


def _holds(ticket: Ticket, write: Write) -> bool:
    """Whether the ticket already holds the write's value. A list row may carry a lookup's
    name without its id (a team): then the name written with the id decides."""
    current = field_value(ticket, write.field)
    kind = ID_FIELDS.get(write.field)
    if kind is not None and kind.name_field is not None:
        wanted = dict(write.companions).get(kind.name_field)
        if isinstance(wanted, str) and not (isinstance(current, int) and current > 0):
            name = ticket.get(kind.name_field)
            return isinstance(name, str) and name.casefold() == wanted.casefold()
    return same(current, write.after)


def _change(
    playbook: Playbook, compiled: Compiled, ticket: Ticket, reason: str, run_id: str
) -> TicketChange | None:
    fields: dict[str, FieldChange] = {}
    update: dict[str, JSONValue] = {}
    for rule in compiled.writes:
        write = rule(ticket)
        if write is None or _holds(ticket, write):
            continue
        for name, after in ((write.field, write.after), *write.companions):
            before = json_value(field_value(ticket, name))
            if isinstance(before, str) and has_surrogate(before):
                raise _Undecidable(f"field {name} holds text with a lone surrogate (not Unicode)")
            fields[name] = FieldChange(before, after)
            update[name] = after
    due = [(p, carried) for p in compiled.postings if (carried := p.carried(ticket)) is not None]
    if not fields and not any(p.alone for p, _ in due):
        return None
    customfields.fold(ticket, update)  # a custom field write sends the whole array
    render = {"playbook": playbook.name, "run_id": run_id, "ticket": ticket}
    actions: list[ActionSpec] = []
    for posting, carried in due:
        fields.update(carried)
        actions.append(ActionSpec(posting.kind.name, MappingProxyType(posting.body(render))))
    return TicketChange(
        ticket_id=ticket["id"],
        client_name=clean_text(str(ticket.get("client_name") or "")),
        summary=clean_text(str(ticket.get("summary") or "")),
        reason=reason,
        fields=MappingProxyType(fields),
        ticket_update=MappingProxyType(update),
        actions=tuple(actions),
    )


class _Undecidable(Exception):
    """A ticket planning cannot decide (odd data); its text says why."""


_ODD_DATA = (_Undecidable, ValueError, TypeError, UnicodeError, OverflowError)
"""What evaluating one ticket's odd data can raise: that ticket is skipped and reported."""
_SUMMARY_KEPT = 200


def _verdict(
    playbook: Playbook, compiled: Compiled, matcher: Matcher, ticket: Ticket, run_id: str
) -> tuple[bool, TicketChange | None] | Unknown:
    """(matched, its change or None when it holds every target), or why it is undecidable."""
    try:
        verdict = matcher(ticket)
        if verdict is None or isinstance(verdict, Unknown):
            return verdict or (False, None)
        return True, _change(playbook, compiled, ticket, verdict, run_id)
    except _ODD_DATA as e:
        return _unknown(e)


def _unknown(error: Exception) -> Unknown:
    why = str(error) if isinstance(error, _Undecidable) else f"{type(error).__name__}: {error}"
    return Unknown(clean_text(why))


def _ignored(recheck: Callable[[Ticket], object], ticket: Ticket) -> bool | Unknown:
    """Whether the select re-check refuses the ticket (Halo ignored a filter), or Unknown."""
    try:
        return recheck(ticket) is not None
    except _ODD_DATA as e:
        return _unknown(e)


# ---------------------------------------------------------------- make_plan


def make_plan(
    playbook: Playbook,
    tickets: Iterable[Ticket],
    lookups: Lookups,
    *,
    now: datetime,
    run_id: str,
    query: Mapping[str, str],
    instance: str = "default",
    instance_identity: str = "",
    history: Mapping[int, History] | None = None,
) -> Plan:
    """Plan ``playbook`` over the fetched ``tickets`` (streamed; only changes are kept).
    ``history``: what each ticket has had of a ``lifecycle:`` playbook's steps (none: nothing)."""
    matcher = compile_where(playbook.where, now=now)
    compiled = compile_playbook(playbook, lookups, now=now, history=history or {})
    recheck = compile_recheck(query, lookups)
    scanned = matched = ignored = 0
    seen: set[int] = set()
    changes: list[TicketChange] = []
    unknown: list[NotEvaluated] = []
    for ticket in tickets:
        scanned += 1
        ticket_id = ticket.get("id")
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            raise PlanError(f"playbook {playbook.name}: a ticket row has no integer id")
        if ticket_id in seen:
            continue  # a page shift can return a ticket twice; plan it once
        seen.add(ticket_id)
        refused = _ignored(recheck, ticket)
        if refused is True:
            ignored += 1
            continue
        result = refused or _verdict(playbook, compiled, matcher, ticket, run_id)
        if isinstance(result, Unknown):
            summary = clean_text(str(ticket.get("summary") or ""))[:_SUMMARY_KEPT]
            unknown.append(NotEvaluated(ticket_id, summary, result.why))
            continue
        hit, change = result
        matched += hit
        if change is not None:
            changes.append(change)
    return Plan(
        version=PLAN_VERSION,
        run_id=run_id,
        playbook=playbook.name,
        playbook_hash=playbook.source_hash,
        created_at=now.astimezone(UTC).isoformat(),
        mode="apply",
        halo_rules=playbook.halo_rules,
        max_changes=playbook.limits.max_changes,
        expect_min=playbook.expect.min if playbook.expect else None,
        expect_max=playbook.expect.max if playbook.expect else None,
        query=MappingProxyType(dict(query)),
        scanned=scanned,
        matched=matched,
        changes=tuple(changes),
        ignored_by_halo=ignored,
        not_evaluated=tuple(unknown),
        instance=instance,
        instance_identity=instance_identity,
        playbook_source=playbook.source,
    )


def evaluate(
    playbook: Playbook,
    compiled: Compiled,
    matcher: Matcher,
    recheck: Callable[[Ticket], object],
    ticket: Ticket,
    run_id: str,
) -> TicketChange | Unknown | None:
    """What planning makes of one ticket: its change, None (the select re-check or the
    ``where`` leaves it out, or it holds every target), or Unknown (odd data). The one
    verdict :func:`make_plan` and apply's re-derivation (:mod:`halo_automate.core.rederive`)
    share."""
    refused = _ignored(recheck, ticket)
    if refused is True:
        return None
    result = refused or _verdict(playbook, compiled, matcher, ticket, run_id)
    return result if isinstance(result, Unknown) else result[1]


# ---------------------------------------------------------------- derived numbers


def client_counts(plan: Plan) -> dict[str, int]:
    """Changed tickets per client, most first."""
    counts = Counter(c.client_name for c in plan.changes)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def requests_needed(plan: Plan, batch_size: int = 50, page_size: int = 100) -> int:
    """Requests an apply sends: stale-check pages + ticket-update batches + action batches
    + one DELETE per action an undo removes + one ticket read per change that writes custom
    fields (list rows lack them: :mod:`halo_automate.core.customfields`)."""
    changes = len(plan.changes)
    updates = sum(1 for c in plan.changes if c.ticket_update)
    removals = sum(len(c.remove_actions) for c in plan.changes)
    return (
        math.ceil(changes / page_size)
        + math.ceil(updates / batch_size)
        + sum(math.ceil(n / batch_size) for n in actions_by_position(plan))
        + removals
        + sum(1 for c in plan.changes if any(customfields.is_plan_field(n) for n in c.fields))
    )


DUPLICATE_CHECK_IDS = 100
"""Ticket ids per duplicate-check read (``ticketids``, as every read by id)."""


def apply_requests_needed(plan: Plan, batch_size: int = 50, page_size: int = 100) -> int:
    """Every request applying ``plan`` sends once confirmed (what a preview's "Apply needs"
    promises and the apply then reports): :func:`requests_needed`, plus the read that checks
    each action batch was not posted by another run already
    (:mod:`halo_automate.engine.duplicates`, one per batch in the usual case) and the one
    read of the instance's facts a writing run journals. Lookups a separate ``apply``
    process fetches again, and duplicate checks of tickets that got an action meanwhile,
    are not counted."""
    if not plan.changes:
        return 0
    per_batch = math.ceil(max(batch_size, 1) / DUPLICATE_CHECK_IDS)
    checks = 0
    for actions in actions_by_position(plan):
        full, rest = divmod(actions, max(batch_size, 1))
        checks += full * per_batch + (math.ceil(rest / DUPLICATE_CHECK_IDS) if rest else 0)
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
