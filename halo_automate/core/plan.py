"""The Plan value, pure planning (:func:`make_plan`) and its JSON form.

A plan holds everything a write will do before anything is written, so preview, saved plans,
limits, apply, the journal and undo all speak about the same object. Planning streams over
the fetched tickets and keeps only the changes: conditions, lookups and templates are
compiled once per plan.

Idempotent by construction: a field whose value already equals the target yields no change,
a close of an already-closed ticket yields nothing, and a note is only attached to a ticket
that gets another change — so re-planning after an apply plans nothing.
"""

from __future__ import annotations

import json
import math
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeAlias, Union

from halo_automate.core.conditions import compile_where
from halo_automate.core.lookups import LookupItem, Lookups, LookupTable
from halo_automate.core.playbook import (
    CATEGORY_FIELDS,
    Action,
    CloseSpec,
    NoteSpec,
    Playbook,
    RecategorizeSpec,
    TemplatePieces,
    parse_template,
    render_template,
)
from halo_automate.core.selection import compile_recheck
from halo_automate.core.values import same
from halo_automate.errors import LookupMissError, PlanError, RefusedError, RegexTimeoutError

JSONValue: TypeAlias = Union[  # noqa: UP007 (a recursive alias needs the string form)
    bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"], None
]
Ticket: TypeAlias = Mapping[str, Any]

PLAN_FORMAT = "halo-automate/plan"
PLAN_VERSION = 1
DEFAULT_CLOSE_OUTCOMES = ("Close Ticket", "Internal Note")
DEFAULT_NOTE_OUTCOME = "Internal Note"


@dataclass(frozen=True)
class FieldChange:
    before: JSONValue
    after: JSONValue


@dataclass(frozen=True)
class ActionSpec:
    """One POST /api/Actions element, without ticket_id (apply adds it)."""

    kind: str
    body: Mapping[str, JSONValue]


@dataclass(frozen=True)
class RemoveAction:
    """An action a run posted, deleted by its undo (``body`` kept to show it and re-post it)."""

    action_id: int
    body: Mapping[str, JSONValue]


@dataclass(frozen=True)
class TicketChange:
    ticket_id: int
    client_name: str
    summary: str
    reason: str
    fields: Mapping[str, FieldChange]
    ticket_update: Mapping[str, JSONValue]
    actions: tuple[ActionSpec, ...]
    remove_actions: tuple[RemoveAction, ...] = ()
    """Actions on this ticket to delete (undo of posted actions); empty when planning."""


@dataclass(frozen=True)
class Plan:
    version: int
    run_id: str
    playbook: str
    playbook_hash: str
    created_at: str
    mode: str
    halo_rules: bool
    max_changes: int
    expect_min: int | None
    expect_max: int | None
    query: Mapping[str, str]
    scanned: int
    matched: int
    changes: tuple[TicketChange, ...]
    undo_of: str | None = None
    ignored_by_halo: int = 0


