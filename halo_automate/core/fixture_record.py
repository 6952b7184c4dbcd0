"""A playbook test fixture recorded from live tickets (``halo-automate record``).

The command reads the tickets and lookup lists; this module turns them into the text of a
fixture (docs/testing-playbooks.md) whose expectation is the plan as it stands, for a person to
review and commit. Pure: the clock and the rows come in, text comes out.

* **Small rows.** A Halo ticket row has a hundred keys; the fixture keeps the ones planning
  reads (``id``, ``summary``, the client, the status, every field the ``where`` names, the
  ``select``'s fields, the fields the plan changes; for a ``group:`` playbook its key fields,
  ``dateoccurred``, ``parent_id`` and ``merged_into_id``). The trimmed rows are planned again
  and any ticket whose change is not exactly the live one keeps its whole row, so the fixture
  always reproduces the live plan.
* **Anonymised on request** (:mod:`halo_automate.core.anonymize`): names, e-mail local parts
  and free text are replaced, and the expectation is the plan of the rows *as written*; a
  ticket whose verdict anonymising changed is reported, so nobody commits a fixture that
  silently tests something else.
* **Names over ids** in the expectation where a lookup names the value (``status: Closed``),
  as people write fixtures by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from halo_automate.core.anonymize import Pseudonymizer
from halo_automate.core.changes import JSONValue, Plan, TicketChange
from halo_automate.core.conditions import fields_of
from halo_automate.core.fixture_run import notes_of
from halo_automate.core.fixture_sample import SAMPLE_LOOKUPS
from halo_automate.core.groups import DATE, MERGED, PARENT
from halo_automate.core.lookups import Lookups, kind_table
from halo_automate.core.plan import make_plan, needed_lookups
from halo_automate.core.playbook import Playbook
from halo_automate.core.schema import ID_FIELDS, SELECT_NAMED, lookup_kind
from halo_automate.core.selection import build_query

BASE_KEYS = ("id", "summary", "client_id", "client_name", "status_id")
"""Kept in every recorded row: what identifies a ticket to the person reading the fixture."""
COMMON_KEYS = (
    "user_email", "agent_id", "team_id", "team", "tickettype_id", "priority_id",
    "dateoccurred", "lastactiondate", "last_update",
)  # fmt: skip
"""Kept where present: fields Halo's list rows carry that selections and conditions often read."""
GROUP_KEYS = (DATE, PARENT, MERGED)
"""Kept for a ``group:`` playbook, with its ``by`` fields: the survivors' rows need them too."""
PERSON_LOOKUPS = ("agents", "clients")
"""Lookup lists whose names are people or customers (replaced when anonymising)."""


@dataclass(frozen=True)
class Recording:
    """A recorded fixture: its text, and what the command reports about it."""

    text: str
    tickets: int
    changes: int
    full_rows: tuple[int, ...]
    """Tickets kept whole because a trimmed row planned differently."""
    differs_after_anonymizing: tuple[int, ...]
    """Tickets whose change differs from the live one in what it touches (or whether there is
    one): after anonymising, their expectation follows the anonymised rows."""
    replaced_words: int


def _signature(change: TicketChange | None) -> object:
    if change is None:
        return None
    return (
        sorted((k, repr(v.before), repr(v.after)) for k, v in change.fields.items()),
        [(a.kind, sorted((k, repr(v)) for k, v in a.body.items())) for a in change.actions],
    )


def _plan(
    playbook: Playbook, rows: Iterable[Mapping[str, Any]], lookups: Lookups, now: datetime
) -> Plan:
    query = build_query(playbook.select, lookups)
    return make_plan(playbook, rows, lookups, now=now, run_id="record", query=query)


def _fields_of(change: TicketChange | None) -> frozenset[str] | None:
    """What a ticket's change touches (None: no change): anonymising may change note text
    and names, never which fields change."""
    return None if change is None else frozenset(change.fields) | {a.kind for a in change.actions}


def _by_ticket(plan: Plan) -> dict[int, TicketChange]:
    return {c.ticket_id: c for c in plan.changes}


def kept_keys(playbook: Playbook, plan: Plan) -> set[str]:
    """The row keys a trimmed row keeps for ``playbook`` (see the module docstring)."""
    keys = set(BASE_KEYS) | set(COMMON_KEYS)
    keys |= {name.split(".")[0] for name in fields_of(playbook.where)}
    for name in playbook.select:
        keys.add(name)
        kind = SELECT_NAMED.get(name)
        if kind is not None:
            keys |= {k for k in (kind.id_field, kind.name_field) if k}
    for change in plan.changes:
        keys |= set(change.fields)
    if playbook.group is not None:  # what grouping reads (core/groups.py)
        keys |= {name for name, _ in playbook.group.parts()} | set(GROUP_KEYS)
    return keys


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _trim(row: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in keys}


