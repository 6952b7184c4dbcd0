"""Why a playbook would (or would not) change one ticket: ``halo-automate explain``.

:func:`explain` takes a playbook, one ticket, the lookups and ``now`` and answers, purely:
each ``select`` filter with the ticket's value and its verdict (the client-side re-check of
:mod:`halo_automate.core.selection`, filter by filter), each ``where`` node with the value it
reads and its three-valued verdict (true / false / unknown, :mod:`halo_automate.core.conditions`),
and then the decision. The decision is :func:`~halo_automate.core.plan.make_plan` over this one
ticket, so what ``explain`` says is what a run would do: the change (fields before → after,
actions to post), or why not ("already Closed", "select filter open_only excludes it: …",
"not evaluated: …", "the where conditions are false: …").

Pure: no I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from halo_automate.core.changes import TicketChange
from halo_automate.core.conditions import Check, Group, Node, compile_where, describe
from halo_automate.core.lookups import Lookups
from halo_automate.core.operators import Unknown, field_kind, read_field
from halo_automate.core.plan import make_plan
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import ID_FIELDS, SELECT_NAMED
from halo_automate.core.selection import RECHECKED_PARAMS, build_query, is_closed, recheck
from halo_automate.sanitize import clean_text

RUN_ID = "explain"


class Verdict(StrEnum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not checked"
    """A select filter whose meaning the re-check does not know (Halo alone applies it)."""


@dataclass(frozen=True)
class Line:
    """One select filter or where node, the ticket's value it reads, and its verdict."""

    label: str
    value: str
    verdict: Verdict
    why: str = ""
    depth: int = 0


@dataclass(frozen=True)
class Explanation:
    """Everything ``explain`` shows about one ticket under one playbook."""

    playbook: str
    ticket_id: int
    summary: str
    filters: tuple[Line, ...]
    conditions: tuple[Line, ...]
    change: TicketChange | None
    why_not: str | None
    """None when the ticket gets ``change``; else why it gets nothing."""


def _shown(value: object, field: str | None, lookups: Lookups) -> str:
    if isinstance(value, Unknown):
        return f"unknown ({value.why})"
    if value is None:
        return "(unset)"
    kind = ID_FIELDS.get(field) if field else None
    name = lookups.table(kind.kind).name_of(value) if kind and isinstance(value, int) else None
    text = clean_text(repr(value))
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{text} ({name})" if name else text


def _filter_field(name: str) -> str | None:
    kind = SELECT_NAMED.get(name)
    if kind is not None:
        return kind.id_field
    if name in ("open_only", "closed_only"):
        return "status_id"
    if name in ("ticketids", "excludethese"):
        return "id"
    if name == "team_name":
        return "team"
    if name in ("search", "search_summary"):
        return "summary"
    return {"search_details": "details", "search_user_name": "user_name"}.get(name, name)


def filter_lines(
    query: Mapping[str, str], ticket: Mapping[str, Any], lookups: Lookups
) -> list[Line]:
    """Each filter of the resolved ``select`` query, re-checked alone against the ticket."""
    lines = []
    for name, text in query.items():
        field = _filter_field(name)
        value = _shown(ticket.get(field) if field else None, field, lookups)
        label = f"{name}={text}"
        if name not in RECHECKED_PARAMS:
            lines.append(Line(label, value, Verdict.NOT_CHECKED, "Halo applies it; not re-checked"))
            continue
        try:
            reason = recheck({name: text}, ticket, lookups)
        except (ValueError, TypeError) as e:
            lines.append(Line(label, value, Verdict.UNKNOWN, f"{type(e).__name__}: {e}"))
            continue
        verdict = Verdict.TRUE if reason is None else Verdict.FALSE
        lines.append(Line(label, value, verdict, reason or ""))
    return lines