def new_run_id(now: datetime) -> str:
    """A run id: UTC timestamp plus 6 random hex digits, e.g. ``20261124T051500-3f9a1c``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


# ---------------------------------------------------------------- compiling actions


@dataclass(frozen=True)
class _Write:
    """Set ``field`` to ``after`` (and ``companions`` with it) unless it already holds it."""

    field: str
    after: JSONValue
    companions: tuple[tuple[str, JSONValue], ...] = ()


WriteRule: TypeAlias = Callable[[Ticket], "_Write | None"]


@dataclass(frozen=True)
class _Close:
    status: LookupItem
    outcome_id: int
    note: TemplatePieces | None
    private: bool
    email: bool


@dataclass(frozen=True)
class _Note:
    outcome_id: int
    text: TemplatePieces
    private: bool


@dataclass(frozen=True)
class _Compiled:
    writes: tuple[WriteRule, ...]
    close: _Close | None
    notes: tuple[_Note, ...]


def _resolve(playbook: Playbook, what: str, table: LookupTable, value: str | int) -> LookupItem:
    try:
        return table.resolve(value)
    except LookupMissError as e:
        raise PlanError(f"playbook {playbook.name}: {what}: {e}") from e


def _outcome(playbook: Playbook, what: str, lookups: Lookups, name: str | None) -> int:
    if name is not None:
        return _resolve(playbook, what, lookups.outcomes, name).id
    defaults = DEFAULT_CLOSE_OUTCOMES if what == "close" else (DEFAULT_NOTE_OUTCOME,)
    for default in defaults:
        found = lookups.outcomes.by_name(default)
        if found is not None:
            return found.id
    if not lookups.outcomes.items:
        raise PlanError(f"playbook {playbook.name}: {what}: Halo lists no outcomes")
    return lookups.outcomes.items[0].id


def _static(write: _Write) -> WriteRule:
    return lambda ticket: write


def _compile_set(
    playbook: Playbook, values: Mapping[str, Any], lookups: Lookups
) -> list[WriteRule]:
    tables = {
        "status": ("status_id", lookups.statuses),
        "agent": ("agent_id", lookups.agents),
        "priority": ("priority_id", lookups.priorities),
        "tickettype": ("tickettype_id", lookups.ticket_types),
    }
    rules: list[WriteRule] = []
    for name, value in values.items():
        if name in tables:
            halo_field, table = tables[name]
            item = _resolve(playbook, f"set {name}", table, value)
            rules.append(_static(_Write(halo_field, item.id)))
        elif name == "team":
            item = _resolve(playbook, "set team", lookups.teams, value)
            rules.append(_static(_Write("team_id", item.id, (("team", item.name),))))
        elif name in CATEGORY_FIELDS:
            item = _resolve(playbook, f"set {name}", lookups.category(int(name[-1])), value)
            rules.append(_static(_Write(name, item.name)))
        else:
            rules.append(_static(_Write(name, value)))
    return rules


def _compile_recategorize(
    playbook: Playbook, spec: RecategorizeSpec, lookups: Lookups
) -> WriteRule:
    table = lookups.category(int(spec.field[-1]))
    targets = [*spec.map.values(), *([spec.empty] if spec.empty is not None else [])]
    missing = sorted({t for t in targets if table.by_name(t) is None})
    if missing:
        raise PlanError(
            f"playbook {playbook.name}: recategorize {spec.field}: target value(s) "
            f"{', '.join(repr(m) for m in missing)} are not in Halo's {spec.field} list"
        )
    mapping = {old: _canonical(table, new) for old, new in spec.map.items()}
    empty = _canonical(table, spec.empty) if spec.empty is not None else None
    field = spec.field

    def rule(ticket: Ticket) -> _Write | None:
        current = ticket.get(field)
        if current is None or current == "":
            return _Write(field, empty) if empty is not None else None
        target = mapping.get(current) if isinstance(current, str) else None
        return _Write(field, target) if target is not None else None

    return rule


def _canonical(table: LookupTable, name: str) -> str:
    item = table.by_name(name)
    assert item is not None
    return item.name


def _compile_close(playbook: Playbook, spec: CloseSpec, lookups: Lookups) -> _Close:
    status = _resolve(playbook, "close status", lookups.statuses, spec.status)
    outcome = _outcome(playbook, "close", lookups, spec.outcome)
    note = parse_template(spec.note) if spec.note is not None else None
    return _Close(status, outcome, note, spec.private, spec.email)


def _compile_note(playbook: Playbook, spec: NoteSpec, lookups: Lookups) -> _Note:
    outcome = _outcome(playbook, "note", lookups, spec.outcome)
    return _Note(outcome, parse_template(spec.text), spec.private)


def compile_actions(playbook: Playbook, lookups: Lookups) -> _Compiled:
    """Resolve every name in the actions once; PlanError names what Halo does not have."""
    writes: list[WriteRule] = []
    close: _Close | None = None
    notes: list[_Note] = []
    for action in playbook.actions:
        writes.extend(_compile_action(playbook, action, lookups))
        if action.close is not None:
            close = _compile_close(playbook, action.close, lookups)
        if action.note is not None:
            notes.append(_compile_note(playbook, action.note, lookups))
    return _Compiled(tuple(writes), close, tuple(notes))


def _compile_action(playbook: Playbook, action: Action, lookups: Lookups) -> list[WriteRule]:
    if action.set is not None:
        return _compile_set(playbook, action.set, lookups)
    if action.recategorize is not None:
        return [_compile_recategorize(playbook, action.recategorize, lookups)]
    return []


# ---------------------------------------------------------------- planning one ticket


def _holds(ticket: Ticket, write: _Write) -> bool:
    current = ticket.get(write.field)
    if write.field == "team_id" and not (isinstance(current, int) and current > 0):
        team = ticket.get("team")  # list rows may carry only the team name
        wanted = dict(write.companions).get("team")
        return (
            isinstance(team, str)
            and isinstance(wanted, str)
            and team.casefold() == wanted.casefold()
        )
    return same(current, write.after)


def _change(
    playbook: Playbook, compiled: _Compiled, ticket: Ticket, reason: str, run_id: str
) -> TicketChange | None:
    fields: dict[str, FieldChange] = {}
    update: dict[str, JSONValue] = {}
    for rule in compiled.writes:
        write = rule(ticket)
        if write is None or _holds(ticket, write):
            continue
        for name, after in ((write.field, write.after), *write.companions):
            fields[name] = FieldChange(_json(ticket.get(name)), after)
            update[name] = after
    actions: list[ActionSpec] = []
    close = compiled.close
    closing = close is not None and not same(ticket.get("status_id"), close.status.id)
    if not fields and not closing:
        return None
    render = {"playbook": playbook.name, "run_id": run_id, "ticket": ticket}
    actions.extend(_note_spec(note, render) for note in compiled.notes)
    if close is not None and closing:
        fields["status_id"] = FieldChange(_json(ticket.get("status_id")), close.status.id)
        actions.append(_close_spec(close, render))
    return TicketChange(
        ticket_id=ticket["id"],
        client_name=str(ticket.get("client_name") or ""),
        summary=str(ticket.get("summary") or ""),
        reason=reason,
        fields=MappingProxyType(fields),
        ticket_update=MappingProxyType(update),
        actions=tuple(actions),
    )


def _note_spec(note: _Note, render: dict[str, Any]) -> ActionSpec:
    body: dict[str, JSONValue] = {
        "outcome_id": note.outcome_id,
        "note": render_template(note.text, **render),
        "hiddenfromuser": note.private,
        "sendemail": False,
    }
    return ActionSpec("note", MappingProxyType(body))


def _close_spec(close: _Close, render: dict[str, Any]) -> ActionSpec:
    body: dict[str, JSONValue] = {"outcome_id": close.outcome_id, "new_status": close.status.id}
    if close.note is not None:
        body["note"] = render_template(close.note, **render)
    body["hiddenfromuser"] = close.private
    body["sendemail"] = close.email
    return ActionSpec("close", MappingProxyType(body))


def _json(value: object) -> JSONValue:
    """A ticket value as JSON (Halo's values already are; anything else becomes text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)


# ---------------------------------------------------------------- make_plan


def make_plan(
    playbook: Playbook,
    tickets: Iterable[Ticket],
    lookups: Lookups,
    *,
    now: datetime,
    run_id: str,
    query: Mapping[str, str],
) -> Plan:
    """Plan ``playbook`` over the fetched ``tickets`` (streamed; only changes are kept)."""
    matcher = compile_where(playbook.where, now=now)
    compiled = compile_actions(playbook, lookups)
    recheck = compile_recheck(query, lookups)
    scanned = matched = ignored = 0
    seen: set[int] = set()
    changes: list[TicketChange] = []
    for ticket in tickets:
        scanned += 1
        ticket_id = ticket.get("id")
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            raise PlanError(f"playbook {playbook.name}: a ticket row has no integer id")
        if ticket_id in seen:
            continue  # a page shift can return a ticket twice; plan it once
        seen.add(ticket_id)
        if recheck(ticket) is not None:
            ignored += 1
            continue
        try:
            reason = matcher(ticket)
        except RegexTimeoutError as e:
            raise PlanError(
                f"playbook {playbook.name}: regex {e.pattern!r} on field {e.field} timed out on "
                f"ticket {ticket_id}; nothing was written (simplify the pattern)"
            ) from e
        if reason is None:
            continue
        matched += 1
        change = _change(playbook, compiled, ticket, reason, run_id)
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
    )


