"""How ``show RUN`` reads for a person: the summary first, then the changes, a page of them.

First what the run was and did (status in its colour, instance, counts, the closes, notes and
field changes it wrote, tickets per client), then the per-ticket table limited to
:data:`PAGE_ROWS` tickets ("… N more ticket(s), --all for everything"). A posted action is
one readable line (``close (outcome 9, status → 9 (Closed), private, no e-mail): '…'``),
never truncated raw JSON. Ids get a name where the run's own plan document gives one: the
names its playbook wrote (``close: {status: Closed}`` names the status id every close
sets); ids the plan does not name are shown as the id alone (the journal keeps no lookups).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from halo_automate.cli.history_view import status_text
from halo_automate.cli.preview import change_lines, item_lines
from halo_automate.core.instance import describe_instance
from halo_automate.core.plan import Plan, client_counts, plan_from_json
from halo_automate.core.schema import SET_KINDS
from halo_automate.errors import HaloAutomateError
from halo_automate.sanitize import clean_text
from halo_automate.store.journal import ChangeRow, RunRow

PAGE_ROWS = 20
"""Tickets the per-ticket table of ``show`` lists without ``--all``."""

Names = Mapping[tuple[str, int], str]
"""(field, id) → the name the plan gives it."""

_STATE_STYLES = {"done": "green", "failed": "bold red", "skipped": "yellow"}


def plan_names(plan: Plan | None) -> dict[tuple[str, int], str]:
    """The names the plan's playbook wrote for the ids it sets: a target named once in the
    playbook, set to one id by every change, is that name."""
    if plan is None or not plan.playbook_source:
        return {}
    from halo_automate.core.playbook import load_playbook_text

    try:
        playbook = load_playbook_text(plan.playbook_source)
    except HaloAutomateError:
        return {}
    named: dict[str, set[str]] = {}
    for action in playbook.actions:
        spec: Any = action.spec
        if action.definition.key == "close":
            named.setdefault("status_id", set()).add(str(spec.status))
        elif action.definition.key == "set" and isinstance(spec, Mapping):
            for key, value in spec.items():
                kind = SET_KINDS.get(key)
                if kind is not None and kind.id_field and isinstance(value, str):
                    named.setdefault(kind.id_field, set()).add(value)
    afters: dict[str, set[object]] = {}
    for change in plan.changes:
        for field, fc in change.fields.items():
            afters.setdefault(field, set()).add(fc.after)
    names: dict[tuple[str, int], str] = {}
    for field, given in named.items():
        ids = afters.get(field, set())
        if len(given) == 1 and len(ids) == 1:
            [only] = ids
            if isinstance(only, int):
                names[(field, only)] = clean_text(next(iter(given)))
    return names


def _value(field: str, value: Any, names: Names) -> str:
    if isinstance(value, int) and (field, value) in names:
        return f"{value} ({names[(field, value)]})"
    if value is None or value == "":
        return "(empty)"
    text = value if isinstance(value, int | float) else json.dumps(value, default=str)
    return clean_text(str(text))


def action_text(kind: str, body: Any, names: Names) -> str:
    """A posted action as one line: its outcome, status, who sees it, e-mail, and its note."""
    if not isinstance(body, Mapping):
        return clean_text(f"{kind}: {_value('', body, names)}")
    parts = []
    if body.get("outcome_id") is not None:
        parts.append(f"outcome {body.get('outcome_id')}")
    if body.get("new_status") is not None:
        parts.append(f"status → {_value('status_id', body.get('new_status'), names)}")
    parts.append("private" if body.get("hiddenfromuser") else "visible to the user")
    parts.append("e-mails the user" if body.get("sendemail") else "no e-mail")
    note = " ".join(str(body.get("note") or "").split())
    said = f": {note[:77] + '…' if len(note) > 78 else note!r}" if note else ""
    return clean_text(f"{kind} ({', '.join(parts)}){said}")


def _when(when: datetime | str) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S}" if isinstance(when, datetime) else clean_text(when)


def _did(rows: Sequence[ChangeRow], names: Names) -> list[str]:
    """What the run wrote, counted from its journaled rows (done ones)."""
    done = [r for r in rows if r.state == "done"]
    kinds = Counter(r.label.split(":")[0] if r.label.startswith("action") else r.label
                    for r in done)  # fmt: skip
    actions = Counter(r.field for r in done if r.label.startswith("action:"))
    parts = [
        f"closed {n} ticket(s)" if kind == "close" else f"posted {n} {kind} action(s)"
        for kind, n in sorted(actions.items())
    ]
    if kinds.get("action-delete"):
        parts.append(f"deleted {kinds['action-delete']} action(s)")
    for field in sorted(k for k in kinds if not k.startswith("action")):
        moves = Counter((r.before, r.after) for r in done if r.label == field)
        common = ", ".join(
            f"{_value(field, b, names)} → {_value(field, a, names)} ×{n}"
            for (b, a), n in moves.most_common(3)
        )
        more = ", …" if len(moves) > 3 else ""
        parts.append(f"{field} changed on {kinds[field]} ticket(s) ({common}{more})")
    return parts or ["nothing written"]


def _summary(console: Console, run: RunRow, rows: Sequence[ChangeRow], plan: Plan | None,
             names: Names, undone_by: Sequence[str]) -> None:  # fmt: skip
    c = run.counts
    head = Text(f"run {run.run_id} · {clean_text(run.playbook)} · {run.mode} · ")
    head.append_text(status_text(run.status))
    console.print(head)
    say = [
        clean_text(
            f"on instance {run.instance_name}: "
            f"{run.instance_identity or 'identity not recorded (a run before instances)'}"
        ),
        f"started {_when(run.started_at)} by {clean_text(run.started_by)} "
        f"({clean_text(run.trigger)})" + (f"  undo of {run.undo_of}" if run.undo_of else ""),
        f"scanned {c.scanned}, matched {c.matched}, planned {c.planned}, done {c.done}, "
        f"skipped {c.skipped}, failed {c.failed}, requests {c.requests}",
    ]
    width = console.width
    if rows:
        say.extend(item_lines("did: ", _did(rows, names), width, "; "))
    if plan is not None and plan.changes:
        per_client = client_counts(plan)
        shown = [f"{clean_text(n) or '(no client)'} {k}" for n, k in list(per_client.items())[:8]]
        if len(per_client) > 8:
            shown.append(f"… {len(per_client) - 8} more")
        say.extend(item_lines("per client: ", shown, width))
    if undone_by:
        say.append(f"undone by run {', '.join(undone_by)}")
    instance = describe_instance(run.instance)
    if instance:
        say.append(f"instance: {instance}")
    if run.message:
        say.append(f"message: {clean_text(run.message)}")
    for line in say:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _what(r: ChangeRow, names: Names) -> str:
    if r.label.startswith("action:"):
        what = action_text(r.field, r.after, names)
    elif r.label.startswith("action-delete:"):
        what = action_text("deleted", r.before, names)
    else:
        what = f"{r.field}: {_value(r.field, r.before, names)} → {_value(r.field, r.after, names)}"
    extra = [clean_text(r.message)] if r.message else []
    if r.action_ids:
        extra.append(f"action id(s) {', '.join(map(str, r.action_ids))}")
    return " · ".join([what, *extra])


def by_ticket(rows: Sequence[ChangeRow]) -> list[list[ChangeRow]]:
    """The journal's rows grouped per ticket, in the order the tickets first appear."""
    groups: dict[int, list[ChangeRow]] = {}
    for r in rows:
        groups.setdefault(r.ticket_id, []).append(r)
    return list(groups.values())


