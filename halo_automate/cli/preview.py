"""Show a plan: a rich table of changes with totals, or the versioned JSON document.

Every ticket-supplied string passes :func:`~halo_automate.sanitize.clean_text` before it
reaches the terminal (a plan read from a file may hold anything): a summary's ANSI escapes
could otherwise repaint the preview the user approves. Tickets the plan could not evaluate are
listed ("not evaluated: ...") with their count: they are never written.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from halo_automate.core import plan_notes
from halo_automate.core.conditions import NO_CONDITIONS
from halo_automate.core.lookups import Lookups
from halo_automate.core.plan import (
    ActionSpec,
    JSONValue,
    Plan,
    TicketChange,
    apply_requests_needed,
    client_counts,
    plan_to_dict,
    seconds_needed,
)
from halo_automate.core.schema import ID_FIELDS
from halo_automate.halo.ratelimit import WindowState, estimate_seconds
from halo_automate.sanitize import clean_text

_SUMMARY_WIDTH = 60
_NOTE_WIDTH = 60


def plan_document(plan: Plan) -> dict[str, JSONValue]:
    """The documented, versioned JSON document of a plan (what ``plan_to_json`` writes)."""
    return plan_to_dict(plan)


def show_value(field: str, value: JSONValue, lookups: Lookups | None = None) -> str:
    """A value for people: ids of lookup fields get their name, ``1 (New)``."""
    text = (
        "(empty)"
        if value is None or value == ""
        else repr(value)
        if isinstance(value, str)
        else str(value)
    )
    kind = ID_FIELDS.get(field)
    if lookups is not None and kind is not None and isinstance(value, int):
        name = lookups.table(kind.kind).name_of(value)
        if name is not None:
            return f"{value} ({name})"
    return text


def item_lines(head: str, items: Sequence[str], width: int, sep: str = ", ") -> list[str]:
    """``head`` and ``items`` joined by ``sep``, wrapped to ``width`` only between items (a
    client name is never broken); continuation lines indented by two spaces."""
    lines: list[str] = []
    line = head
    for i, item in enumerate(items):
        piece = item + (sep.rstrip() if i < len(items) - 1 else "")
        candidate = line + piece if i == 0 else f"{line} {piece}"
        if i and len(candidate) > width:
            lines.append(line)
            line = "  " + piece
        else:
            line = candidate
    lines.append(line)
    return lines


def _clip(text: str, width: int) -> str:
    text = " ".join(clean_text(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _action_line(action: ActionSpec, lookups: Lookups | None) -> str:
    body = action.body
    outcome = body.get("outcome_id")
    name = lookups.outcomes.name_of(outcome) if lookups and isinstance(outcome, int) else None
    via = f"outcome {outcome}" + (f" {name}" if name else "")
    flags = ["private" if body.get("hiddenfromuser") else "visible to user"]
    if body.get("sendemail"):
        flags.append("e-mails the user")
    note = body.get("note")
    said = f": {_clip(str(note), _NOTE_WIDTH)!r}" if note else ""
    return f"+ {action.kind} ({via}, {', '.join(flags)}){said}"


def change_lines(change: TicketChange, lookups: Lookups | None = None) -> list[str]:
    """One line per field change (``before → after``) and per action."""
    lines = [
        f"{name}: {show_value(name, fc.before, lookups)} → {show_value(name, fc.after, lookups)}"
        for name, fc in change.fields.items()
    ]
    lines.extend(_action_line(a, lookups) for a in change.actions)
    for removal in change.remove_actions:
        note = removal.body.get("note")
        said = f": {_clip(str(note), _NOTE_WIDTH)!r}" if note else ""
        lines.append(f"- delete action {removal.action_id}{said}")
    return lines


def changes_table(
    plan: Plan, lookups: Lookups | None, max_rows: int, width: int | None = None
) -> Table:
    """The table of a plan's changes (an undo's is titled as the undo of its run). A
    playbook without ``where:`` matches every selected ticket: its rows would all say so, so
    the "Matched because" column is left out (:func:`render_plan` says it once). Narrower
    than :data:`NARROW` columns, client and summary share one column."""
    title = f"{plan.playbook}: plan {plan.run_id}"
    if plan.mode == "undo":
        title = f"{plan.playbook}: undo of run {plan.undo_of} (as run {plan.run_id})"
    table = Table(title=clean_text(title), show_lines=True)
    because = not _all_unconditional(plan)
    narrow = width is not None and width < NARROW
    columns = ["Ticket", "Client / summary"] if narrow else ["Ticket", "Client", "Summary"]
    columns += ["Changes", "Matched because"] if because else ["Changes"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for change in plan.changes[:max_rows]:
        client = clean_text(change.client_name)
        summary = _clip(change.summary, _SUMMARY_WIDTH)
        cells = [Text(str(change.ticket_id))]
        cells += [Text(f"{client}\n{summary}")] if narrow else [Text(client), Text(summary)]
        cells.append(Text(clean_text("\n".join(change_lines(change, lookups)))))
        if because:
            cells.append(Text(clean_text(change.reason)))
        table.add_row(*cells)
    return table


NARROW = 100
"""Below this many columns the preview puts client and summary in one column."""


_EVERY_TICKET = (
    "Every selected ticket matched (the playbook has no where:); the changes are what its "
    "actions make of each."
)


def _all_unconditional(plan: Plan) -> bool:
    return bool(plan.changes) and all(c.reason == NO_CONDITIONS for c in plan.changes)


def json_hint(plan: Plan) -> str:
    """The command that prints every change of ``plan`` (the JSON document)."""
    if plan.mode == "undo":
        return f"halo-automate undo {plan.undo_of} --json"
    return f"halo-automate plan {plan.playbook} --json"


def render_plan(
    plan: Plan,
    console: Console,
    *,
    lookups: Lookups | None = None,
    max_rows: int = 50,
    batch_size: int = 50,
    page_size: int = 100,
    rate_requests: int = 300,
    rate_seconds: float = 300.0,
    budget_now: WindowState | None = None,
) -> None:
    """Print the plan's changes (at most ``max_rows``) and its totals to ``console``."""
    if plan.changes:
        console.print(changes_table(plan, lookups, max_rows, console.width))
        if _all_unconditional(plan):
            console.print(Text(_EVERY_TICKET))
        hidden = len(plan.changes) - max_rows
        if hidden > 0:
            more = f"… and {hidden} more change(s) not shown (all of them: {json_hint(plan)})"
            console.print(Text(clean_text(more)))
    else:
        console.print(Text(clean_text(f"{plan.playbook}: nothing to change.")))
    for line in plan_notes.group_lines(plan, max_rows):  # duplicate groups (issue 18)
        console.print(Text(line))
    for line in not_evaluated_lines(plan, max_rows):
        console.print(Text(line))
    for warning in plan.warnings:
        console.print(Text(clean_text(f"warning: {warning}")))
    for line in totals_lines(
        plan,
        batch_size=batch_size,
        page_size=page_size,
        rate_requests=rate_requests,
        rate_seconds=rate_seconds,
        budget_now=budget_now,
        width=console.width,
    ):
        console.print(Text(line))