# ---------------------------------------------------------------- derived numbers


def client_counts(plan: Plan) -> dict[str, int]:
    """Changed tickets per client, most first."""
    counts = Counter(c.client_name for c in plan.changes)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def requests_needed(plan: Plan, batch_size: int = 50, page_size: int = 100) -> int:
    """Requests an apply sends: stale-check pages + ticket-update batches + action batches
    + one DELETE per action an undo removes."""
    changes = len(plan.changes)
    updates = sum(1 for c in plan.changes if c.ticket_update)
    actions = sum(len(c.actions) for c in plan.changes)
    removals = sum(len(c.remove_actions) for c in plan.changes)
    return (
        math.ceil(changes / page_size)
        + math.ceil(updates / batch_size)
        + math.ceil(actions / batch_size)
        + removals
    )


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


# ---------------------------------------------------------------- JSON


def plan_to_dict(plan: Plan) -> dict[str, JSONValue]:
    """The versioned, documented JSON document of a plan."""
    return {
        "format": PLAN_FORMAT,
        "version": plan.version,
        "run_id": plan.run_id,
        "playbook": plan.playbook,
        "playbook_hash": plan.playbook_hash,
        "created_at": plan.created_at,
        "mode": plan.mode,
        "undo_of": plan.undo_of,
        "halo_rules": plan.halo_rules,
        "max_changes": plan.max_changes,
        "expect_min": plan.expect_min,
        "expect_max": plan.expect_max,
        "query": dict(plan.query),
        "scanned": plan.scanned,
        "matched": plan.matched,
        "ignored_by_halo": plan.ignored_by_halo,
        "changes": [_change_to_dict(c) for c in plan.changes],
    }