def _changes_table(tickets: Sequence[Sequence[ChangeRow]], names: Names) -> Table:
    table = Table(title="changes, per ticket", title_justify="left", show_lines=True,
                  box=box.SIMPLE_HEAD)  # fmt: skip
    table.add_column("ticket", justify="right", no_wrap=True)
    table.add_column("what", overflow="fold")
    table.add_column("state", no_wrap=True)
    for rows in tickets:
        states = list(dict.fromkeys(r.state for r in rows))
        state = Text()
        for i, one in enumerate(states):
            state.append(("\n" if i else "") + one, style=_STATE_STYLES.get(one, ""))
        what = "\n".join(clean_text(_what(r, names)) for r in rows)
        table.add_row(str(rows[0].ticket_id), what, state)
    return table


def show_run(
    console: Console,
    run: RunRow,
    rows: Sequence[ChangeRow],
    plan_json: str | None = None,
    undone_by: Sequence[str] = (),
    *,
    all_rows: bool = False,
) -> None:
    """One run, summary first; then its changes (the first :data:`PAGE_ROWS` unless
    ``all_rows``); with none written, what its plan (``plan_json``) held."""
    plan = plan_from_json(plan_json) if plan_json else None
    names = plan_names(plan)
    _summary(console, run, rows, plan, names, undone_by)
    tickets = by_ticket(rows)
    limit = len(tickets) if all_rows else PAGE_ROWS
    if rows:
        console.print(_changes_table(tickets[:limit], names))
        if len(tickets) > limit:
            more = len(tickets) - limit
            console.print(f"… {more} more ticket(s), --all for everything", highlight=False)
    elif plan is not None:
        console.print(f"{len(plan.changes)} change(s) in the plan (nothing written):")
        changes = plan.changes if all_rows else plan.changes[:PAGE_ROWS]
        for change in changes:
            summary = clean_text(change.summary)
            console.print(f"  #{change.ticket_id} {summary}", highlight=False, markup=False)
            for line in change_lines(change):
                console.print(f"      {clean_text(line)}", highlight=False, markup=False)
        if len(plan.changes) > len(changes):
            more = len(plan.changes) - len(changes)
            console.print(f"… {more} more, --all for everything", highlight=False)
