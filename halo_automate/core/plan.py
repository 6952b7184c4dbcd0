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

A ``group:`` playbook (duplicate groups, :mod:`halo_automate.core.groups`) cannot decide a
ticket alone: its matched tickets are kept, grouped once the scan ends, and only each group's
duplicates are planned (with their survivor's row); ``Plan.groups`` lists the groups.

Idempotent by construction: a field whose value already equals the target yields no change,
a close of an already-closed ticket yields nothing, and a note is only attached to a ticket
that gets another change — so re-planning after an apply plans nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from halo_automate.core import customfields, groups
from halo_automate.core.actions.base import Compiled, Write
from halo_automate.core.changes import (
    PLAN_FORMAT,
    PLAN_VERSION,
    ActionSpec,
    FieldChange,
    Group,
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
from halo_automate.core.plan_cost import (
    DUPLICATE_CHECK_IDS,
    actions_by_position,
    apply_requests_needed,
    check_limits,
    client_counts,
    requests_needed,
    seconds_needed,
)
from halo_automate.core.plan_doc import plan_from_json, plan_to_dict, plan_to_json
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import ID_FIELDS, SELECT_READS
from halo_automate.core.selection import compile_recheck
from halo_automate.core.values import field_value, same
from halo_automate.errors import PlanError
from halo_automate.sanitize import clean_text, has_surrogate

__all__ = [
    "DUPLICATE_CHECK_IDS",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "ActionSpec",
    "FieldChange",
    "JSONValue",
    "NotEvaluated",
    "Plan",
    "RemoveAction",
    "TicketChange",
    "actions_by_position",
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
    if (survivor := groups.survivor_of(ticket)) is not None:
        render["survivor"] = survivor
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
    candidates: list[tuple[Ticket, str]] = []  # a group: playbook's matched tickets
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
        if playbook.group is not None and not refused:
            verdict = _matched(matcher, ticket)
            if isinstance(verdict, str):
                matched += 1
                candidates.append((ticket, verdict))
            elif verdict is not None:
                unknown.append(_not_evaluated(ticket, verdict.why))
            continue
        result = refused or _verdict(playbook, compiled, matcher, ticket, run_id)
        if isinstance(result, Unknown):
            unknown.append(_not_evaluated(ticket, result.why))
            continue
        hit, change = result
        matched += hit
        if change is not None:
            changes.append(change)
    found: tuple[Group, ...] = ()
    if playbook.group is not None:
        found = _grouped(playbook, compiled, candidates, run_id, changes, unknown)
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
        groups=found,
        irreversible=playbook.irreversible,
        custom_field_reads=reads_custom_fields(playbook),
        history_reads=sum(1 for c in changes if c.ticket_id in (history or {})),
    )


def _not_evaluated(ticket: Ticket, why: str) -> NotEvaluated:
    summary = clean_text(str(ticket.get("summary") or ""))[:_SUMMARY_KEPT]
    return NotEvaluated(ticket["id"], summary, why)


def _matched(matcher: Matcher, ticket: Ticket) -> str | Unknown | None:
    """The ``where``'s verdict alone (a ``group:`` playbook decides changes per group)."""
    try:
        return matcher(ticket)
    except _ODD_DATA as e:
        return _unknown(e)


def _grouped(
    playbook: Playbook,
    compiled: Compiled,
    candidates: list[tuple[Ticket, str]],
    run_id: str,
    changes: list[TicketChange],
    unknown: list[NotEvaluated],
) -> tuple[Group, ...]:
    """Group the matched tickets; each duplicate's change (with its survivor) joins
    ``changes``; returns the groups that change something, survivor order."""
    assert playbook.group is not None
    formed = groups.form(playbook.group, playbook.keep, [t for t, _ in candidates])
    unknown.extend(_not_evaluated(t, why) for t, why in formed.unknown)
    shown: list[Group] = []
    for group, survivor, members in formed.groups:
        made = 0
        for member in members:
            reason = f"duplicate of #{group.survivor} ({group.key})"
            try:
                row = groups.with_survivor(member, survivor)
                change = _change(playbook, compiled, row, reason, run_id)
            except _ODD_DATA as e:
                unknown.append(_not_evaluated(member, _unknown(e).why))
                continue
            if change is not None:
                changes.append(change)
                made += 1
        if made:
            shown.append(group)
    return tuple(shown)


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