def _change_to_dict(change: TicketChange) -> dict[str, JSONValue]:
    return {
        "ticket_id": change.ticket_id,
        "client_name": change.client_name,
        "summary": change.summary,
        "reason": change.reason,
        "fields": {k: {"before": v.before, "after": v.after} for k, v in change.fields.items()},
        "ticket_update": dict(change.ticket_update),
        "actions": [{"kind": a.kind, "body": dict(a.body)} for a in change.actions],
        "remove_actions": [
            {"action_id": r.action_id, "body": dict(r.body)} for r in change.remove_actions
        ],
    }


def plan_to_json(plan: Plan) -> str:
    """The plan as indented JSON text (round-trips exactly through :func:`plan_from_json`)."""
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def plan_from_json(text: str) -> Plan:
    """Read a plan document; PlanError when it is not one, or of an unknown version."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise PlanError(f"not a plan: bad JSON ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanError(f"not a plan: 'format' is not {PLAN_FORMAT!r}")
    version = doc.get("version")
    if version != PLAN_VERSION or isinstance(version, bool):
        raise PlanError(f"unsupported plan version {version!r} (this program reads {PLAN_VERSION})")
    try:
        return _plan_from_dict(doc)
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"not a valid plan document: {e}") from e


def _take(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise TypeError(f"{key!r} is {type(value).__name__}, expected {kind}")
    return value


def _opt_int(doc: Mapping[str, Any], key: str) -> int | None:
    return None if doc.get(key) is None else int(_take(doc, key, int))


def _plan_from_dict(doc: Mapping[str, Any]) -> Plan:
    query = _take(doc, "query", dict)
    if not all(isinstance(v, str) for v in query.values()):
        raise TypeError("'query' values must be text")
    undo_of = doc.get("undo_of")
    if undo_of is not None and not isinstance(undo_of, str):
        raise TypeError("'undo_of' must be text or null")
    return Plan(
        version=PLAN_VERSION,
        run_id=_take(doc, "run_id", str),
        playbook=_take(doc, "playbook", str),
        playbook_hash=_take(doc, "playbook_hash", str),
        created_at=_take(doc, "created_at", str),
        mode=_take(doc, "mode", str),
        halo_rules=_take(doc, "halo_rules", bool),
        max_changes=_take(doc, "max_changes", int),
        expect_min=_opt_int(doc, "expect_min"),
        expect_max=_opt_int(doc, "expect_max"),
        query=MappingProxyType(dict(query)),
        scanned=_take(doc, "scanned", int),
        matched=_take(doc, "matched", int),
        changes=tuple(_change_from_dict(c) for c in _take(doc, "changes", list)),
        undo_of=undo_of,
        ignored_by_halo=_take(doc, "ignored_by_halo", int) if "ignored_by_halo" in doc else 0,
    )


def _change_from_dict(doc: object) -> TicketChange:
    if not isinstance(doc, dict):
        raise TypeError("a change must be an object")
    fields = {}
    for name, pair in _take(doc, "fields", dict).items():
        if not isinstance(pair, dict) or set(pair) != {"before", "after"}:
            raise TypeError(f"field {name!r} must be {{before, after}}")
        fields[name] = FieldChange(pair["before"], pair["after"])
    actions = []
    for item in _take(doc, "actions", list):
        if not isinstance(item, dict):
            raise TypeError("an action must be an object")
        actions.append(
            ActionSpec(_take(item, "kind", str), MappingProxyType(_take(item, "body", dict)))
        )
    return TicketChange(
        ticket_id=_take(doc, "ticket_id", int),
        client_name=_take(doc, "client_name", str),
        summary=_take(doc, "summary", str),
        reason=_take(doc, "reason", str),
        fields=MappingProxyType(fields),
        ticket_update=MappingProxyType(dict(_take(doc, "ticket_update", dict))),
        actions=tuple(actions),
        remove_actions=_remove_actions(doc),
    )


def _remove_actions(doc: Mapping[str, Any]) -> tuple[RemoveAction, ...]:
    items = doc.get("remove_actions", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError("'remove_actions' must be a list of {action_id, body}")
    return tuple(
        RemoveAction(_take(i, "action_id", int), MappingProxyType(dict(_take(i, "body", dict))))
        for i in items
    )
