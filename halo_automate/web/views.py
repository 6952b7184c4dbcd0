"""What the console's pages show, computed from the journal and the plan documents (no HTTP).

A run's page lists one line per field or action of each ticket: the plan document gives the
client, the summary, the values before and after and why the ticket matched; the journal's
change rows give what became of each write (done, skipped, failed and why). A preview, a
refused run or a run waiting for approval wrote nothing: its lines come from its plan alone,
state "planned". The filters (free text, client, field) and the paging are here, so a test
can pin them without a browser.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from halo_automate.core.changes import Plan, TicketChange
from halo_automate.core.plan import plan_from_json
from halo_automate.core.plan_notes import group_lines
from halo_automate.errors import PlanError
from halo_automate.sanitize import clean_text
from halo_automate.store.journal import ChangeKind, ChangeRow, RunRow

MAX_VALUE = 160


def show_value(value: Any) -> str:
    """A value as a cell shows it: strings as they are, the rest as JSON; long ones cut."""
    if value is None or value == "":
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = clean_text(text)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def when(value: datetime | str | None) -> str:
    """A journal date for a page (UTC, to the second); stored text that is no date as it is."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return clean_text(value)


@dataclass(frozen=True)
class ChangeLine:
    """One row of a run's changes table."""

    ticket_id: int
    client: str
    summary: str
    field: str
    before: str
    after: str
    state: str
    reason: str
    message: str = ""

    def matches(self, text: str) -> bool:
        needle = text.casefold()
        return any(
            needle in part.casefold()
            for part in (str(self.ticket_id), self.client, self.summary, self.field, self.reason)
        )


@dataclass(frozen=True)
class LogLine:
    level: str
    text: str


@dataclass
class RunView:
    """A run's page: the run row, its lines (all of them), and its log."""

    run: RunRow
    plan: Plan | None
    lines: list[ChangeLine]
    log: list[LogLine] = field(default_factory=list)

    @property
    def clients(self) -> list[str]:
        return sorted({line.client for line in self.lines if line.client})

    @property
    def fields(self) -> list[str]:
        return sorted({line.field for line in self.lines})

    @property
    def tickets(self) -> int:
        return len({line.ticket_id for line in self.lines})

    def filtered(self, text: str = "", client: str = "", field: str = "") -> list[ChangeLine]:
        return [
            line
            for line in self.lines
            if (not text or line.matches(text))
            and (not client or line.client == client)
            and (not field or line.field == field)
        ]


def read_plan(text: str | None) -> Plan | None:
    """The plan document a run journaled, or None (none, or one that no longer reads)."""
    if not text:
        return None
    try:
        return plan_from_json(text)
    except PlanError:
        return None


def change_lines(change: TicketChange, state: str = "planned") -> list[ChangeLine]:
    """The lines of one planned ticket change: one per field, one per action posted or removed."""
    client, summary = clean_text(change.client_name), clean_text(change.summary)
    reason = clean_text(change.reason)
    lines = [
        ChangeLine(
            change.ticket_id,
            client,
            summary,
            name,
            show_value(fc.before),
            show_value(fc.after),
            state,
            reason,
        )
        for name, fc in change.fields.items()
    ]
    lines += [
        ChangeLine(
            change.ticket_id,
            client,
            summary,
            f"action:{action.kind}",
            "—",
            show_value(action.body.get("note") or dict(action.body)),
            state,
            reason,
        )
        for action in change.actions
    ]
    lines += [
        ChangeLine(
            change.ticket_id,
            client,
            summary,
            f"action-delete:{removal.action_id}",
            show_value(removal.body.get("note") or dict(removal.body)),
            "—",
            state,
            reason,
        )
        for removal in change.remove_actions
    ]
    return lines


def _journal_key(row: ChangeRow) -> tuple[int, str]:
    if row.kind is ChangeKind.ACTION_DELETE:
        return row.ticket_id, f"action-delete:{row.action_id}"
    if row.kind is ChangeKind.ACTION:
        return row.ticket_id, f"action:{row.field}"
    return row.ticket_id, row.field


def run_view(run: RunRow, rows: Sequence[ChangeRow], plan_json: str | None) -> RunView:
    """The page of one run (see the module docstring)."""
    plan = read_plan(plan_json)
    written = {_journal_key(row): row for row in rows}
    lines: list[ChangeLine] = []
    seen: set[tuple[int, str]] = set()
    for change in plan.changes if plan else ():
        for line in change_lines(change):
            row = written.get((line.ticket_id, line.field))
            if row is not None:
                seen.add(_journal_key(row))
                line = _with_outcome(line, row)
            elif rows:
                line = dataclasses.replace(line, state="not written")
            lines.append(line)
    for key, row in written.items():  # rows the plan does not show (or no plan)
        if key not in seen:
            lines.append(
                ChangeLine(
                    row.ticket_id,
                    "",
                    "",
                    clean_text(row.label),
                    show_value(row.before),
                    show_value(row.after),
                    row.state,
                    "",
                    clean_text(row.message or ""),
                )
            )
    return RunView(run, plan, lines, run_log(run, plan, rows))


def _with_outcome(line: ChangeLine, row: ChangeRow) -> ChangeLine:
    message = clean_text(row.message or "")
    if row.action_ids:
        message = f"{message} action {', '.join(map(str, row.action_ids))}".strip()
    return dataclasses.replace(line, state=row.state, message=message)


def run_log(run: RunRow, plan: Plan | None, rows: Sequence[ChangeRow]) -> list[LogLine]:
    """What the journal says happened in the run, in the order it happened."""
    out = [
        LogLine(
            "info",
            f"started {when(run.started_at)} by {clean_text(run.started_by)} ({run.trigger})",
        )
    ]
    if plan is not None:
        out.append(
            LogLine(
                "info",
                f"planned: scanned {plan.scanned}, matched {plan.matched}, "
                f"{len(plan.changes)} ticket change(s)",
            )
        )
        out += [LogLine("info", line) for line in group_lines(plan)]  # duplicate groups
        out += [LogLine("warning", clean_text(w)) for w in plan.warnings]
        out += [
            LogLine("warning", f"ticket {n.ticket_id} not evaluated: {clean_text(n.why)}")
            for n in plan.not_evaluated[:50]
        ]
    for row in rows:
        if row.state in ("failed", "skipped") and row.message:
            level = "error" if row.state == "failed" else "warning"
            out.append(
                LogLine(
                    level,
                    f"ticket {row.ticket_id} {clean_text(row.label)} "
                    f"{row.state}: {clean_text(row.message)}",
                )
            )
    if run.message:
        out.append(LogLine("error" if run.status == "failed" else "info", clean_text(run.message)))
    if run.finished_at is not None:
        out.append(LogLine("info", f"finished {when(run.finished_at)}: {run.status}"))
    return out


@dataclass(frozen=True)
class Page:
    """One page of a longer list: its number (from 1), size and the total count."""

    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.last

    @classmethod
    def of(cls, text: str | None, size: int, total: int) -> Page:
        """Page ``text`` (a query parameter) of ``total`` items, clamped to the pages there are."""
        number = int(text) if text and text.isdigit() else 1
        last = max(1, -(-total // size))
        return cls(min(max(number, 1), last), size, total)