def lookup_rows(lookups: Lookups, kinds: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The fixture's ``lookups:`` lists for ``kinds``: id and name (and scope) per item."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in sorted(kinds):
        row = lookup_kind(kind)
        table = lookups.table(kind)
        items: list[dict[str, Any]] = []
        for item in sorted(table.items, key=lambda i: i.id):
            entry: dict[str, Any] = {row.id_key: item.id, row.name_key: item.name}
            for scope in table.scopes_of(item.id) if row.scope_key else ():
                items.append({**entry, row.scope_key or "": scope})
            if not (row.scope_key and table.scopes_of(item.id)):
                items.append(entry)
        if items:
            out[kind] = items
    return out


def _fixture_lookups(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> Lookups:
    merged = {**SAMPLE_LOOKUPS, **rows}
    return Lookups({k: kind_table(lookup_kind(k), v) for k, v in merged.items()})


def _expected(change: TicketChange, lookups: Lookups) -> dict[str, JSONValue]:
    """The fields after a change, by name where a lookup names the value."""
    out: dict[str, JSONValue] = {}
    done: set[str] = set()
    for name, field in change.fields.items():
        kind = ID_FIELDS.get(name)
        label = (
            lookups.table(kind.kind).name_of(field.after)
            if kind is not None and isinstance(field.after, int)
            else None
        )
        if kind is not None and kind.set_key and label is not None:
            out[kind.set_key] = label
            done.add(kind.set_key)
            continue
        if any(k.name_field == name and k.set_key in done for k in ID_FIELDS.values()):
            continue
        out[name] = field.after
    return out


def _flow(value: object) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=1 << 20
    )
    return text.strip().removesuffix("...").strip()


def playbook_ref(playbook: Playbook, out: Path) -> str:
    """How the fixture at ``out`` names its playbook: the name when it sits beside it (or in
    ``tests/`` beside it), else a path relative to the fixture."""
    folder = Path(playbook.path).parent.resolve()
    here = out.parent.resolve()
    if here in (folder, folder / "tests"):
        return playbook.name
    return Path(os.path.relpath(Path(playbook.path).resolve(), here)).as_posix()


def record(
    playbook: Playbook,
    tickets: Sequence[Mapping[str, Any]],
    lookups: Lookups,
    *,
    now: datetime,
    out: Path,
    source: str,
    anonymize: Pseudonymizer | None = None,
) -> Recording:
    """The fixture text for ``playbook`` over the live ``tickets`` and ``lookups``."""
    live_plan = _plan(playbook, tickets, lookups, now)
    live = _by_ticket(live_plan)
    rows_by_kind = lookup_rows(lookups, needed_lookups(playbook) | {"statuses"})
    keys = kept_keys(playbook, live_plan)
    rows = [_trim(t, keys) for t in tickets]
    trimmed = _by_ticket(_plan(playbook, rows, _fixture_lookups(rows_by_kind), now))
    full = tuple(
        int(t["id"])
        for t in tickets
        if _signature(trimmed.get(int(t["id"]))) != _signature(live.get(int(t["id"])))
    )
    rows = [dict(t) if int(t["id"]) in full else r for t, r in zip(tickets, rows, strict=True)]
    if anonymize is not None:
        rows = [anonymize.row(r) for r in rows]
        for kind in PERSON_LOOKUPS:
            name_key = lookup_kind(kind).name_key
            for item in rows_by_kind.get(kind, []):
                item[name_key] = anonymize.text(str(item[name_key]))
    fixture_lookups = _fixture_lookups(rows_by_kind)
    written = _by_ticket(_plan(playbook, rows, fixture_lookups, now))
    differs = tuple(
        int(r["id"])
        for r in rows
        if _fields_of(written.get(int(r["id"]))) != _fields_of(live.get(int(r["id"])))
    )
    text = _render(playbook, rows, rows_by_kind, written, fixture_lookups, now, out, source)
    return Recording(
        text=text,
        tickets=len(rows),
        changes=len(written),
        full_rows=full,
        differs_after_anonymizing=differs,
        replaced_words=len(anonymize.replaced) if anonymize is not None else 0,
    )


def _render(
    playbook: Playbook,
    rows: Sequence[Mapping[str, Any]],
    lookup_lists: Mapping[str, Sequence[Mapping[str, Any]]],
    changes: Mapping[int, TicketChange],
    lookups: Lookups,
    now: datetime,
    out: Path,
    source: str,
) -> str:
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"# Recorded by `halo-automate record` from {source} at {stamp}.",
        "# The expectation is the plan as it stood then: review it before committing.",
        f"playbook: {_flow(playbook_ref(playbook, out))}",
        f"now: {stamp}",
    ]
    if lookup_lists:
        lines.append("lookups:")
        for kind, items in lookup_lists.items():
            lines.append(f"  {kind}:")
            lines += [f"    - {_flow(dict(item))}" for item in items]
    lines.append("tickets:")
    lines += [f"  - {_flow({k: v for k, v in row.items()})}" for row in rows]
    lines.append("expect:")
    if changes:
        lines.append("  changes:")
        for ticket_id, change in sorted(changes.items()):
            lines.append(f"    {ticket_id}: {_flow(_expected(change, lookups))}")
    lines.append("  others_unchanged: true")
    notes = {tid: notes_of(c) for tid, c in sorted(changes.items()) if notes_of(c)}
    if notes:
        lines.append(f"  notes: {_flow(notes)}")
    return "\n".join(lines) + "\n"