def _verdict(node: Node, ticket: Mapping[str, Any], now: datetime) -> tuple[Verdict, str]:
    try:
        result = compile_where(node, now=now)(ticket)
    except (ValueError, TypeError, UnicodeError, OverflowError) as e:
        return Verdict.UNKNOWN, f"{type(e).__name__}: {e}"
    if isinstance(result, Unknown):
        return Verdict.UNKNOWN, result.why
    return (Verdict.FALSE, "") if result is None else (Verdict.TRUE, "")


def condition_lines(
    node: Node | None, ticket: Mapping[str, Any], lookups: Lookups, now: datetime, depth: int = 0
) -> list[Line]:
    """Each node of the ``where`` tree (groups, then their children indented) and its verdict."""
    if node is None:
        return [Line("(no where: every selected ticket)", "", Verdict.TRUE)]
    verdict, why = _verdict(node, ticket, now)
    if isinstance(node, Check):
        kind = field_kind(node.field) or "other"
        value = _shown(read_field(node.field, kind, ticket), node.field, lookups)
        return [Line(node.label, value, verdict, why, depth)]
    label = {"all": "all of", "any": "any of", "not": "none of"}[node.kind]
    lines = [Line(label, "", verdict, why, depth)]
    for child in node.children:
        lines += condition_lines(child, ticket, lookups, now, depth + 1)
    return lines


def _first_false(node: Node, ticket: Mapping[str, Any], now: datetime) -> str:
    """The deepest node that makes a false tree false (what to read first)."""
    if isinstance(node, Group) and node.kind == "all":
        for child in node.children:
            if _verdict(child, ticket, now)[0] is Verdict.FALSE:
                return _first_false(child, ticket, now)
    return describe(node)


def _closes(playbook: Playbook) -> bool:
    """Whether the playbook closes tickets (a ``close`` action, or ``set: status``)."""
    return any(
        a.kind == "close"
        or (a.kind == "set" and isinstance(a.spec, Mapping) and "status" in a.spec)
        for a in playbook.actions
    )


def explain(
    playbook: Playbook, ticket: Mapping[str, Any], lookups: Lookups, *, now: datetime
) -> Explanation:
    """Why ``playbook`` would (or would not) change ``ticket``, as a run at ``now`` would plan it.
    PlanError when the playbook's names do not resolve against ``lookups``."""
    query = build_query(playbook.select, lookups)
    filters = filter_lines(query, ticket, lookups)
    conditions = condition_lines(playbook.where, ticket, lookups, now)
    plan = make_plan(playbook, [ticket], lookups, now=now, run_id=RUN_ID, query=query)
    closed = is_closed(ticket, lookups)
    why_not: str | None = None
    change = plan.changes[0] if plan.changes else None
    if plan.ignored_by_halo:
        failed = next(f for f in filters if f.verdict is Verdict.FALSE)
        name = failed.label.partition("=")[0]
        why_not = f"select filter {name} excludes it: {failed.why}"
        if closed and name == "open_only":
            why_not = f"already Closed ({why_not})"
    elif plan.not_evaluated:
        why_not = f"not evaluated: {plan.not_evaluated[0].why}"
    elif change is None and plan.matched and playbook.group is not None:
        why_not = (
            "it matches; whether it is a duplicate depends on the other tickets of its group "
            f"(group: {', '.join(n for n, _ in playbook.group.parts())}): "
            f"see `halo-automate plan {playbook.name}`"
        )
    elif change is None and plan.matched:
        why_not = (
            "already Closed"
            if closed and _closes(playbook)
            else "it matches, but already holds every value the actions set"
        )
    elif change is None and playbook.where is not None:
        why_not = f"the where conditions are false: {_first_false(playbook.where, ticket, now)}"
    return Explanation(
        playbook=playbook.name,
        ticket_id=int(ticket.get("id") or 0),
        summary=clean_text(str(ticket.get("summary") or "")),
        filters=tuple(filters),
        conditions=tuple(conditions),
        change=change,
        why_not=why_not,
    )