def not_evaluated_lines(plan: Plan, max_rows: int = 50) -> list[str]:
    """One line per ticket the plan could not evaluate (at most ``max_rows``), sanitised."""
    lines = [
        clean_text(f"#{n.ticket_id} {_clip(n.summary, _SUMMARY_WIDTH)!r}: not evaluated: {n.why}")
        for n in plan.not_evaluated[:max_rows]
    ]
    hidden = len(plan.not_evaluated) - max_rows
    if hidden > 0:
        lines.append(
            clean_text(f"… and {hidden} more not evaluated (all of them: {json_hint(plan)})")
        )
    return lines


def totals_lines(
    plan: Plan,
    *,
    batch_size: int = 50,
    page_size: int = 100,
    rate_requests: int = 300,
    rate_seconds: float = 300.0,
    budget_now: WindowState | None = None,
    width: int | None = None,
) -> list[str]:
    """The totals under the table, as plain lines (the per-client list wrapped between
    clients to ``width``, never inside a name).

    With ``budget_now`` (the shared request budget as it is now: slots other processes hold,
    a 429 pause) the time is estimated at that budget; without it, the least time Halo's
    rate limit allows."""
    actions = sum(len(c.actions) for c in plan.changes)
    updates = sum(1 for c in plan.changes if c.ticket_update)
    what = [f"{actions} action(s)"] if actions else []
    if updates and not actions:
        what.append(f"{updates} field update(s), no actions")
    elif updates:
        what.append(f"{updates} field update(s)")
    lines = [
        f"Scanned {plan.scanned}, matched {plan.matched}, to change {len(plan.changes)} "
        f"ticket(s) ({', '.join(what) or 'nothing'}); ignored by Halo (failed the select "
        f"re-check): {plan.ignored_by_halo}",
    ]
    if plan.not_evaluated:
        lines.append(
            f"Not evaluated (odd data; never written): {len(plan.not_evaluated)} ticket(s)"
        )
    per_client = client_counts(plan)
    if per_client:
        shown = [f"{name or '(no client)'} {n}" for name, n in per_client.items()]
        lines.extend(item_lines("Per client: ", shown, width or 10**6))
    requests = apply_requests_needed(plan, batch_size=batch_size, page_size=page_size)
    if budget_now is not None:
        lines.append(_estimate_line(requests, rate_requests, rate_seconds, budget_now))
    else:
        seconds = seconds_needed(plan, requests, rate_requests, rate_seconds)
        lines.append(
            f"Apply needs {requests} request(s); Halo's rate limit ({rate_requests} per "
            f"{rate_seconds:g}s) makes that take at least {duration(seconds)}"
        )
    lines.extend(plan_notes.notes(plan))  # e-mails sent, custom field reads (issue 18)
    lines.extend(_limit_lines(plan))
    return lines


def _estimate_line(requests: int, limit: int, per_seconds: float, now: WindowState) -> str:
    """ "Apply needs 269 request(s): about 4m 8s at the current budget (...)"."""
    seconds = estimate_seconds(requests, limit, per_seconds, now.used, now.paused_until)
    busy = f", {now.used} in use now" if now.used else ""
    paused = f", paused {duration(now.paused_until)} after a 429" if now.paused_until else ""
    return (
        f"Apply needs {requests} request(s): about {duration(seconds)} at the current budget "
        f"({limit} per {per_seconds:g}s for every process{busy}{paused})"
    )


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _limit_lines(plan: Plan) -> list[str]:
    lines = []
    if len(plan.changes) > plan.max_changes:
        lines.append(
            f"REFUSED: {len(plan.changes)} changes exceed limits.max_changes {plan.max_changes}"
        )
    low, high = plan.expect_min, plan.expect_max
    if (low is not None and plan.matched < low) or (high is not None and plan.matched > high):
        lines.append(f"REFUSED: {plan.matched} matched is outside expect {_bounds(low, high)}")
    return lines


def _bounds(low: int | None, high: int | None) -> str:
    return f"{'' if low is None else low}..{'' if high is None else high}"
